/* record.c - desktop recordings (http-api.md §10.8): ffmpeg grabs the X display into an MP4
 * file; the recordings are listed in a catalog on disk; the routes start, stop, list, serve
 * and delete them.
 *
 * The file is a fragmented MP4 (empty moov, a fragment at every keyframe, a keyframe every
 * two seconds, each fragment flushed as it is written): a recorder that dies without
 * finishing (the server SIGKILLed, Xvfb gone) leaves a file that plays up to its last
 * complete fragment. So "completed" means the file holds at least one complete fragment,
 * whatever ffmpeg's exit status; a file without one is "failed".
 *
 * The files and the catalog (recordings.json) live in <data dir>/desktop/recordings, not in
 * the desktop's state directory: the state directory is only known while the runtime runs,
 * and recordings must be listed after a server restart. The catalog is read once at
 * startup (synchronously, before the loop runs) and rewritten atomically on the thread pool
 * after every change, one write at a time. A start waits for the write that records its
 * entry before ffmpeg runs, so no file exists that the catalog does not know.
 *
 * Lifecycle of the one recorder (a singleton: one recording at a time):
 *   IDLE -> SAVING (catalog write) -> STARTING (ffmpeg spawned, waiting for its first
 *   bytes, at most 5 s) -> RUNNING (the size watched every 2 s against the cap) ->
 *   STOPPING ('q' on stdin, then TERM and KILL) -> FINISHING (ffmpeg gone, the file probed
 *   on the thread pool) -> IDLE.
 * Start answers once RUNNING (or with the failure at the end); stop answers after
 * FINISHING with the final info. Nothing here blocks the loop: sizes come from uv_fs_stat,
 * the probe and deletions from the thread pool. */
#include "desktop/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"
#include "proc/proc.h"

#define REC_START_TIMEOUT_MS 5000 /* ffmpeg must have written its header by then */
#define REC_POLL_MS 100           /* how often a start looks at the file */
#define REC_WATCH_MS 2000         /* how often a running recording's size is checked */
#define REC_QUIT_GRACE_MS 5000    /* after 'q': the time ffmpeg gets to finish the file */
#define REC_TERM_GRACE_MS 2000    /* after SIGTERM, before SIGKILL */
#define REC_ERR_TAIL 2048         /* bytes of ffmpeg's stderr kept for error messages */
#define REC_DEFAULT_CAP ((int64_t)2 << 30)

typedef enum { REC_RECORDING, REC_COMPLETED, REC_FAILED } rec_status;

static const char *const rec_status_names[] = {"recording", "completed", "failed"};

/* One recording of the catalog. Owner: the catalog list (rec_g.head), oldest first; freed
 * when deleted (rec_forget). */
typedef struct desktop_rec {
    unsigned n; /* the id is rec_<n>, the file rec_<n>.mp4 */
    char id[24];
    char started_at[48];
    char ended_at[48]; /* "" while recording */
    uint64_t bytes;
    rec_status status;
    bool deleting; /* its file is being removed: no longer visible */
    struct desktop_rec *next;
} desktop_rec;

typedef enum {
    RECORDER_IDLE,
    RECORDER_SAVING,
    RECORDER_STARTING,
    RECORDER_RUNNING,
    RECORDER_STOPPING,
    RECORDER_FINISHING,
} recorder_phase;

typedef struct rec_waiter {
    void (*fn)(void *ud);
    void *ud;
} rec_waiter;

typedef struct rec_save_waiter {
    void (*fn)(int err, void *ud);
    void *ud;
} rec_save_waiter;

/* The recorder. Owner: rec_g (static); reset to IDLE by rec_finished. */
typedef struct desktop_recorder {
    recorder_phase phase;
    desktop_rec *rec;     /* the catalog entry being recorded */
    proc_child *child;    /* NULL before the spawn and once released */
    http_req *start_req;  /* the start request, until answered or gone */
    http_req **stop_reqs; /* stop requests waiting for the final info (NULL: left) */
    size_t nstop;
    rec_waiter *gone; /* desktop_record_stop_all callers */
    size_t ngone;
    bool stop_wanted;  /* a stop came while starting: stop once running */
    bool cancelled;    /* the runtime is stopping: no spawn, no success */
    uint64_t deadline; /* STARTING: monotonic ms */
    int fps, width, height;
    char display[32];
    base_buf err_tail; /* last REC_ERR_TAIL bytes of ffmpeg's output */
    int fail_status;   /* the start's error answer (409 or 502), 0 for none */
    char *fail;        /* its message */
} desktop_recorder;

/* Module state. Owner: this file; loop thread only. */
static struct {
    uv_loop_t *loop;
    char *dir;     /* <data dir>/desktop/recordings */
    char *catalog; /* <dir>/recordings.json */
    desktop_rec *head;
    unsigned next_n;
    uint64_t cap; /* total bytes of recordings kept */
    desktop_recorder r;
    uv_timer_t timer; /* the recorder's polls */
    /* One size check at a time. It may outlive the recorder that asked for it: stat_n says
     * whose file it looks at. */
    uv_fs_t stat;
    bool stat_busy;
    unsigned stat_n;
    /* catalog writer */
    bool cat_busy, cat_dirty;
    rec_save_waiter *cat_wait, *cat_next; /* callers of the write in flight, of the next */
    size_t ncat_wait, ncat_next;
} rec_g;

static void rec_stop_begin(void);
static void rec_prune(void);

/* ---- the catalog in memory ------------------------------------------------------------- */

static void rec_now(char *out, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fs_rfc3339((int64_t)ts.tv_sec, ts.tv_nsec, out, cap);
}

static char *rec_path(const desktop_rec *rec) {
    return base_xasprintf("%s/rec_%u.mp4", rec_g.dir, rec->n);
}

/* DesktopRecordingInfo, members in the reference's order. */
static json_t *rec_info(const desktop_rec *rec) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(rec->id));
    json_object_set_new(o, "status", json_string(rec_status_names[rec->status]));
    char name[32];
    snprintf(name, sizeof name, "rec_%u.mp4", rec->n);
    json_object_set_new(o, "fileName", json_string(name));
    json_object_set_new(o, "bytes", json_integer((json_int_t)rec->bytes));
    json_object_set_new(o, "startedAt", json_string(rec->started_at));
    if (rec->ended_at[0])
        json_object_set_new(o, "endedAt", json_string(rec->ended_at));
    return o;
}

static desktop_rec *rec_add(unsigned n) {
    desktop_rec *rec = base_xcalloc(1, sizeof *rec);
    rec->n = n;
    snprintf(rec->id, sizeof rec->id, "rec_%u", n);
    desktop_rec **p = &rec_g.head;
    while (*p && (*p)->n < n)
        p = &(*p)->next;
    rec->next = *p;
    *p = rec;
    if (n >= rec_g.next_n)
        rec_g.next_n = n + 1;
    return rec;
}

static void rec_forget(desktop_rec *rec) {
    for (desktop_rec **p = &rec_g.head; *p; p = &(*p)->next) {
        if (*p == rec) {
            *p = rec->next;
            free(rec);
            return;
        }
    }
}

static desktop_rec *rec_find(const char *id) {
    for (desktop_rec *rec = rec_g.head; rec; rec = rec->next)
        if (!rec->deleting && !strcmp(rec->id, id))
            return rec;
    return NULL;
}

static void rec_not_found(http_req *req, const char *id) {
    char *detail = base_xasprintf("not found: desktop_recording %s", id);
    http_reply_problem(
        req, 404, "not_found", "Not Found", detail,
        json_pack("{s:{s:s,s:s}}", "details", "id", id, "resource", "desktop_recording"));
    free(detail);
}

/* ---- the file: size and playability ------------------------------------------------------ */

/* What a recording file holds. Blocking (thread pool, or startup). */
typedef struct rec_probe_result {
    bool exists;
    uint64_t size;
    int64_t mtime_sec;
    long mtime_nsec;
    bool playable; /* a complete moof box followed by a complete mdat box */
} rec_probe_result;

static uint64_t rec_be32(const unsigned char *b) {
    return (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
}

/* Walk the top-level MP4 boxes (a handful of 16-byte reads) looking for a fragment that
 * was written whole. The walk stops at the first box that runs past the end of the file:
 * everything after it is the torn tail of a recorder that died. */
static void rec_probe_file(const char *path, rec_probe_result *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return;
    }
    out->exists = true;
    out->size = (uint64_t)st.st_size;
    out->mtime_sec = (int64_t)st.st_mtim.tv_sec;
    out->mtime_nsec = st.st_mtim.tv_nsec;
    uint64_t off = 0;
    bool after_moof = false;
    while (off + 8 <= out->size) {
        unsigned char h[16];
        if (pread(fd, h, sizeof h, (off_t)off) < 8)
            break;
        uint64_t len = rec_be32(h);
        if (len == 1) {
            if (off + 16 > out->size)
                break;
            len = rec_be32(h + 8) << 32 | rec_be32(h + 12);
        } else if (len == 0) {
            len = out->size - off; /* to the end of the file */
        }
        if (len < 8 || len > out->size - off)
            break;
        if (after_moof && !memcmp(h + 4, "mdat", 4)) {
            out->playable = true;
            break;
        }
        after_moof = !memcmp(h + 4, "moof", 4);
        off += len;
    }
    close(fd);
}

/* ---- the catalog on disk ----------------------------------------------------------------- */

typedef struct rec_save_job {
    uv_work_t work;
    char *text;
    int result; /* 0 or -errno */
} rec_save_job;

static void rec_save_work(uv_work_t *w) {
    rec_save_job *j = w->data;
    j->result = base_mkdirs(rec_g.dir);
    if (j->result == 0)
        j->result = base_write_file_atomic(rec_g.catalog, j->text, strlen(j->text), 0644);
}

static void rec_save_start(void);

static void rec_save_after(uv_work_t *w, int status) {
    rec_save_job *j = w->data;
    int r = status < 0 ? status : j->result;
    if (r < 0)
        LOG_WARN("cannot write the desktop recordings catalog", "path=\"%s\" error=\"%s\"",
                 rec_g.catalog, uv_strerror(r));
    free(j->text);
    free(j);
    rec_save_waiter *wait = rec_g.cat_wait;
    size_t n = rec_g.ncat_wait;
    rec_g.cat_wait = NULL;
    rec_g.ncat_wait = 0;
    rec_g.cat_busy = false;
    if (rec_g.cat_dirty)
        rec_save_start();
    for (size_t i = 0; i < n; i++)
        wait[i].fn(r, wait[i].ud);
    free(wait);
}

static void rec_save_start(void) {
    json_t *list = json_array();
    for (desktop_rec *rec = rec_g.head; rec; rec = rec->next)
        if (!rec->deleting)
            json_array_append_new(list, rec_info(rec));
    json_t *doc = json_pack("{s:I,s:o}", "next", (json_int_t)rec_g.next_n, "recordings", list);
    rec_save_job *j = base_xcalloc(1, sizeof *j);
    j->text = base_json_compact(doc);
    json_decref(doc);
    j->work.data = j;
    rec_g.cat_busy = true;
    rec_g.cat_dirty = false;
    rec_g.cat_wait = rec_g.cat_next;
    rec_g.ncat_wait = rec_g.ncat_next;
    rec_g.cat_next = NULL;
    rec_g.ncat_next = 0;
    uv_queue_work(rec_g.loop, &j->work, rec_save_work, rec_save_after);
}

/* Write the catalog as it is now; done(err, ud) (may be NULL) after the write that holds
 * this state (err 0 or a libuv error). */
static void rec_save(void (*done)(int err, void *ud), void *ud) {
    if (done) {
        rec_g.cat_next =
            base_xrealloc(rec_g.cat_next, (rec_g.ncat_next + 1) * sizeof *rec_g.cat_next);
        rec_g.cat_next[rec_g.ncat_next++] = (rec_save_waiter){done, ud};
    }
    if (rec_g.cat_busy)
        rec_g.cat_dirty = true;
    else
        rec_save_start();
}

/* Startup: the catalog as the last run left it. A recording still marked "recording"
 * belonged to a server that died: its file is judged as it is (a fragmented MP4 plays up to
 * its last complete fragment). Entries whose file is gone are dropped. */
static void rec_load(void) {
    json_error_t jerr;
    json_t *doc = json_load_file(rec_g.catalog, 0, &jerr);
    if (!doc) {
        if (access(rec_g.catalog, F_OK) == 0)
            LOG_WARN("unreadable desktop recordings catalog", "path=\"%s\" error=\"%s\"",
                     rec_g.catalog, jerr.text);
        return;
    }
    bool changed = false;
    json_int_t next = json_integer_value(json_object_get(doc, "next"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "recordings"), i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *status = json_string_value(json_object_get(e, "status"));
        const char *started = json_string_value(json_object_get(e, "startedAt"));
        const char *ended = json_string_value(json_object_get(e, "endedAt"));
        uint64_t n;
        if (!id || strncmp(id, "rec_", 4) || !base_parse_u64(id + 4, strlen(id + 4), &n) ||
            n == 0 || n > 1000000000 || !status || !started || rec_find(id)) {
            changed = true;
            continue;
        }
        desktop_rec tmp = {.n = (unsigned)n};
        char *path = rec_path(&tmp);
        rec_probe_result pr;
        rec_probe_file(path, &pr);
        free(path);
        if (!pr.exists && strcmp(status, "failed")) {
            changed = true; /* removed by hand: nothing left to list */
            continue;
        }
        desktop_rec *rec = rec_add((unsigned)n);
        snprintf(rec->started_at, sizeof rec->started_at, "%s", started);
        if (ended)
            snprintf(rec->ended_at, sizeof rec->ended_at, "%s", ended);
        rec->bytes = pr.size;
        rec->status = !strcmp(status, "completed") ? REC_COMPLETED : REC_FAILED;
        if (!strcmp(status, "recording") || !ended) {
            rec->status = pr.playable ? REC_COMPLETED : REC_FAILED;
            fs_rfc3339(pr.mtime_sec, pr.mtime_nsec, rec->ended_at, sizeof rec->ended_at);
            LOG_INFO("desktop recording interrupted by a restart", "id=%s status=%s bytes=%llu",
                     rec->id, rec_status_names[rec->status], (unsigned long long)pr.size);
            changed = true;
        }
    }
    if (next > 0 && next <= 1000000000 && (unsigned)next > rec_g.next_n)
        rec_g.next_n = (unsigned)next;
    json_decref(doc);
    if (changed)
        rec_save(NULL, NULL);
}

/* ---- deleting -------------------------------------------------------------------------- */

typedef struct rec_unlink {
    uv_fs_t fs;
    desktop_rec *rec;
    http_req *req; /* NULL: a prune, or the client left */
} rec_unlink;

static void rec_unlink_abort(http_req *req, void *ud) {
    ((rec_unlink *)ud)->req = NULL;
}

static void rec_unlink_cb(uv_fs_t *fs) {
    rec_unlink *u = fs->data;
    int r = (int)fs->result;
    uv_fs_req_cleanup(fs);
    if (r < 0 && r != UV_ENOENT) {
        LOG_WARN("cannot remove a desktop recording", "id=%s error=\"%s\"", u->rec->id,
                 uv_strerror(r));
        u->rec->deleting = false; /* still there: it stays listed */
        if (u->req) {
            http_req_on_abort(u->req, NULL, NULL);
            char *m = base_xasprintf("cannot remove %s: %s", u->rec->id, uv_strerror(r));
            http_problem_with_message(u->req, 502, "stream_error", "Stream Error", "stream error",
                                      m);
            free(m);
        }
    } else {
        rec_forget(u->rec);
        rec_save(NULL, NULL);
        if (u->req) {
            http_req_on_abort(u->req, NULL, NULL);
            http_reply_empty(u->req, 204);
        }
    }
    free(u);
}

/* Remove a recording's file, then its entry; req (may be NULL) gets 204 or the error. */
static void rec_delete(desktop_rec *rec, http_req *req) {
    rec_unlink *u = base_xcalloc(1, sizeof *u);
    u->rec = rec;
    u->req = req;
    u->fs.data = u;
    rec->deleting = true;
    char *path = rec_path(rec);
    if (req)
        http_req_on_abort(req, rec_unlink_abort, u);
    int r = uv_fs_unlink(rec_g.loop, &u->fs, path, rec_unlink_cb);
    free(path);
    if (r < 0) {
        u->fs.result = r;
        rec_unlink_cb(&u->fs);
    }
}

/* Keep the recordings' total within the cap: the oldest finished ones go first, never the
 * newest (the one just made, even if it alone passes the cap). */
static void rec_prune(void) {
    uint64_t total = 0;
    desktop_rec *newest = NULL;
    for (desktop_rec *rec = rec_g.head; rec; rec = rec->next) {
        if (rec->deleting)
            continue;
        total += rec->bytes;
        newest = rec;
    }
    for (desktop_rec *rec = rec_g.head; rec && total > rec_g.cap; rec = rec->next) {
        if (rec->deleting || rec == newest || rec->status == REC_RECORDING)
            continue;
        LOG_INFO("desktop recordings over their size cap: removing the oldest",
                 "id=%s bytes=%llu cap=%llu", rec->id, (unsigned long long)rec->bytes,
                 (unsigned long long)rec_g.cap);
        total -= rec->bytes;
        rec_delete(rec, NULL);
    }
}

/* ---- the recorder: ending ---------------------------------------------------------------- */

static void rec_stop_abort(http_req *req, void *ud) {
    for (size_t i = 0; i < rec_g.r.nstop; i++)
        if (rec_g.r.stop_reqs[i] == req)
            rec_g.r.stop_reqs[i] = NULL;
}

static void rec_start_abort(http_req *req, void *ud) {
    rec_g.r.start_req = NULL;
}

static void rec_set_fail(int status, char *msg) {
    if (rec_g.r.fail_status) {
        free(msg);
        return; /* the first reason is the one to tell */
    }
    rec_g.r.fail_status = status;
    rec_g.r.fail = msg;
}

/* ffmpeg's last output, as one line for a message. */
static char *rec_err_tail(void) {
    desktop_recorder *r = &rec_g.r;
    char *s = base_xstrndup(r->err_tail.data ? r->err_tail.data : "", r->err_tail.len);
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = *(p + 1) ? ' ' : '\0';
    return s;
}

/* No recorder process is left: tell desktop_record_stop_all's callers. */
static void rec_notify_gone(void) {
    rec_waiter *w = rec_g.r.gone;
    size_t n = rec_g.r.ngone;
    rec_g.r.gone = NULL;
    rec_g.r.ngone = 0;
    for (size_t i = 0; i < n; i++)
        w[i].fn(w[i].ud);
    free(w);
}

/* The recording is over and its entry final: answer everyone, reset the recorder. */
static void rec_finished(void) {
    desktop_recorder *r = &rec_g.r;
    desktop_rec *rec = r->rec;
    if (r->start_req) {
        http_req *req = r->start_req;
        r->start_req = NULL;
        http_req_on_abort(req, NULL, NULL);
        if (r->fail_status == 409)
            desktop_problem_conflict(req, r->fail);
        else
            http_problem_with_message(req, 502, "stream_error", "Stream Error", "stream error",
                                      r->fail ? r->fail : "desktop recording failed");
    }
    for (size_t i = 0; i < r->nstop; i++) {
        if (!r->stop_reqs[i])
            continue;
        http_req_on_abort(r->stop_reqs[i], NULL, NULL);
        http_reply_json(r->stop_reqs[i], 200, rec_info(rec));
    }
    free(r->stop_reqs);
    free(r->fail);
    base_buf_free(&r->err_tail);
    rec_waiter *gone = r->gone;
    size_t ngone = r->ngone;
    memset(r, 0, sizeof *r); /* IDLE */
    r->gone = gone;
    r->ngone = ngone;
    rec_notify_gone();
    rec_prune();
}

typedef struct rec_probe_job {
    uv_work_t work;
    char *path;
    rec_probe_result res;
} rec_probe_job;

static void rec_probe_work(uv_work_t *w) {
    rec_probe_job *j = w->data;
    rec_probe_file(j->path, &j->res);
}

static void rec_probe_after(uv_work_t *w, int status) {
    rec_probe_job *j = w->data;
    desktop_rec *rec = rec_g.r.rec;
    rec->bytes = j->res.size;
    rec->status = j->res.playable ? REC_COMPLETED : REC_FAILED;
    LOG_INFO("desktop recording finished", "id=%s status=%s bytes=%llu", rec->id,
             rec_status_names[rec->status], (unsigned long long)rec->bytes);
    free(j->path);
    free(j);
    rec_save(NULL, NULL);
    rec_finished();
}

/* ffmpeg is gone (or never ran): judge the file on the thread pool. */
static void rec_finish(void) {
    desktop_recorder *r = &rec_g.r;
    r->phase = RECORDER_FINISHING;
    uv_timer_stop(&rec_g.timer);
    rec_now(r->rec->ended_at, sizeof r->rec->ended_at);
    rec_notify_gone();
    rec_probe_job *j = base_xcalloc(1, sizeof *j);
    j->path = rec_path(r->rec);
    j->work.data = j;
    uv_queue_work(rec_g.loop, &j->work, rec_probe_work, rec_probe_after);
}

static void rec_on_output(proc_child *c, const char *data, size_t len, void *ud) {
    base_buf *t = &rec_g.r.err_tail;
    base_buf_append(t, data, len);
    if (t->len > REC_ERR_TAIL)
        base_buf_consume(t, t->len - REC_ERR_TAIL);
}

static void rec_on_exit(proc_child *c, int code, int sig, void *ud) {
    desktop_recorder *r = &rec_g.r;
    char *tail = rec_err_tail();
    /* A signal from a server shutdown ends ffmpeg with 255 and no output: not worth a warning. */
    if (r->phase == RECORDER_STARTING || *tail)
        LOG_WARN("desktop recorder exited", "id=%s code=%d signal=%d output=\"%s\"", r->rec->id,
                 code, sig, tail);
    if (r->phase == RECORDER_STARTING) {
        char *how = sig ? base_xasprintf("signal %d", sig) : base_xasprintf("code %d", code);
        rec_set_fail(502, base_xasprintf("ffmpeg exited with %s before recording started%s%s", how,
                                         *tail ? ": " : "", tail));
        free(how);
    }
    free(tail);
    proc_release(c);
    r->child = NULL;
    rec_finish();
}

/* ---- the recorder: stopping -------------------------------------------------------------- */

static void rec_quit_written(int status, void *ud) {
    /* 'q' is in the pipe (or could not be written): from now on the clock runs. */
    if (rec_g.r.child)
        proc_terminate(rec_g.r.child, REC_QUIT_GRACE_MS, REC_TERM_GRACE_MS);
}

/* Ask ffmpeg to finish the file: 'q' on stdin, as at its console; TERM and KILL follow if it
 * does not exit in time. */
static void rec_stop_begin(void) {
    desktop_recorder *r = &rec_g.r;
    if (r->phase != RECORDER_STARTING && r->phase != RECORDER_RUNNING)
        return;
    r->phase = RECORDER_STOPPING;
    uv_timer_stop(&rec_g.timer);
    if (proc_write(r->child, "q", 1, rec_quit_written, NULL) < 0)
        rec_quit_written(0, NULL);
}

/* ---- the recorder: starting -------------------------------------------------------------- */

static void rec_answer_started(void) {
    desktop_recorder *r = &rec_g.r;
    r->phase = RECORDER_RUNNING;
    LOG_INFO("desktop recording started", "id=%s fps=%d size=%dx%d display=%s", r->rec->id, r->fps,
             r->width, r->height, r->display);
    if (r->start_req) {
        http_req *req = r->start_req;
        r->start_req = NULL;
        http_req_on_abort(req, NULL, NULL);
        http_reply_json(req, 200, rec_info(r->rec));
    }
    if (r->stop_wanted)
        rec_stop_begin();
}

static void rec_stat_cb(uv_fs_t *fs) {
    desktop_recorder *r = &rec_g.r;
    int64_t size = fs->result == 0 ? (int64_t)fs->statbuf.st_size : 0;
    uv_fs_req_cleanup(fs);
    rec_g.stat_busy = false;
    if (!r->rec || r->rec->n != rec_g.stat_n)
        return; /* a finished recorder's */
    if (r->phase == RECORDER_STARTING && size > 0) {
        r->rec->bytes = (uint64_t)size;
        rec_answer_started();
    } else if (r->phase == RECORDER_RUNNING) {
        r->rec->bytes = (uint64_t)size;
        if ((uint64_t)size > rec_g.cap) {
            LOG_WARN("desktop recording reached the size cap: stopping it",
                     "id=%s bytes=%lld cap=%llu", r->rec->id, (long long)size,
                     (unsigned long long)rec_g.cap);
            rec_stop_begin();
        }
    }
}

static void rec_timer_cb(uv_timer_t *t) {
    desktop_recorder *r = &rec_g.r;
    if (r->phase == RECORDER_STARTING && base_mono_ms() >= r->deadline) {
        char *tail = rec_err_tail();
        rec_set_fail(502,
                     base_xasprintf("ffmpeg wrote nothing to %s.mp4 within %d s%s%s", r->rec->id,
                                    REC_START_TIMEOUT_MS / 1000, *tail ? ": " : "", tail));
        free(tail);
        rec_stop_begin();
        return;
    }
    if (rec_g.stat_busy)
        return;
    char *path = rec_path(r->rec);
    if (uv_fs_stat(rec_g.loop, &rec_g.stat, path, rec_stat_cb) == 0) {
        rec_g.stat_busy = true;
        rec_g.stat_n = r->rec->n;
    }
    free(path);
}

static void rec_on_start(proc_child *c, int err, void *ud) {
    desktop_recorder *r = &rec_g.r;
    if (err < 0) {
        LOG_WARN("cannot start the desktop recorder", "error=\"%s\"", uv_strerror(err));
        rec_set_fail(502, base_xasprintf("failed to spawn ffmpeg: %s", uv_strerror(err)));
        proc_release(c);
        r->child = NULL;
        rec_finish();
    }
}

static void rec_spawn(void) {
    desktop_recorder *r = &rec_g.r;
    char size[32], fps[16], gop[16];
    snprintf(size, sizeof size, "%dx%d", r->width, r->height);
    snprintf(fps, sizeof fps, "%d", r->fps);
    snprintf(gop, sizeof gop, "%d", 2 * r->fps); /* a fragment at least every 2 s */
    char *path = rec_path(r->rec);
    /* stdin stays a pipe: 'q' on it is how ffmpeg is asked to finish the file. The grabbed
     * input is not probed (its format is known; at 1 fps probing alone takes 4 s). */
    /* clang-format off */ /* the options grouped as ffmpeg reads them */
    char *args[] = {"ffmpeg", "-nostats", "-loglevel", "error", "-y",
                    "-probesize", "32", "-analyzeduration", "0",
                    "-f", "x11grab", "-video_size", size, "-framerate", fps,
                    "-draw_mouse", "1", "-i", r->display,
                    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                    "-pix_fmt", "yuv420p", "-g", gop,
                    "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
                    "-flush_packets", "1", "-f", "mp4", path, NULL};
    /* clang-format on */
    char **env = desktop_runtime_env();
    proc_spawn_opts o = {
        .file = "ffmpeg", .args = args, .env = env, .die_with_server = true, .merge_stderr = true};
    static const proc_callbacks cb = {
        .on_stdout = rec_on_output, .on_exit = rec_on_exit, .on_start = rec_on_start};
    r->phase = RECORDER_STARTING;
    r->deadline = base_mono_ms() + REC_START_TIMEOUT_MS;
    r->child = proc_spawn(rec_g.loop, &o, &cb, NULL);
    desktop_strv_free(env);
    free(path);
    uv_timer_start(&rec_g.timer, rec_timer_cb, REC_POLL_MS, REC_POLL_MS);
}

/* The catalog holds the new entry (or could not be written). */
static void rec_saved(int err, void *ud) {
    desktop_recorder *r = &rec_g.r;
    if (err == 0 && !r->cancelled && desktop_runtime_state() == DESKTOP_ACTIVE) {
        rec_spawn();
        return;
    }
    if (err < 0)
        rec_set_fail(502, base_xasprintf("cannot write the recordings catalog %s: %s",
                                         rec_g.catalog, uv_strerror(err)));
    else
        rec_set_fail(409, base_xstrdup("the desktop runtime stopped before the recording "
                                       "started"));
    r->rec->status = REC_FAILED;
    rec_now(r->rec->ended_at, sizeof r->rec->ended_at);
    rec_save(NULL, NULL);
    rec_finished();
}

/* ---- routes ------------------------------------------------------------------------------ */

static void rec_start_handler(http_req *req, void *ud) {
    static const desktop_field fields[] = {{"fps", DESKTOP_F_U32, false}};
    json_t *body = desktop_body(req, fields, 1);
    if (!body)
        return;
    json_t *jfps = json_object_get(body, "fps");
    /* As the reference: any u32 is accepted and clamped to 1..60. */
    json_int_t fps = json_is_integer(jfps) ? json_integer_value(jfps)
                                           : (json_int_t)desktop_runtime_recording_fps();
    json_decref(body);
    fps = fps < 1 ? 1 : fps > 60 ? 60 : fps;
    const desktop_deps *deps = desktop_deps_check();
    if (deps->nmissing) {
        char *m = desktop_deps_message(deps);
        desktop_problem_conflict(req, m);
        free(m);
        return;
    }
    if (desktop_runtime_state() != DESKTOP_ACTIVE) {
        desktop_problem_conflict(req, "Desktop runtime has not been started");
        return;
    }
    if (!deps->have_ffmpeg) {
        desktop_problem_conflict(req, "ffmpeg is required for desktop recording");
        return;
    }
    desktop_recorder *r = &rec_g.r;
    if (r->phase != RECORDER_IDLE) {
        desktop_problem_conflict(req, "a desktop recording is already active");
        return;
    }
    int w, h;
    desktop_runtime_size(&w, &h);
    r->width = w & ~1; /* yuv420p needs even dimensions: drop an odd last column/row */
    r->height = h & ~1;
    r->fps = (int)fps;
    snprintf(r->display, sizeof r->display, "%s", desktop_runtime_display());
    r->rec = rec_add(rec_g.next_n);
    rec_now(r->rec->started_at, sizeof r->rec->started_at);
    r->rec->status = REC_RECORDING;
    r->phase = RECORDER_SAVING;
    r->start_req = req;
    http_req_on_abort(req, rec_start_abort, NULL);
    rec_save(rec_saved, NULL);
}

static void rec_stop_handler(http_req *req, void *ud) {
    desktop_recorder *r = &rec_g.r;
    if (r->phase == RECORDER_IDLE) {
        desktop_problem_conflict(req, "no desktop recording is active");
        return;
    }
    r->stop_reqs = base_xrealloc(r->stop_reqs, (r->nstop + 1) * sizeof *r->stop_reqs);
    r->stop_reqs[r->nstop++] = req;
    http_req_on_abort(req, rec_stop_abort, NULL);
    if (r->phase == RECORDER_RUNNING)
        rec_stop_begin();
    else
        r->stop_wanted = true; /* starting: stopped once it runs; stopping: just wait */
}

static void rec_list_handler(http_req *req, void *ud) {
    json_t *list = json_array();
    for (desktop_rec *rec = rec_g.head; rec; rec = rec->next)
        if (!rec->deleting)
            json_array_append_new(list, rec_info(rec));
    http_reply_json(req, 200, json_pack("{s:o}", "recordings", list));
}

static void rec_get_handler(http_req *req, void *ud) {
    desktop_rec *rec = rec_find(http_req_param(req, 0));
    if (!rec) {
        rec_not_found(req, http_req_param(req, 0));
        return;
    }
    http_reply_json(req, 200, rec_info(rec));
}

/* A recording still being made is served as far as it is written (as the reference does;
 * the fragmented file plays up to its last fragment). One without data gets a 409. */
static void rec_download_handler(http_req *req, void *ud) {
    desktop_rec *rec = rec_find(http_req_param(req, 0));
    if (!rec) {
        rec_not_found(req, http_req_param(req, 0));
        return;
    }
    if (rec->bytes == 0) {
        /* Only a recorder that failed before writing leaves nothing (or no file at all). */
        char *m = base_xasprintf("desktop recording %s has no data", rec->id);
        desktop_problem_conflict(req, m);
        free(m);
        return;
    }
    char *path = rec_path(rec);
    fs_send_file(req, path, "video/mp4");
    free(path);
}

static void rec_delete_handler(http_req *req, void *ud) {
    desktop_rec *rec = rec_find(http_req_param(req, 0));
    if (!rec) {
        rec_not_found(req, http_req_param(req, 0));
        return;
    }
    if (rec == rec_g.r.rec) {
        desktop_problem_conflict(req, "stop the active desktop recording before deleting it");
        return;
    }
    rec_delete(rec, req);
}

/* ---- the module's interface ---------------------------------------------------------------- */

void desktop_record_routes(http_server *srv, uv_loop_t *loop) {
    rec_g.loop = loop;
    rec_g.dir = base_xasprintf("%s/desktop/recordings", base_data_dir());
    rec_g.catalog = base_xasprintf("%s/recordings.json", rec_g.dir);
    rec_g.next_n = 1;
    rec_g.cap = (uint64_t)base_env_int("SANDBOX_AGENT_DESKTOP_RECORDINGS_MAX_BYTES",
                                       REC_DEFAULT_CAP, 1, INT64_MAX);
    uv_timer_init(loop, &rec_g.timer);
    rec_load();
    const unsigned A = HTTP_ROUTE_AUTH;
    http_route(srv, HTTP_M_POST, "/v1/desktop/recording/start", A, rec_start_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/desktop/recording/stop", A, rec_stop_handler, NULL);
    http_route(srv, HTTP_M_GET, "/v1/desktop/recordings", A, rec_list_handler, NULL);
    http_route(srv, HTTP_M_GET, "/v1/desktop/recordings/{id}", A, rec_get_handler, NULL);
    http_route(srv, HTTP_M_DELETE, "/v1/desktop/recordings/{id}", A, rec_delete_handler, NULL);
    http_route(srv, HTTP_M_GET, "/v1/desktop/recordings/{id}/download", A, rec_download_handler,
               NULL);
}

void desktop_record_stop_all(void (*done)(void *ud), void *ud) {
    desktop_recorder *r = &rec_g.r;
    if (r->phase == RECORDER_IDLE || r->phase == RECORDER_FINISHING) {
        done(ud);
        return;
    }
    r->gone = base_xrealloc(r->gone, (r->ngone + 1) * sizeof *r->gone);
    r->gone[r->ngone++] = (rec_waiter){done, ud};
    r->cancelled = true;
    if (r->phase == RECORDER_STARTING)
        rec_set_fail(409, base_xstrdup("the desktop runtime stopped before the recording "
                                       "started"));
    rec_stop_begin(); /* SAVING: rec_saved sees the cancel; STOPPING: already on its way */
}

json_t *desktop_record_process(void) {
    proc_child *c = rec_g.r.child;
    if (!c || proc_pid(c) <= 0 || proc_exited(c))
        return NULL;
    return json_pack("{s:s,s:i,s:b}", "name", "ffmpeg", "pid", (int)proc_pid(c), "running", 1);
}
