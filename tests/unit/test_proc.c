/* test_proc.c - children from proc_spawn / proc_pty_spawn, observed from the outside:
 * exit codes and output order, exec failures reported through on_start, the asynchronous
 * start (writes held until it, many spawns at once, release and terminate while starting,
 * shutdown with starts in flight), the child's
 * session and signal state, the central reaper (orphans re-parented to us are reaped, no
 * zombie stays), the session walk, spawns refused once shutdown began, the write-callback
 * contract around exit and release, and jobs (proc_job: captures, caps, tails, timeout,
 * cancel, detach, spawn errors, env, cwd and input).
 *
 * The test binary plays the server: it calls proc_init (child subreaper) and runs the
 * default loop until a condition holds. Waits are bounded but never asserted on time. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "proc/internal.h" /* proc_reaper_dispatch: to play the reaper winning a race */
#include "proc/proc.h"
#include "unit.h"

/* What one child reported. Owner: the scenario's stack. */
typedef struct run_result {
    base_buf out, err;
    int starts;                   /* on_start calls */
    int start_err;                /* its error */
    int start_seq, exit_seq, seq; /* order of on_start and on_exit */
    bool out_before_start;        /* output arrived before on_start */
    bool exited;
    int code, sig;
    bool out_done_at_exit; /* the output was complete when on_exit ran */
    const char *want_out;
} run_result;

static void on_out(proc_child *c, const char *d, size_t n, void *ud) {
    run_result *r = ud;
    r->out_before_start |= r->starts == 0;
    base_buf_append(&r->out, d, n);
}

static void on_err(proc_child *c, const char *d, size_t n, void *ud) {
    run_result *r = ud;
    r->out_before_start |= r->starts == 0;
    base_buf_append(&r->err, d, n);
}

static void on_start_cb(proc_child *c, int err, void *ud) {
    run_result *r = ud;
    r->starts++;
    r->start_err = err;
    r->start_seq = ++r->seq;
}

static void on_exit_cb(proc_child *c, int code, int sig, void *ud) {
    run_result *r = ud;
    r->exit_seq = ++r->seq;
    r->exited = true;
    r->code = code;
    r->sig = sig;
    if (r->want_out)
        r->out_done_at_exit =
            r->out.len == strlen(r->want_out) && !memcmp(r->out.data, r->want_out, r->out.len);
}

static const proc_callbacks cbs = {
    .on_stdout = on_out, .on_stderr = on_err, .on_exit = on_exit_cb, .on_start = on_start_cb};

static void tick_cb(uv_timer_t *t) {
    uv_stop(t->loop);
}

/* Runs the loop in 10 ms steps until cond(ud) or about max_ms passed; returns cond(ud). */
static bool spin_until(bool (*cond)(void *), void *ud, int max_ms) {
    uv_timer_t t;
    uv_timer_init(uv_default_loop(), &t);
    for (int waited = 0; !cond(ud) && waited < max_ms; waited += 10) {
        uv_timer_start(&t, tick_cb, 10, 0);
        uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    return cond(ud);
}

static bool has_exited(void *ud) {
    return ((run_result *)ud)->exited;
}

static bool has_started(void *ud) {
    return ((run_result *)ud)->starts > 0;
}

static void result_init(run_result *r) {
    memset(r, 0, sizeof *r);
    base_buf_init(&r->out);
    base_buf_init(&r->err);
}

static void result_free(run_result *r) {
    base_buf_free(&r->out);
    base_buf_free(&r->err);
}

/* Spawns argv (PATH search for argv[0]) without waiting for the start. */
static proc_child *spawn_async(char **argv, char **env, const char *cwd, run_result *r) {
    proc_spawn_opts o = {
        .file = argv[0], .args = argv, .env = env, .cwd = cwd, .die_with_server = true};
    return proc_spawn(uv_default_loop(), &o, &cbs, r);
}

/* Spawns argv and waits for on_start; NULL on failure with *err set (the failed child
 * released), checking that on_start came once, later than proc_spawn returned. */
static proc_child *spawn(char **argv, char **env, const char *cwd, run_result *r, int *err) {
    proc_child *c = spawn_async(argv, env, cwd, r);
    CHECK(c != NULL && r->starts == 0); /* never from inside proc_spawn */
    CHECK(spin_until(has_started, r, 20000));
    CHECK(r->starts == 1);
    *err = r->start_err;
    if (r->start_err == 0)
        return c;
    CHECK(proc_exited(c) && proc_pid(c) == 0);
    proc_release(c);
    return NULL;
}

/* Runs sh -c script to its end; the result's output is NUL-terminated. */
static void run_sh(const char *script, run_result *r) {
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    int err;
    result_init(r);
    proc_child *c = spawn(argv, NULL, NULL, r, &err);
    CHECK(c != NULL);
    if (!c)
        return;
    proc_close_stdin(c);
    CHECK(spin_until(has_exited, r, 20000));
    proc_release(c);
    base_buf_append(&r->out, "", 1);
    r->out.len--;
}

/* Zombie children of this process, from /proc/<pid>/stat ("pid (comm) state ppid ..."). */
static int zombie_children(void) {
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = e->d_name[0] >= '0' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && state == 'Z' &&
            ppid == (int)getpid())
            n++;
    }
    closedir(d);
    return n;
}

static bool pid_gone(void *ud) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", *(int *)ud);
    struct stat st;
    return stat(path, &st) != 0;
}

static bool no_zombies(void *ud) {
    return zombie_children() == 0;
}

/* ---- scenarios ------------------------------------------------------------------------------ */

static void test_exit_and_output(void) {
    run_result r;
    result_init(&r);
    r.want_out = "out\n";
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    int err;
    proc_child *c = spawn(argv, NULL, NULL, &r, &err);
    CHECK(c != NULL && err == 0);
    CHECK(c && proc_pid(c) > 0);
    CHECK(spin_until(has_exited, &r, 20000));
    CHECK(r.code == 3 && r.sig == 0);
    CHECK(r.out_done_at_exit);
    CHECK(r.err.len == 4 && !memcmp(r.err.data, "err\n", 4));
    proc_release(c);
    result_free(&r);

    run_sh("kill -9 $$", &r);
    CHECK(r.code == -1 && r.sig == SIGKILL);
    result_free(&r);

    /* A child keeps the loop alive until it was reaped, even after its pipes closed: a
     * plain uv_run returns only after on_exit. */
    result_init(&r);
    char *t[] = {"true", NULL};
    c = spawn(t, NULL, NULL, &r, &err);
    CHECK(c != NULL);
    proc_close_stdin(c);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    CHECK(r.exited && r.code == 0);
    proc_release(c);
    result_free(&r);
}

static bool has_output(void *ud) {
    return ((run_result *)ud)->out.len > 0;
}

static bool never(void *ud) {
    return false;
}

/* A paused stdout is not read, and a resumed one delivers what waited in the pipe; the exit
 * waits for the output. */
static void test_pause_stdout(void) {
    run_result r;
    result_init(&r);
    char *argv[] = {"sh", "-c", "read x; echo out; read y; echo bye", NULL};
    int err;
    proc_child *c = spawn(argv, NULL, NULL, &r, &err);
    CHECK(c != NULL && err == 0);
    proc_pause_stdout(c, true);
    CHECK(proc_write(c, "go\n", 3, NULL, NULL) == 0);
    spin_until(never, NULL, 100); /* time for output that must not come */
    CHECK(r.out.len == 0);
    proc_pause_stdout(c, false);
    CHECK(spin_until(has_output, &r, 20000));
    CHECK(r.out.len == 4 && !memcmp(r.out.data, "out\n", 4));
    proc_pause_stdout(c, true);
    proc_close_stdin(c); /* read gets EOF: "bye", then the exit */
    spin_until(never, NULL, 100);
    CHECK(!r.exited && r.out.len == 4);
    proc_pause_stdout(c, false);
    CHECK(spin_until(has_exited, &r, 20000));
    CHECK(r.code == 0 && r.out.len == 8 && !memcmp(r.out.data, "out\nbye\n", 8));
    proc_release(c);
    result_free(&r);
}

static void check_spawn_error(char **argv, char **env, const char *cwd, int want) {
    run_result r;
    result_init(&r);
    int err = 0;
    size_t live = proc_live_count();
    proc_child *c = spawn(argv, env, cwd, &r, &err);
    CHECK(c == NULL);
    /* Nothing follows a failed start, even after more loop turns. */
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    CHECK(!r.exited && r.starts == 1 && r.out.len == 0);
    if (err != want)
        fprintf(stderr, "%s: spawn %s (cwd %s): error %d, want %d\n", __FILE__, argv[0],
                cwd ? cwd : "-", err, want);
    CHECK(err == want);
    CHECK(proc_live_count() == live);
    result_free(&r);
}

static void test_exec_errors(void) {
    char *missing[] = {"definitely-not-a-command-xyz", NULL};
    check_spawn_error(missing, NULL, NULL, UV_ENOENT);
    char *not_exec[] = {"/etc/passwd", NULL};
    check_spawn_error(not_exec, NULL, NULL, UV_EACCES);
    char *dir[] = {"/tmp", NULL};
    check_spawn_error(dir, NULL, NULL, UV_EACCES);
    char *t[] = {"true", NULL};
    check_spawn_error(t, NULL, "/nonexistent-dir-xyz", UV_ENOENT);
    check_spawn_error(t, NULL, "", UV_ENOENT);
    check_spawn_error(t, NULL, "/etc/passwd", UV_ENOTDIR);
    /* The PATH searched is the child's environment's. */
    char *env[] = {"PATH=/nonexistent-dir-xyz", NULL};
    check_spawn_error(t, env, NULL, UV_ENOENT);
    /* Failed children were reaped by the spawn itself. */
    CHECK(zombie_children() == 0);
    /* A relative command runs from cwd, like exec after chdir. */
    run_result r;
    result_init(&r);
    char *rel[] = {"./true", NULL};
    int err;
    proc_child *c = spawn(rel, NULL, "/bin", &r, &err);
    CHECK(c != NULL);
    CHECK(spin_until(has_exited, &r, 20000) && r.code == 0);
    proc_release(c);
    result_free(&r);
}

/* The kernel's struct sigaction, for signal 33, which glibc's sigaction refuses. */
typedef struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
} kernel_sigaction;

/* The child leads its own session and group, blocks and ignores no signal, even though
 * this process ignores SIGPIPE and glibc's internal signal 33 (which a server may inherit
 * ignored from whoever started it). */
static void test_child_state(void) {
    signal(SIGPIPE, SIG_IGN);
    kernel_sigaction ign = {.handler = SIG_IGN}, old33;
    CHECK(syscall(SYS_rt_sigaction, 33, &ign, &old33, sizeof ign.mask) == 0);
    run_result r;
    run_sh("exec grep -E '^Sig(Blk|Ign)' /proc/self/status", &r);
    CHECK(r.code == 0);
    const char *clean = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n";
    if (strcmp(r.out.data, clean) != 0)
        fprintf(stderr, "%s: child signal state:\n%s", __FILE__, r.out.data);
    CHECK_STR(r.out.data, clean);
    result_free(&r);
    run_sh("read pid comm state ppid pgrp sid rest < /proc/self/stat; "
           "[ \"$pid\" = \"$pgrp\" ] && [ \"$pid\" = \"$sid\" ] && echo leader",
           &r);
    CHECK_STR(r.out.data, "leader\n");
    result_free(&r);
    signal(SIGPIPE, SIG_DFL);
    syscall(SYS_rt_sigaction, 33, &old33, NULL, sizeof old33.mask);
}

/* A grandchild left in the group is killed when its leader is done; one that escaped into a
 * session of its own re-parents to us: both end reaped, not as zombies. */
static void test_orphans_reaped(void) {
    run_result r;
    /* The script waits until the escapee has its own session (field 6 of its stat), so
     * that the group kill after the leader's exit cannot catch it half-way. */
    run_sh("sleep 1000 >/dev/null 2>&1 & setsid sleep 1001 </dev/null >/dev/null 2>&1 & "
           "e=$!; while [ \"$(cut -d' ' -f6 /proc/$e/stat)\" = $$ ]; do sleep 0.01; done; "
           "echo $e",
           &r);
    CHECK(r.code == 0);
    int escaped = atoi(r.out.data);
    CHECK(escaped > 0);
    result_free(&r);
    /* The escaped one lives on as our child (we are the subreaper); end it ourselves. */
    if (escaped > 0) {
        CHECK(!pid_gone(&escaped));
        kill(escaped, SIGKILL);
        CHECK(spin_until(pid_gone, &escaped, 20000));
    }
    CHECK(spin_until(no_zombies, NULL, 20000));
}

/* proc_signal_session reaches a job in another group of the session after its leader
 * exited (the job re-parented to us). */
static void test_session_walk(void) {
    run_result r;
    /* (dash has no job control without a terminal: perl leaves the group instead.) */
    run_sh("perl -e 'setpgrp(0, 0); exec \"sleep\", \"1002\"' </dev/null >/dev/null 2>&1 & "
           "j=$!; while [ \"$(cut -d' ' -f5 /proc/$j/stat)\" = $$ ]; do sleep 0.01; done; "
           "echo $$ $j",
           &r);
    CHECK(r.code == 0);
    int sid = 0, job = 0;
    CHECK(sscanf(r.out.data, "%d %d", &sid, &job) == 2);
    result_free(&r);
    if (job <= 0)
        return;
    CHECK(!pid_gone(&job));
    proc_signal_session(sid, SIGKILL);
    CHECK(spin_until(pid_gone, &job, 20000));
    CHECK(spin_until(no_zombies, NULL, 20000));
}

static void on_pty_output(proc_pty *p, const char *d, size_t n, void *ud) {}

static void on_pty_exit(proc_pty *p, int code, int sig, void *ud) {
    run_result *r = ud;
    r->exited = true;
    r->code = code;
    r->sig = sig;
}

static void on_pty_start(proc_pty *p, int err, void *ud) {
    run_result *r = ud;
    r->starts++;
    r->start_err = err;
}

static const proc_pty_callbacks pty_cbs = {
    .on_output = on_pty_output, .on_exit = on_pty_exit, .on_start = on_pty_start};

static proc_pty *pty_spawn_async(char **argv, const char *cwd, run_result *r) {
    proc_pty_opts o = {
        .file = argv[0], .args = argv, .cwd = cwd, .cols = 80, .rows = 24, .die_with_server = true};
    r->starts = 0;
    return proc_pty_spawn(uv_default_loop(), &o, &pty_cbs, r);
}

/* As spawn(), for a PTY child. */
static proc_pty *pty_spawn(char **argv, const char *cwd, run_result *r, int *err) {
    proc_pty *p = pty_spawn_async(argv, cwd, r);
    CHECK(p != NULL && r->starts == 0);
    CHECK(spin_until(has_started, r, 20000));
    CHECK(r->starts == 1);
    *err = r->start_err;
    if (r->start_err == 0)
        return p;
    CHECK(proc_pty_exited(p) && proc_pty_pid(p) == 0);
    proc_pty_release(p);
    return NULL;
}

static void test_pty(void) {
    run_result r;
    result_init(&r);
    char *exit5[] = {"sh", "-c", "exit 5", NULL};
    int err;
    proc_pty *p = pty_spawn(exit5, NULL, &r, &err);
    CHECK(p != NULL);
    CHECK(spin_until(has_exited, &r, 20000) && r.code == 5);
    proc_pty_release(p);
    char *missing[] = {"definitely-not-a-command-xyz", NULL};
    CHECK(pty_spawn(missing, NULL, &r, &err) == NULL && err == UV_ENOENT);
    char *t[] = {"true", NULL};
    CHECK(pty_spawn(t, "/etc/passwd", &r, &err) == NULL && err == UV_ENOTDIR);
    result_free(&r);
}

static void shutdown_done(void *ud) {
    *(bool *)ud = true;
}

static bool flag_set(void *ud) {
    return *(bool *)ud;
}

/* Once shutdown began, spawns are refused: a child started then would never be signalled. */
static void test_spawn_after_shutdown(void) {
    run_result r;
    result_init(&r);
    char *sleeper[] = {"sleep", "1003", NULL};
    int err;
    proc_child *c = spawn(sleeper, NULL, NULL, &r, &err);
    CHECK(c != NULL);
    bool done = false;
    proc_shutdown_all(uv_default_loop(), 5000, shutdown_done, &done);

    run_result late;
    result_init(&late);
    char *t[] = {"true", NULL};
    CHECK(spawn(t, NULL, NULL, &late, &err) == NULL && err == UV_ECANCELED);
    CHECK(pty_spawn(t, NULL, &late, &err) == NULL && err == UV_ECANCELED);
    result_free(&late);

    CHECK(spin_until(flag_set, &done, 20000));
    CHECK(r.exited && r.sig == SIGTERM);
    CHECK(proc_live_count() == 0);
    proc_release(c);
    result_free(&r);

    /* A new proc_init (a new server life) accepts children again. */
    proc_init(uv_default_loop());
    run_sh("true", &r);
    CHECK(r.exited && r.code == 0);
    result_free(&r);
}

/* ---- writes: done before on_exit, never after release ---------------------------------------- */

/* What a write and its child reported, in order. Owner: the scenario's stack. */
typedef struct write_probe {
    int seq;         /* events so far */
    int done_calls;  /* times done ran */
    int done_status; /* its last status */
    int done_seq;    /* when it ran */
    int exit_seq;    /* when on_exit ran (0: not yet) */
} write_probe;

static void probe_done(int status, void *ud) {
    write_probe *w = ud;
    w->done_calls++;
    w->done_status = status;
    w->done_seq = ++w->seq;
}

static void probe_exit(proc_child *c, int code, int sig, void *ud) {
    write_probe *w = ud;
    w->exit_seq = ++w->seq;
}

static void probe_pty_exit(proc_pty *p, int code, int sig, void *ud) {
    write_probe *w = ud;
    w->exit_seq = ++w->seq;
}

static const proc_callbacks probe_cbs = {.on_exit = probe_exit};

static bool probe_exited(void *ud) {
    return ((write_probe *)ud)->exit_seq != 0;
}

static size_t live_baseline;

static bool live_back_to_baseline(void *ud) {
    return proc_live_count() == live_baseline;
}

/* More than any pipe or PTY buffer holds: the write stays pending while nobody reads. */
#define BIG_WRITE (1 << 20)

static void test_write_contract(void) {
    signal(SIGPIPE, SIG_IGN);
    char *big = calloc(1, BIG_WRITE);

    /* The leader exits at once; a grandchild holds stdin without reading, so the write is
     * still pending when the child is done: it fails, before on_exit. */
    write_probe w = {0};
    /* (sh gives a background job /dev/null as stdin unless redirected from a saved fd.) */
    char *holder[] = {"sh", "-c", "exec 3<&0; sleep 1004 <&3 >/dev/null 2>&1 3<&- & exit 0", NULL};
    proc_spawn_opts o = {.file = "sh", .args = holder, .die_with_server = true};
    proc_child *c = proc_spawn(uv_default_loop(), &o, &probe_cbs, &w);
    CHECK(c != NULL);
    if (c) {
        CHECK(proc_write(c, big, BIG_WRITE, probe_done, &w) == 0);
        CHECK(spin_until(probe_exited, &w, 20000));
        CHECK(w.done_calls == 1);
        if (w.done_status != UV_ECANCELED)
            fprintf(stderr, "%s: pending write ended with %s\n", __FILE__,
                    uv_err_name(w.done_status));
        CHECK(w.done_status == UV_ECANCELED);
        CHECK(w.done_seq != 0 && w.done_seq < w.exit_seq);
        proc_release(c);
        /* Nothing more arrives later (libuv's own cancellation in the close phase). */
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
        CHECK(w.done_calls == 1);
    }

    /* Released with the write pending: done never runs, although the stdin close that the
     * release causes makes libuv cancel the write. */
    live_baseline = proc_live_count();
    write_probe r = {0};
    char *sleeper[] = {"sleep", "1005", NULL};
    proc_spawn_opts so = {.file = "sleep", .args = sleeper, .die_with_server = true};
    c = proc_spawn(uv_default_loop(), &so, &probe_cbs, &r);
    CHECK(c != NULL);
    if (c) {
        CHECK(proc_write(c, big, BIG_WRITE, probe_done, &r) == 0);
        proc_release(c);
        CHECK(spin_until(live_back_to_baseline, NULL, 20000));
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
        CHECK(r.done_calls == 0);
        CHECK(r.exit_seq == 0);
    }

    /* The same for a PTY child, which never reads its terminal. */
    write_probe t = {0};
    static const proc_pty_callbacks probe_pty_cbs = {.on_exit = probe_pty_exit};
    proc_pty_opts po = {
        .file = "sleep", .args = sleeper, .cols = 80, .rows = 24, .die_with_server = true};
    proc_pty *p = proc_pty_spawn(uv_default_loop(), &po, &probe_pty_cbs, &t);
    CHECK(p != NULL);
    if (p) {
        CHECK(proc_pty_write(p, big, BIG_WRITE, probe_done, &t) == 0);
        proc_pty_release(p);
        CHECK(spin_until(live_back_to_baseline, NULL, 20000));
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
        CHECK(t.done_calls == 0);
        CHECK(t.exit_seq == 0);
    }

    /* A write that completes is reported once, with 0. */
    write_probe ok = {0};
    char *cat[] = {"cat", NULL};
    proc_spawn_opts co = {.file = "cat", .args = cat, .die_with_server = true};
    c = proc_spawn(uv_default_loop(), &co, &probe_cbs, &ok);
    CHECK(c != NULL);
    if (c) {
        CHECK(proc_write(c, "hi\n", 3, probe_done, &ok) == 0);
        proc_close_stdin(c);
        CHECK(spin_until(probe_exited, &ok, 20000));
        CHECK(ok.done_calls == 1 && ok.done_status == 0 && ok.done_seq < ok.exit_seq);
        proc_release(c);
    }
    free(big);
    signal(SIGPIPE, SIG_DFL);
}

/* stderr into the stdout pipe: one stream, in the child's order. */
static void test_merge_stderr(void) {
    run_result r;
    result_init(&r);
    char *argv[] = {"sh", "-c", "echo 1; echo 2 >&2; echo 3; echo 4 >&2", NULL};
    proc_spawn_opts o = {.file = "sh", .args = argv, .die_with_server = true, .merge_stderr = true};
    proc_child *c = proc_spawn(uv_default_loop(), &o, &cbs, &r);
    CHECK(c != NULL);
    if (c) {
        proc_close_stdin(c);
        CHECK(spin_until(has_exited, &r, 20000) && r.code == 0);
        CHECK(r.out.len == 8 && !memcmp(r.out.data, "1\n2\n3\n4\n", 8));
        CHECK(r.err.len == 0);
        proc_release(c);
    }
    result_free(&r);
}

/* ---- the asynchronous start ------------------------------------------------------------------ */

/* One write's outcome, with the child's own order of events. Owner: the scenario's stack. */
typedef struct start_write {
    run_result *r;
    int calls, status, seq;
} start_write;

static void start_write_done(int status, void *ud) {
    start_write *w = ud;
    w->calls++;
    w->status = status;
    w->seq = ++w->r->seq;
}

static bool all_exited(void *ud) {
    run_result *rs = ud;
    for (int i = 0; i < 64; i++)
        if (!rs[i].exited)
            return false;
    return true;
}

static void test_async_start(void) {
    /* Written and closed before the child even exists: delivered in order, and done comes
     * after on_start. */
    run_result r;
    result_init(&r);
    r.want_out = "hello world\n";
    char *cat[] = {"cat", NULL};
    proc_child *c = spawn_async(cat, NULL, NULL, &r);
    CHECK(proc_pid(c) == 0 && !proc_exited(c));
    start_write w1 = {&r, 0, 0, 0}, w2 = {&r, 0, 0, 0};
    CHECK(proc_write(c, "hello ", 6, start_write_done, &w1) == 0);
    CHECK(proc_write(c, "world\n", 6, start_write_done, &w2) == 0);
    proc_close_stdin(c);
    CHECK(proc_write(c, "late", 4, start_write_done, &w2) == UV_EPIPE);
    CHECK(r.starts == 0 && w1.calls == 0);
    CHECK(spin_until(has_exited, &r, 20000));
    CHECK(r.starts == 1 && r.start_err == 0 && r.code == 0);
    CHECK(r.out_done_at_exit);
    CHECK(w1.calls == 1 && w1.status == 0 && w2.calls == 1 && w2.status == 0);
    CHECK(r.start_seq == 1 && w1.seq > r.start_seq && w2.seq > w1.seq && r.exit_seq > w2.seq);
    CHECK(!r.out_before_start);
    proc_release(c);
    result_free(&r);

    /* A write made while a start fails: on_start(err) first, then the write fails. */
    result_init(&r);
    char *missing[] = {"definitely-not-a-command-xyz", NULL};
    c = spawn_async(missing, NULL, NULL, &r);
    start_write wf = {&r, 0, 0, 0};
    CHECK(proc_write(c, "x", 1, start_write_done, &wf) == 0);
    CHECK(spin_until(has_started, &r, 20000));
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    CHECK(r.start_err == UV_ENOENT && !r.exited);
    CHECK(wf.calls == 1 && wf.status == UV_ECANCELED && wf.seq > r.start_seq);
    CHECK(proc_exited(c) && proc_write(c, "y", 1, NULL, NULL) != 0);
    proc_release(c);
    result_free(&r);

    /* Many at once: each starts once, with its own pid, and ends with its own output. Quick
     * children may be reaped before the loop hears of their start. */
    run_result rs[64];
    proc_child *cs[64];
    char args[64][16];
    for (int i = 0; i < 64; i++) {
        result_init(&rs[i]);
        snprintf(args[i], sizeof args[i], "%d", i);
        char *argv[] = {"sh", "-c", "echo $1", "sh", args[i], NULL};
        cs[i] = spawn_async(i % 2 ? argv : (char *[]){"echo", args[i], NULL}, NULL, NULL, &rs[i]);
        proc_close_stdin(cs[i]);
    }
    CHECK(spin_until(all_exited, rs, 60000));
    for (int i = 0; i < 64; i++) {
        char want[20];
        snprintf(want, sizeof want, "%d\n", i);
        CHECK(rs[i].starts == 1 && rs[i].start_err == 0 && rs[i].code == 0);
        CHECK(rs[i].start_seq == 1 && rs[i].exit_seq == 2 && !rs[i].out_before_start);
        CHECK(rs[i].out.len == strlen(want) && !memcmp(rs[i].out.data, want, strlen(want)));
        for (int k = 0; k < i; k++)
            CHECK(proc_pid(cs[k]) != proc_pid(cs[i]));
    }
    for (int i = 0; i < 64; i++) {
        proc_release(cs[i]);
        result_free(&rs[i]);
    }
    CHECK(spin_until(no_zombies, NULL, 20000));

    /* Terminated while starting: it runs, then gets TERM. */
    result_init(&r);
    char *sleeper[] = {"sleep", "1010", NULL};
    c = spawn_async(sleeper, NULL, NULL, &r);
    proc_terminate(c, 0, 20000);
    CHECK(spin_until(has_exited, &r, 20000));
    CHECK(r.starts == 1 && r.start_err == 0 && r.sig == SIGTERM);
    proc_release(c);
    result_free(&r);

    /* Released while starting: no callback at all, and the child does not stay. */
    live_baseline = proc_live_count();
    result_init(&r);
    c = spawn_async(sleeper, NULL, NULL, &r);
    proc_release(c);
    CHECK(spin_until(live_back_to_baseline, NULL, 20000));
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    CHECK(r.starts == 0 && !r.exited);
    CHECK(spin_until(no_zombies, NULL, 20000));
    result_free(&r);
}

/* The reaper may take a child's status before the loop heard that it started (it exec'd
 * and exited while the outcome was queued): the status is kept and reported after
 * on_start. The test plays that reaper: without running the loop, it waits for the child
 * to end and reaps it as proc.c's SIGCHLD watcher would. */
static void test_reaped_before_start(void) {
    CHECK(spin_until(no_zombies, NULL, 20000));
    run_result r;
    result_init(&r);
    char *argv[] = {"sh", "-c", "exit 4", NULL};
    proc_child *c = spawn_async(argv, NULL, NULL, &r);
    proc_close_stdin(c);
    pid_t pid = 0;
    int st = 0;
    for (int i = 0; i < 20000 && pid <= 0; i++) {
        pid = waitpid(-1, &st, WNOHANG);
        if (pid == 0)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    CHECK(pid > 0 && r.starts == 0);
    if (pid > 0)
        proc_reaper_dispatch(pid, st);
    CHECK(spin_until(has_exited, &r, 20000));
    CHECK(r.starts == 1 && r.start_err == 0 && proc_pid(c) == pid);
    CHECK(r.start_seq == 1 && r.exit_seq == 2 && r.code == 4);
    proc_release(c);
    result_free(&r);
}

/* Shutdown while starts are in flight (the loop has not heard of any yet): each is stopped
 * once it runs, shutdown completes only after them, and a later spawn is refused. */
static void test_shutdown_in_flight(void) {
    enum { N = 8 };
    run_result rs[N], pr;
    proc_child *cs[N];
    char *sleeper[] = {"sleep", "1011", NULL};
    for (int i = 0; i < N; i++) {
        result_init(&rs[i]);
        cs[i] = spawn_async(sleeper, NULL, NULL, &rs[i]);
    }
    result_init(&pr);
    pr.code = -2;
    proc_pty *p = pty_spawn_async(sleeper, NULL, &pr);
    bool done = false;
    proc_shutdown_all(uv_default_loop(), 20000, shutdown_done, &done);
    CHECK(!done);
    run_result late;
    result_init(&late);
    proc_child *lc = spawn_async(sleeper, NULL, NULL, &late);
    CHECK(spin_until(flag_set, &done, 20000));
    for (int i = 0; i < N; i++) {
        CHECK(rs[i].starts == 1 && rs[i].start_err == 0);
        CHECK(rs[i].exited && rs[i].sig == SIGTERM);
        proc_release(cs[i]);
        result_free(&rs[i]);
    }
    CHECK(pr.starts == 1 && pr.start_err == 0 && pr.exited && pr.sig == SIGKILL);
    proc_pty_release(p);
    result_free(&pr);
    CHECK(spin_until(has_started, &late, 20000));
    CHECK(late.start_err == UV_ECANCELED && !late.exited);
    proc_release(lc);
    result_free(&late);
    CHECK(proc_live_count() == 0);
    CHECK(spin_until(no_zombies, NULL, 20000));
    proc_init(uv_default_loop());
}

/* ---- jobs ------------------------------------------------------------------------------------ */

/* A job's result, copied out of the callback. Owner: the scenario's stack. */
typedef struct job_seen {
    int calls;
    proc_job_result r; /* out/err point into the copies below */
    char *out, *err;
} job_seen;

static void job_done(const proc_job_result *r, void *ud) {
    job_seen *s = ud;
    s->calls++;
    s->r = *r;
    free(s->out);
    free(s->err);
    s->out = malloc(r->out_len + 1);
    memcpy(s->out, r->out, r->out_len + 1); /* the NUL included: it must be there */
    s->err = malloc(r->err_len + 1);
    memcpy(s->err, r->err, r->err_len + 1);
}

static bool job_called(void *ud) {
    return ((job_seen *)ud)->calls > 0;
}

static bool job_started(void *ud) {
    return proc_job_pid(ud) > 0;
}

static void job_seen_free(job_seen *s) {
    free(s->out);
    free(s->err);
    memset(s, 0, sizeof *s);
}

/* Runs opts to its end; CHECKs that done came from the loop, exactly once. */
static void job_run(proc_job_opts *o, job_seen *s) {
    memset(s, 0, sizeof *s);
    proc_job *j = proc_job_run(uv_default_loop(), o, job_done, s);
    CHECK(j != NULL);
    CHECK(s->calls == 0); /* never from inside proc_job_run */
    CHECK(spin_until(job_called, s, 20000));
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    CHECK(s->calls == 1);
}

static void test_job_capture(void) {
    job_seen s;
    char *a[] = {"sh", "-c", "printf out; printf err >&2; exit 7", NULL};
    proc_job_opts o = {.args = a, .out_cap = 100, .err_cap = 100};
    job_run(&o, &s);
    CHECK(s.r.spawn_error == 0 && s.r.pid > 0);
    CHECK(s.r.exit_code == 7 && s.r.term_signal == 0);
    CHECK(!s.r.timed_out && !s.r.cancelled);
    CHECK_STR(s.out, "out");
    CHECK_STR(s.err, "err");
    CHECK(s.r.out_len == 3 && s.r.err_len == 3);
    CHECK(!s.r.out_truncated && !s.r.err_truncated);
    job_seen_free(&s);

    /* Caps keep the first bytes; the rest is drained (the child finishes) and flagged. */
    char *big[] = {"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; printf xyz >&2", NULL};
    proc_job_opts c = {.args = big, .out_cap = 10, .err_cap = 2};
    job_run(&c, &s);
    CHECK(s.r.exit_code == 0);
    CHECK_STR(s.out, "aaaaaaaaaa");
    CHECK_STR(s.err, "xy");
    CHECK(s.r.out_truncated && s.r.err_truncated);
    job_seen_free(&s);

    /* A cap of 0 keeps nothing, and says so only when there was output. */
    char *some[] = {"sh", "-c", "echo x", NULL};
    proc_job_opts z = {.args = some};
    job_run(&z, &s);
    CHECK(s.r.out_len == 0 && s.r.out_truncated && !s.r.err_truncated);
    CHECK_STR(s.out, "");
    job_seen_free(&s);

    /* Output exactly at the cap is not truncated. */
    proc_job_opts e = {.args = some, .out_cap = 2};
    job_run(&e, &s);
    CHECK_STR(s.out, "x\n");
    CHECK(!s.r.out_truncated);
    job_seen_free(&s);
}

static void test_job_tail(void) {
    job_seen s;
    /* Merged and tailed: the last bytes, stderr in its place after stdout. */
    char *lines[] = {"sh", "-c",
                     "i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done; echo LAST >&2",
                     NULL};
    proc_job_opts o = {.args = lines, .out_cap = 16, .merge_output = true, .keep_tail = true};
    job_run(&o, &s);
    CHECK(s.r.exit_code == 0);
    CHECK_STR(s.out, "8\nline2999\nLAST\n");
    CHECK(s.r.out_truncated);
    CHECK(s.r.err_len == 0 && !s.r.err_truncated);
    job_seen_free(&s);

    /* One chunk larger than the tail. */
    char *big[] = {"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; printf END", NULL};
    proc_job_opts b = {.args = big, .out_cap = 5, .err_cap = 5, .keep_tail = true};
    job_run(&b, &s);
    CHECK_STR(s.out, "aaEND");
    CHECK(s.r.out_truncated);
    job_seen_free(&s);

    /* Less than the tail: all of it, not truncated. */
    char *small[] = {"sh", "-c", "printf abc; printf de >&2", NULL};
    proc_job_opts m = {.args = small, .out_cap = 5, .err_cap = 2, .keep_tail = true};
    job_run(&m, &s);
    CHECK_STR(s.out, "abc");
    CHECK_STR(s.err, "de");
    CHECK(!s.r.out_truncated && !s.r.err_truncated);
    job_seen_free(&s);
}

/* Runs o (a script that prints the pid of a descendant, then waits for it forever) until its
 * timeout; returns that pid. Under load the timeout may strike before the script printed:
 * then it runs again with a longer one (no time is asserted). */
static int job_tree_pid(proc_job_opts *o, job_seen *s) {
    for (uint64_t t = 100; t <= 25600; t *= 2) {
        o->timeout_ms = t;
        job_run(o, s);
        int pid = atoi(s->out);
        if (pid > 0)
            return pid;
        job_seen_free(s);
    }
    return 0;
}

/* The timeout stops the whole tree, here a grandchild the shell waits for, and the result
 * still arrives. */
static void test_job_timeout(void) {
    job_seen s;
    char *tree[] = {"sh", "-c", "sleep 1006 & echo $!; wait", NULL};
    proc_job_opts o = {.args = tree, .out_cap = 64};
    int grandchild = job_tree_pid(&o, &s);
    CHECK(grandchild > 0);
    CHECK(s.r.timed_out && !s.r.cancelled);
    CHECK(s.r.exit_code == -1 && s.r.term_signal == SIGKILL);
    if (grandchild > 0)
        CHECK(spin_until(pid_gone, &grandchild, 20000));
    job_seen_free(&s);

    /* With a grace, the group gets TERM first. */
    proc_job_opts g = {.args = tree, .out_cap = 64, .kill_grace_ms = 20000};
    grandchild = job_tree_pid(&g, &s);
    CHECK(grandchild > 0);
    CHECK(s.r.timed_out);
    CHECK(s.r.exit_code == -1 && s.r.term_signal == SIGTERM);
    if (grandchild > 0)
        CHECK(spin_until(pid_gone, &grandchild, 20000));
    job_seen_free(&s);

    /* A job in another group of the session, which no group signal reaches, goes too. */
    char *other[] = {"sh", "-c",
                     "perl -e 'setpgrp(0, 0); exec \"sleep\", \"1009\"' </dev/null >/dev/null "
                     "2>&1 & j=$!; while [ \"$(cut -d' ' -f5 /proc/$j/stat)\" = $$ ]; do sleep "
                     "0.01; done; echo $j; wait",
                     NULL};
    proc_job_opts p = {.args = other, .out_cap = 64, .kill_grace_ms = 20000};
    int job = job_tree_pid(&p, &s);
    CHECK(job > 0);
    CHECK(s.r.timed_out && s.r.term_signal == SIGTERM);
    if (job > 0)
        CHECK(spin_until(pid_gone, &job, 20000));
    job_seen_free(&s);

    /* A job that ends in time is not marked. */
    char *quick[] = {"true", NULL};
    proc_job_opts q = {.args = quick, .timeout_ms = 600000};
    job_run(&q, &s);
    CHECK(!s.r.timed_out && s.r.exit_code == 0);
    job_seen_free(&s);
}

static void test_job_cancel(void) {
    job_seen s;
    memset(&s, 0, sizeof s);
    char *sleeper[] = {"sleep", "1007", NULL};
    proc_job_opts o = {.args = sleeper};
    proc_job *j = proc_job_run(uv_default_loop(), &o, job_done, &s);
    CHECK(proc_job_pid(j) == 0); /* not started yet: the spawn is asynchronous */
    CHECK(spin_until(job_started, j, 20000));
    int pid = (int)proc_job_pid(j);
    CHECK(pid > 0);
    proc_job_cancel(j);
    CHECK(s.calls == 0); /* reported from the loop */
    CHECK(spin_until(job_called, &s, 20000));
    CHECK(s.calls == 1);
    CHECK(s.r.cancelled && !s.r.timed_out);
    CHECK(s.r.exit_code == -1 && s.r.term_signal == SIGKILL);
    CHECK(spin_until(pid_gone, &pid, 20000));
    job_seen_free(&s);

    /* Cancelled while starting: stopped as soon as it runs. */
    memset(&s, 0, sizeof s);
    j = proc_job_run(uv_default_loop(), &o, job_done, &s);
    proc_job_cancel(j);
    CHECK(spin_until(job_called, &s, 20000));
    CHECK(s.calls == 1 && s.r.cancelled && s.r.spawn_error == 0 && s.r.pid > 0);
    CHECK(s.r.exit_code == -1 && s.r.term_signal == SIGKILL);
    job_seen_free(&s);
}

static bool file_exists(void *ud) {
    struct stat st;
    return stat((const char *)ud, &st) == 0;
}

static void test_job_detach(void) {
    live_baseline = proc_live_count();
    /* Left to finish: the child does its work after the owner has gone. */
    char path[] = "/tmp/test_proc_detach_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    char *script = base_xasprintf("sleep 0.2; echo done > %s", path);
    char *writer[] = {"sh", "-c", script, NULL};
    job_seen s;
    memset(&s, 0, sizeof s);
    proc_job_opts o = {.args = writer, .timeout_ms = 600000};
    proc_job *j = proc_job_run(uv_default_loop(), &o, job_done, &s);
    proc_job_detach(j);
    CHECK(spin_until(file_exists, path, 20000));
    CHECK(spin_until(live_back_to_baseline, NULL, 20000));
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    CHECK(s.calls == 0);
    unlink(path);
    free(script);

    /* Cancel then detach: stopped now, still no callback. */
    char *sleeper[] = {"sleep", "1008", NULL};
    proc_job_opts k = {.args = sleeper};
    j = proc_job_run(uv_default_loop(), &k, job_done, &s);
    CHECK(spin_until(job_started, j, 20000));
    int pid = (int)proc_job_pid(j);
    proc_job_cancel(j);
    proc_job_detach(j);
    CHECK(pid > 0 && spin_until(pid_gone, &pid, 20000));
    CHECK(spin_until(live_back_to_baseline, NULL, 20000));
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    CHECK(s.calls == 0);

    /* A detached failed spawn: no callback, nothing left behind (ASan would see a leak). */
    char *missing[] = {"definitely-not-a-command-xyz", NULL};
    proc_job_opts m = {.args = missing};
    j = proc_job_run(uv_default_loop(), &m, job_done, &s);
    CHECK(proc_job_pid(j) == 0);
    proc_job_detach(j);
    CHECK(spin_until(live_back_to_baseline, NULL, 20000));
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    CHECK(s.calls == 0);
}

/* Spawn failures come through done, from the loop, with the errno of the exec or chdir. */
static void test_job_spawn_error(void) {
    job_seen s;
    char *missing[] = {"definitely-not-a-command-xyz", NULL};
    proc_job_opts o = {.args = missing, .out_cap = 10};
    job_run(&o, &s);
    CHECK(s.r.spawn_error == UV_ENOENT);
    CHECK(s.r.pid == 0 && s.r.exit_code == -1 && s.r.term_signal == 0);
    CHECK(s.r.out_len == 0 && !s.r.timed_out && !s.r.cancelled);
    job_seen_free(&s);

    char *t[] = {"true", NULL};
    proc_job_opts c = {.args = t, .cwd = "/etc/passwd"};
    job_run(&c, &s);
    CHECK(s.r.spawn_error == UV_ENOTDIR);
    job_seen_free(&s);

    /* file, when given, is what runs; args[0] is only the name the child sees. */
    char *named[] = {"whatever", "-c", "echo $0", NULL};
    proc_job_opts f = {.file = "sh", .args = named, .out_cap = 64};
    job_run(&f, &s);
    CHECK(s.r.spawn_error == 0);
    CHECK_STR(s.out, "whatever\n");
    job_seen_free(&s);
}

static void test_job_env_cwd_input(void) {
    job_seen s;
    char *a[] = {"sh", "-c", "printf '%s %s' \"$FOO\" \"$(pwd)\"", NULL};
    char *env[] = {"FOO=bar", "PATH=/usr/bin:/bin", NULL};
    proc_job_opts o = {.args = a, .env = env, .cwd = "/tmp", .out_cap = 100};
    job_run(&o, &s);
    CHECK_STR(s.out, "bar /tmp");
    job_seen_free(&s);

    /* Without input, stdin is at EOF at once. */
    char *cat[] = {"cat", NULL};
    proc_job_opts n = {.args = cat, .out_cap = 100, .timeout_ms = 600000};
    job_run(&n, &s);
    CHECK(s.r.exit_code == 0 && s.r.out_len == 0 && !s.r.timed_out);
    job_seen_free(&s);

    /* Input is written, then stdin closed (cat ends). */
    proc_job_opts i = {.args = cat, .input = "hello\n", .input_len = 6, .out_cap = 100};
    job_run(&i, &s);
    CHECK(s.r.exit_code == 0);
    CHECK_STR(s.out, "hello\n");
    job_seen_free(&s);

    /* Input the child never reads does not hold the job up. */
    signal(SIGPIPE, SIG_IGN);
    char *big = calloc(1, BIG_WRITE);
    char *t[] = {"true", NULL};
    proc_job_opts b = {.args = t, .input = big, .input_len = BIG_WRITE};
    job_run(&b, &s);
    CHECK(s.r.exit_code == 0);
    job_seen_free(&s);
    free(big);
    signal(SIGPIPE, SIG_DFL);
}

int main(void) {
    setenv("SANDBOX_AGENT_LOG", "warn", 1);
    base_log_init();
    proc_init(uv_default_loop());
    test_exit_and_output();
    test_pause_stdout();
    test_exec_errors();
    test_child_state();
    test_orphans_reaped();
    test_session_walk();
    test_pty();
    test_write_contract();
    test_merge_stderr();
    test_async_start();
    test_reaped_before_start();
    test_shutdown_in_flight();
    test_job_capture();
    test_job_tail();
    test_job_timeout();
    test_job_cancel();
    test_job_detach();
    test_job_spawn_error();
    test_job_env_cwd_input();
    test_spawn_after_shutdown();
    proc_fini();
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    CHECK(uv_loop_close(uv_default_loop()) == 0);
    printf("%s: %d passed, %d failed\n", __FILE__, unit_pass, unit_fail);
    return unit_fail ? 1 : 0;
}
