/* deps.c - what the desktop needs and which of it this machine lacks.
 *
 * The desktop runs two programs (Xvfb, openbox) and dlopens seven libraries (the X client
 * libraries in xload.c, the image codecs in image.c). The check finds programs on PATH and
 * libraries as files in the dynamic linker's directories; it never dlopens them, so a server
 * that only answers status polls does not map X and the codecs into its memory. Everything is
 * a stat: the check runs on the loop thread, at most once a second.
 *
 * The GStreamer pieces of the WebRTC stream are not checked here: the desktop runs without
 * them, and stream.c reports the elements it lacks when a stream starts. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "desktop/internal.h"

/* The Debian multiarch directory of the architecture we are built for: the libraries the
 * server can dlopen are the ones of its own architecture. */
#if defined(__x86_64__) && defined(__LP64__)
#define DESKTOP_DEPS_MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define DESKTOP_DEPS_MULTIARCH "aarch64-linux-gnu"
#elif defined(__i386__)
#define DESKTOP_DEPS_MULTIARCH "i386-linux-gnu"
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
#define DESKTOP_DEPS_MULTIARCH "arm-linux-gnueabihf"
#elif defined(__riscv) && __riscv_xlen == 64
#define DESKTOP_DEPS_MULTIARCH "riscv64-linux-gnu"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DESKTOP_DEPS_MULTIARCH "powerpc64le-linux-gnu"
#elif defined(__s390x__)
#define DESKTOP_DEPS_MULTIARCH "s390x-linux-gnu"
#endif

#define DESKTOP_DEPS_TTL_MS 1000
/* execvp's search path when PATH is unset: what runs is what we report. */
#define DESKTOP_DEPS_DEFAULT_PATH "/bin:/usr/bin"
/* ld.so.conf includes nest; a loop of includes must end. */
#define DESKTOP_DEPS_MAX_INCLUDE_DEPTH 8

static const char *const desktop_deps_exes[] = {"Xvfb", "openbox"};

/* A library the server dlopens: the soname it opens, the stem reported when it is absent. */
static const struct {
    const char *soname;
    const char *stem;
} desktop_deps_libs[] = {
    {"libX11.so.6", "libX11"},       {"libXext.so.6", "libXext"},    {"libXtst.so.6", "libXtst"},
    {"libXfixes.so.3", "libXfixes"}, {"libpng16.so.16", "libpng16"}, {"libjpeg.so.62", "libjpeg"},
    {"libwebp.so.7", "libwebp"},
};

/* The standard directories, searched after LD_LIBRARY_PATH and ld.so.conf, as ld.so does. */
static const char *const desktop_deps_std_dirs[] = {
#ifdef DESKTOP_DEPS_MULTIARCH
    "/lib/" DESKTOP_DEPS_MULTIARCH,
    "/usr/lib/" DESKTOP_DEPS_MULTIARCH,
#endif
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
};

/* The last result and when it was taken. Owner: this file (loop thread). */
static desktop_deps desktop_deps_last;
static uint64_t desktop_deps_last_ms;
static bool desktop_deps_have_last;

/* The directories ld.so.conf names, read once: the file changes only when packages that add
 * library directories are installed, and ldconfig must run then anyway. Owner: this file;
 * kept for the process's life. */
static char **desktop_deps_conf_dirs;
static size_t desktop_deps_nconf_dirs;
static bool desktop_deps_conf_read;

/* ---- executables -------------------------------------------------------------------------- */

static bool desktop_deps_is_exe(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *desktop_which(const char *name) {
    if (!name || !*name)
        return NULL;
    if (strchr(name, '/'))
        return desktop_deps_is_exe(name) ? base_xstrdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path)
        path = DESKTOP_DEPS_DEFAULT_PATH;
    for (const char *p = path;;) {
        size_t n = strcspn(p, ":");
        /* An empty entry is the current directory, as for the shell and execvp. */
        char *full = n ? base_xasprintf("%.*s/%s", (int)n, p, name) : base_xasprintf("./%s", name);
        if (desktop_deps_is_exe(full))
            return full;
        free(full);
        if (!p[n])
            return NULL;
        p += n + 1;
    }
}

static bool desktop_deps_on_path(const char *name) {
    char *full = desktop_which(name);
    free(full);
    return full != NULL;
}

/* ---- library directories ------------------------------------------------------------------ */

static void desktop_deps_add_conf_dir(const char *dir, size_t n) {
    if (!n || dir[0] != '/')
        return; /* ld.so ignores relative entries too */
    for (size_t i = 0; i < desktop_deps_nconf_dirs; i++)
        if (strlen(desktop_deps_conf_dirs[i]) == n && !memcmp(desktop_deps_conf_dirs[i], dir, n))
            return;
    desktop_deps_conf_dirs =
        base_xrealloc(desktop_deps_conf_dirs, (desktop_deps_nconf_dirs + 1) * sizeof(char *));
    desktop_deps_conf_dirs[desktop_deps_nconf_dirs++] = base_xstrndup(dir, n);
}

/* The configuration files read so far, each read once. Owner: desktop_deps_load_conf, which
 * frees them when done. */
static char **desktop_deps_conf_files;
static size_t desktop_deps_nconf_files;

static void desktop_deps_read_conf(const char *file, int depth);

/* `include PATTERN`: a relative pattern is relative to the including file's directory. */
static void desktop_deps_include(const char *file, const char *pattern, int depth) {
    char *full;
    if (pattern[0] == '/') {
        full = base_xstrdup(pattern);
    } else {
        const char *slash = strrchr(file, '/');
        int dirlen = slash ? (int)(slash - file) : 1;
        full = base_xasprintf("%.*s/%s", dirlen, slash ? file : ".", pattern);
    }
    glob_t g;
    if (glob(full, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            desktop_deps_read_conf(g.gl_pathv[i], depth + 1);
        globfree(&g);
    }
    free(full);
}

/* One configuration file: directories one or more to a line (separated by blanks, commas or
 * colons, as ldconfig accepts), `include` lines, comments after '#'. Old-style "dir=type"
 * entries name dir. `hwcap` lines are ignored (ld.so itself no longer uses them). */
static void desktop_deps_read_conf(const char *file, int depth) {
    if (depth > DESKTOP_DEPS_MAX_INCLUDE_DEPTH)
        return;
    for (size_t i = 0; i < desktop_deps_nconf_files; i++)
        if (!strcmp(desktop_deps_conf_files[i], file))
            return;
    desktop_deps_conf_files =
        base_xrealloc(desktop_deps_conf_files, (desktop_deps_nconf_files + 1) * sizeof(char *));
    desktop_deps_conf_files[desktop_deps_nconf_files++] = base_xstrdup(file);
    FILE *f = fopen(file, "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        line[strcspn(line, "#\n")] = 0;
        char *s = line + strspn(line, " \t");
        if (!strncmp(s, "include", 7) && (s[7] == ' ' || s[7] == '\t')) {
            char *pat = s + 7 + strspn(s + 7, " \t");
            pat[strcspn(pat, " \t")] = 0;
            if (*pat)
                desktop_deps_include(file, pat, depth);
            continue;
        }
        if (!strncmp(s, "hwcap", 5) && (s[5] == ' ' || s[5] == '\t'))
            continue;
        while (*s) {
            size_t n = strcspn(s, " \t,:");
            size_t dn = strcspn(s, "=");
            desktop_deps_add_conf_dir(s, dn < n ? dn : n);
            s += n;
            s += strspn(s, " \t,:");
        }
    }
    free(line);
    fclose(f);
}

static void desktop_deps_load_conf(void) {
    if (desktop_deps_conf_read)
        return;
    desktop_deps_conf_read = true;
    desktop_deps_read_conf("/etc/ld.so.conf", 0);
    /* Distributions include this from ld.so.conf; read it even where that line is missing
     * (files already read are skipped). */
    desktop_deps_include("/etc/ld.so.conf", "/etc/ld.so.conf.d/*.conf", 0);
    for (size_t i = 0; i < desktop_deps_nconf_files; i++)
        free(desktop_deps_conf_files[i]);
    free(desktop_deps_conf_files);
    desktop_deps_conf_files = NULL;
    desktop_deps_nconf_files = 0;
}

static bool desktop_deps_lib_in(const char *dir, size_t n, const char *soname) {
    if (!n)
        return false;
    char path[4096];
    int len = snprintf(path, sizeof path, "%.*s/%s", (int)n, dir, soname);
    if (len < 0 || (size_t)len >= sizeof path)
        return false;
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where ld.so would look for a soname given without a path: LD_LIBRARY_PATH, the ld.so.conf
 * directories (their cache, really), then the standard directories. */
static bool desktop_deps_lib_found(const char *soname) {
    const char *llp = getenv("LD_LIBRARY_PATH");
    for (const char *p = llp; p && *p;) {
        size_t n = strcspn(p, ":;");
        if (desktop_deps_lib_in(p, n, soname))
            return true;
        p += n;
        p += strspn(p, ":;");
    }
    desktop_deps_load_conf();
    for (size_t i = 0; i < desktop_deps_nconf_dirs; i++)
        if (desktop_deps_lib_in(desktop_deps_conf_dirs[i], strlen(desktop_deps_conf_dirs[i]),
                                soname))
            return true;
    for (size_t i = 0; i < sizeof desktop_deps_std_dirs / sizeof desktop_deps_std_dirs[0]; i++)
        if (desktop_deps_lib_in(desktop_deps_std_dirs[i], strlen(desktop_deps_std_dirs[i]), soname))
            return true;
    return false;
}

/* ---- the check ---------------------------------------------------------------------------- */

_Static_assert(sizeof desktop_deps_exes / sizeof desktop_deps_exes[0] +
                       sizeof desktop_deps_libs / sizeof desktop_deps_libs[0] <=
                   sizeof((desktop_deps *)0)->missing / sizeof(const char *),
               "desktop_deps.missing holds every required dependency");

static void desktop_deps_scan(desktop_deps *d) {
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < sizeof desktop_deps_exes / sizeof desktop_deps_exes[0]; i++)
        if (!desktop_deps_on_path(desktop_deps_exes[i]))
            d->missing[d->nmissing++] = desktop_deps_exes[i];
    for (size_t i = 0; i < sizeof desktop_deps_libs / sizeof desktop_deps_libs[0]; i++)
        if (!desktop_deps_lib_found(desktop_deps_libs[i].soname))
            d->missing[d->nmissing++] = desktop_deps_libs[i].stem;
    d->have_ffmpeg = desktop_deps_on_path("ffmpeg");
    d->have_dbus = desktop_deps_on_path("dbus-daemon");
}

const desktop_deps *desktop_deps_check(void) {
    uint64_t now = base_mono_ms();
    if (desktop_deps_have_last && now - desktop_deps_last_ms < DESKTOP_DEPS_TTL_MS)
        return &desktop_deps_last;
    desktop_deps_scan(&desktop_deps_last);
    desktop_deps_last_ms = now;
    desktop_deps_have_last = true;
    return &desktop_deps_last;
}

void desktop_deps_invalidate(void) {
    desktop_deps_have_last = false;
}

char *desktop_deps_message(const desktop_deps *d) {
    BASE_ASSERT(d->nmissing > 0);
    base_buf b;
    base_buf_init(&b);
    base_buf_appends(&b, "Desktop dependencies are not installed: ");
    for (size_t i = 0; i < d->nmissing; i++)
        base_buf_appendf(&b, "%s%s", i ? ", " : "", d->missing[i]);
    base_buf_appends(&b, ". Run `" DESKTOP_INSTALL_COMMAND
                         "` to install them, or install the required tools manually.");
    return base_buf_steal(&b, NULL);
}
