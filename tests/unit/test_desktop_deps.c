/* test_desktop_deps.c - the desktop dependency check (src/desktop/deps.c): executables found
 * on PATH (temp directories of fake programs stand in for Xvfb, openbox, ffmpeg and
 * dbus-daemon), what does not count as an executable, the one-second cache, desktop_which
 * with and without a slash, and the message's exact text. The libraries are the real ones
 * (scripts/deps.sh installs them), so every library is expected to be found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "desktop/internal.h"
#include "unit.h"

static char tmp_root[] = "/tmp/test-desktop-deps-XXXXXX";

/* A directory under the temp root holding the named files with the given mode. */
static char *make_dir(const char *name, const char *const *files, mode_t mode) {
    char *dir = base_xasprintf("%s/%s", tmp_root, name);
    mkdir(dir, 0755);
    for (size_t i = 0; files && files[i]; i++) {
        char *p = base_xasprintf("%s/%s", dir, files[i]);
        FILE *f = fopen(p, "w");
        fputs("#!/bin/sh\nexit 0\n", f);
        fclose(f);
        chmod(p, mode);
        free(p);
    }
    return dir;
}

static const desktop_deps *check_with_path(const char *path) {
    setenv("PATH", path, 1);
    desktop_deps_invalidate();
    return desktop_deps_check();
}

static bool missing_is(const desktop_deps *d, const char *const *want) {
    size_t n = 0;
    while (want[n])
        n++;
    if (d->nmissing != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(d->missing[i], want[i]))
            return false;
    return true;
}

static void test_all_present(const char *full, const char *with_optional) {
    const desktop_deps *d = check_with_path(full);
    CHECK(d->nmissing == 0);
    CHECK(!d->have_ffmpeg);
    CHECK(!d->have_dbus);
    d = check_with_path(with_optional);
    CHECK(d->nmissing == 0);
    CHECK(d->have_ffmpeg);
    CHECK(d->have_dbus);
}

static void test_missing_executables(const char *empty, const char *only_openbox) {
    const desktop_deps *d = check_with_path(empty);
    CHECK(missing_is(d, (const char *const[]){"Xvfb", "openbox", NULL}));
    char *msg = desktop_deps_message(d);
    CHECK_STR(msg, "Desktop dependencies are not installed: Xvfb, openbox. Run `sandbox-agent "
                   "install desktop --yes` to install them, or install the required tools "
                   "manually.");
    free(msg);
    d = check_with_path(only_openbox);
    CHECK(missing_is(d, (const char *const[]){"Xvfb", NULL}));
}

/* A file without an execute bit, or a directory, named like the program is not the program;
 * a later PATH entry that has it still counts. */
static void test_not_executables(const char *noexec, const char *dirs, const char *full) {
    char *path = base_xasprintf("%s:%s", noexec, dirs);
    const desktop_deps *d = check_with_path(path);
    CHECK(missing_is(d, (const char *const[]){"Xvfb", "openbox", NULL}));
    free(path);
    path = base_xasprintf("%s:%s:%s", noexec, dirs, full);
    d = check_with_path(path);
    CHECK(d->nmissing == 0);
    free(path);
}

/* Within a second the result is the cached one, even when PATH changed; invalidating looks
 * again. */
static void test_cache(const char *full, const char *empty) {
    const desktop_deps *d = check_with_path(full);
    CHECK(d->nmissing == 0);
    setenv("PATH", empty, 1);
    d = desktop_deps_check();
    CHECK(d->nmissing == 0);
    desktop_deps_invalidate();
    d = desktop_deps_check();
    CHECK(d->nmissing == 2);
}

static void test_which(const char *full, const char *noexec) {
    char *want = base_xasprintf("%s/Xvfb", full);
    setenv("PATH", full, 1);
    char *got = desktop_which("Xvfb");
    CHECK_STR(got, want);
    free(got);
    /* A name with a slash is that path, when it is executable. */
    got = desktop_which(want);
    CHECK_STR(got, want);
    free(got);
    char *ne = base_xasprintf("%s/Xvfb", noexec);
    CHECK(desktop_which(ne) == NULL);
    free(ne);
    CHECK(desktop_which("/nonexistent/Xvfb") == NULL);
    CHECK(desktop_which("") == NULL);
    CHECK(desktop_which("no-such-program-here") == NULL);
    /* An empty PATH entry is the current directory. */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(full) == 0);
    setenv("PATH", "/nonexistent::/also-not-there", 1);
    got = desktop_which("openbox");
    CHECK_STR(got, "./openbox");
    free(got);
    CHECK(chdir(cwd) == 0);
    /* Without PATH, execvp's default search path. */
    unsetenv("PATH");
    got = desktop_which("sh");
    CHECK(got && (!strcmp(got, "/bin/sh") || !strcmp(got, "/usr/bin/sh")));
    free(got);
    free(want);
}

/* Libraries are named by stem in the message, after the executables. */
static void test_message_libraries(void) {
    desktop_deps d = {.missing = {"openbox", "libX11", "libwebp"}, .nmissing = 3};
    char *msg = desktop_deps_message(&d);
    CHECK_STR(msg, "Desktop dependencies are not installed: openbox, libX11, libwebp. Run "
                   "`sandbox-agent install desktop --yes` to install them, or install the "
                   "required tools manually.");
    free(msg);
    d.nmissing = 1;
    msg = desktop_deps_message(&d);
    CHECK_STR(msg, "Desktop dependencies are not installed: openbox. Run `sandbox-agent install "
                   "desktop --yes` to install them, or install the required tools manually.");
    free(msg);
}

/* A library directory from LD_LIBRARY_PATH that does not exist, or empty entries, change
 * nothing: the real libraries are still found in the standard places. */
static void test_library_path(const char *full) {
    setenv("LD_LIBRARY_PATH", "::/nonexistent-lib-dir:", 1);
    const desktop_deps *d = check_with_path(full);
    CHECK(d->nmissing == 0);
    unsetenv("LD_LIBRARY_PATH");
}

int main(void) {
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    char *saved_path = base_xstrdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    char *full = make_dir("full", (const char *const[]){"Xvfb", "openbox", NULL}, 0755);
    char *optional =
        make_dir("optional", (const char *const[]){"ffmpeg", "dbus-daemon", NULL}, 0755);
    char *with_optional = base_xasprintf("%s:%s", full, optional);
    char *empty = make_dir("empty", NULL, 0755);
    char *only_openbox = make_dir("only-openbox", (const char *const[]){"openbox", NULL}, 0755);
    char *noexec = make_dir("noexec", (const char *const[]){"Xvfb", "openbox", NULL}, 0644);
    char *dirs = make_dir("dirs", NULL, 0755);
    char *sub = base_xasprintf("%s/Xvfb", dirs);
    mkdir(sub, 0755);
    free(sub);
    sub = base_xasprintf("%s/openbox", dirs);
    mkdir(sub, 0755);
    free(sub);

    test_all_present(full, with_optional);
    test_missing_executables(empty, only_openbox);
    test_not_executables(noexec, dirs, full);
    test_cache(full, empty);
    test_which(full, noexec);
    test_message_libraries();
    test_library_path(full);

    setenv("PATH", saved_path, 1);
    char *rm = base_xasprintf("rm -rf '%s'", tmp_root);
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    free(rm);
    free(saved_path);
    free(full);
    free(optional);
    free(with_optional);
    free(empty);
    free(only_openbox);
    free(noexec);
    free(dirs);
    printf("%s: %d passed, %d failed\n", __FILE__, unit_pass, unit_fail);
    return unit_fail ? 1 : 0;
}
