/* install_desktop.c - `sandbox-agent install desktop [--yes] [--print-only]
 * [--package-manager apt|dnf|apk] [--no-fonts] [--no-streaming]`: installs, with the system's
 * package manager, what the desktop runtime needs (src/desktop/deps.c checks the same things),
 * and, unless --no-streaming, the GStreamer plugins the WebRTC stream builds its pipeline from
 * (src/desktop/stream.c names the elements; the desktop itself runs without them, so deps.c
 * does not ask for them).
 *
 * The flags, the plan it prints (package manager, packages, command), the confirmation
 * prompt and the error lines are the reference CLI's; the package lists are ours: exactly
 * the programs the runtime starts (Xvfb, openbox, ffmpeg, dbus, xdg-open) and the libraries
 * the server dlopens, the GStreamer plugin sets with the stream's elements (ximagesrc,
 * videoconvert, vp8enc/vp9enc, rtpvp8pay/rtpvp9pay, rtpbin, webrtcbin with dtls/srtp/sctp, and
 * libnice's nicesrc; their libgstreamer, libgstsdp and libgstwebrtc come as dependencies), no
 * ImageMagick, xdotool or xrandr, which we never call. Unlike the
 * reference it installs only what is missing, and does nothing (no apt-get update, no
 * network) when everything is there, so a test setup can run it every time.
 *
 * This is the CLI, not the server: it blocks, and the package manager's output goes straight
 * to our stdout and stderr. The exit status is the package manager's when it fails.
 *
 * SANDBOX_AGENT_INSTALL_AS_NONROOT=1 makes a root caller act as an unprivileged one (sudo
 * before each command): for tests, which run as root. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/args.h"
#include "cli/cli.h"

extern char **environ;

/* One package manager: how the CLI names it, the program that detects it, the install
 * command's words before the package names, and the packages. Owner: the static table. */
typedef struct cli_install_pm {
    const char *name;
    const char *probe;
    const char *const *install;   /* NULL-terminated */
    const char *const *packages;  /* NULL-terminated: the desktop itself */
    const char *const *streaming; /* NULL-terminated: left out with --no-streaming */
    const char *fonts;
    bool update_first; /* apt-get update before installing */
} cli_install_pm;

static const char *const cli_install_apt_words[] = {
    "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
    /* Recommends would add hundreds of MB to ffmpeg alone; the runtime needs none of them. */
    "--no-install-recommends", NULL};
static const char *const cli_install_apt_pkgs[] = {
    "xvfb",     "openbox",    "ffmpeg",      "dbus-x11",        "xdg-utils", "libx11-6", "libxext6",
    "libxtst6", "libxfixes3", "libpng16-16", "libjpeg62-turbo", "libwebp7",  NULL};
/* x264enc (gstreamer1.0-plugins-ugly) is not here: H.264 is optional, VP8 is the default. */
static const char *const cli_install_apt_stream[] = {
    "gstreamer1.0-plugins-base", "gstreamer1.0-plugins-good", "gstreamer1.0-plugins-bad",
    "gstreamer1.0-nice", NULL};
static const char *const cli_install_dnf_words[] = {"dnf", "install", "-y", NULL};
static const char *const cli_install_dnf_pkgs[] = {"xorg-x11-server-Xvfb",
                                                   "openbox",
                                                   "ffmpeg",
                                                   "dbus-x11",
                                                   "xdg-utils",
                                                   "libX11",
                                                   "libXext",
                                                   "libXtst",
                                                   "libXfixes",
                                                   "libpng",
                                                   "libjpeg-turbo",
                                                   "libwebp",
                                                   NULL};
static const char *const cli_install_dnf_stream[] = {
    "gstreamer1-plugins-base", "gstreamer1-plugins-good", "gstreamer1-plugins-bad-free",
    "libnice-gstreamer1", NULL};
static const char *const cli_install_apk_words[] = {"apk", "add", "--no-cache", NULL};
static const char *const cli_install_apk_pkgs[] = {
    "xvfb",    "openbox",   "ffmpeg", "dbus",          "xdg-utils", "libx11", "libxext",
    "libxtst", "libxfixes", "libpng", "libjpeg-turbo", "libwebp",   NULL};
static const char *const cli_install_apk_stream[] = {"gst-plugins-base", "gst-plugins-good",
                                                     "gst-plugins-bad", "libnice-gstreamer", NULL};

/* In detection order. */
static const cli_install_pm cli_install_pms[] = {
    {"apt", "apt-get", cli_install_apt_words, cli_install_apt_pkgs, cli_install_apt_stream,
     "fonts-dejavu-core", true},
    {"dnf", "dnf", cli_install_dnf_words, cli_install_dnf_pkgs, cli_install_dnf_stream,
     "dejavu-sans-fonts", false},
    {"apk", "apk", cli_install_apk_words, cli_install_apk_pkgs, cli_install_apk_stream,
     "ttf-dejavu", false},
};
#define CLI_INSTALL_NPMS (sizeof cli_install_pms / sizeof cli_install_pms[0])
#define CLI_INSTALL_MAX_PKGS 24

/* Every list, plus the fonts, must fit in cli_install_desktop.pkgs (the NULLs don't count). */
#define CLI_INSTALL_COUNT(a) (sizeof(a) / sizeof((a)[0]) - 1)
#define CLI_INSTALL_FITS(pkgs, stream)                                                             \
    _Static_assert(CLI_INSTALL_COUNT(pkgs) + CLI_INSTALL_COUNT(stream) + 1 <=                      \
                       CLI_INSTALL_MAX_PKGS,                                                       \
                   "raise CLI_INSTALL_MAX_PKGS")
CLI_INSTALL_FITS(cli_install_apt_pkgs, cli_install_apt_stream);
CLI_INSTALL_FITS(cli_install_dnf_pkgs, cli_install_dnf_stream);
CLI_INSTALL_FITS(cli_install_apk_pkgs, cli_install_apk_stream);

/* The run's choices. Lives on cli_install_desktop_main's stack; pkgs point into the tables. */
typedef struct cli_install_desktop {
    bool yes, print_only, no_fonts, no_streaming;
    const cli_install_pm *pm;
    const char *pkgs[CLI_INSTALL_MAX_PKGS];
    size_t npkgs;
    bool sudo; /* prefix every command with sudo */
} cli_install_desktop;

static const char cli_install_help[] =
    "Install first-party runtime dependencies\n"
    "\n"
    "Usage: sandbox-agent install [OPTIONS] <COMMAND>\n"
    "\n"
    "Commands:\n"
    "  desktop  Install desktop runtime dependencies\n"
    "  help     Print this message or the help of the given subcommand(s)\n"
    "\n"
    "Options:\n" CLI_ARGS_GLOBAL_HELP;

static const char cli_install_desktop_help[] =
    "Install desktop runtime dependencies\n"
    "\n"
    "Usage: sandbox-agent install desktop [OPTIONS]\n"
    "\n"
    "Options:\n"
    "      --yes                                Install without asking for confirmation\n"
    "      --print-only                         Print the packages and the command; install "
    "nothing\n"
    "      --package-manager <PACKAGE_MANAGER>  [possible values: apt, dnf, apk]\n"
    "                                           (default: the first of apt-get, dnf, apk on "
    "PATH)\n"
    "      --no-fonts                           Leave out the DejaVu fonts package\n"
    "      --no-streaming                       Leave out the GStreamer packages of the WebRTC "
    "stream\n"
    "  -t, --token <TOKEN>                      Accepted like everywhere; unused (no server)\n"
    "  -n, --no-token                           \n"
    "  -h, --help                               Print help\n";

/* ---- processes ---------------------------------------------------------------------------- */

static bool cli_install_on_path(const char *name) {
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/bin:/usr/bin";;) {
        size_t n = strcspn(p, ":");
        char *full = base_xasprintf("%.*s/%s", (int)n, n ? p : ".", name);
        struct stat st;
        bool ok = stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0;
        free(full);
        if (ok)
            return true;
        if (!p[n])
            return false;
        p += n + 1;
    }
}

/* Run argv (PATH searched) and wait. With out, its stdout is collected there and its stderr
 * discarded (a query); without, both are ours (the install). Ctrl-C reaches the child, which
 * is in our process group; we wait for it to end instead of dying first, as system() does.
 * Returns the wait status, or -1 (errno set) when it could not start. */
static int cli_install_run(char *const *argv, base_buf *out) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int pipefd[2] = {-1, -1};
    if (out) {
        if (pipe2(pipefd, O_CLOEXEC) != 0) {
            posix_spawn_file_actions_destroy(&fa);
            return -1;
        }
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGQUIT);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    int status = -1;
    if (out)
        close(pipefd[1]);
    if (rc == 0) {
        if (out) {
            char buf[4096];
            ssize_t n;
            while ((n = read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
                if (n > 0)
                    base_buf_append(out, buf, (size_t)n);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    } else {
        errno = rc;
    }
    if (out)
        close(pipefd[0]);
    int saved = errno;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    errno = saved;
    return rc == 0 ? status : -1;
}

/* ---- what is installed -------------------------------------------------------------------- */

/* Whether the package manager's database has the package. A query that cannot run (the
 * tool is absent: --package-manager names a foreign one) counts as not installed; the
 * install then reports the real problem. */
static bool cli_install_installed(const cli_install_pm *pm, const char *pkg) {
    if (!strcmp(pm->name, "apt")) {
        base_buf out;
        base_buf_init(&out);
        char *argv[] = {"dpkg-query", "-W", "-f=${Status}\n", (char *)pkg, NULL};
        int st = cli_install_run(argv, &out);
        base_buf_append(&out, "", 1);
        /* One line per architecture; "hold ok installed" counts too. */
        bool ok = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
                  strstr(out.data, " ok installed") != NULL;
        base_buf_free(&out);
        return ok;
    }
    char *rpm[] = {"rpm", "-q", "--whatprovides", (char *)pkg, NULL};
    char *apk[] = {"apk", "info", "-e", (char *)pkg, NULL};
    base_buf out;
    base_buf_init(&out);
    int st = cli_install_run(!strcmp(pm->name, "dnf") ? rpm : apk, &out);
    base_buf_free(&out);
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Keep in c->pkgs only the packages not installed yet. */
static void cli_install_keep_missing(cli_install_desktop *c) {
    size_t k = 0;
    for (size_t i = 0; i < c->npkgs; i++)
        if (!cli_install_installed(c->pm, c->pkgs[i]))
            c->pkgs[k++] = c->pkgs[i];
    c->npkgs = k;
}

/* ---- the plan ----------------------------------------------------------------------------- */

/* The commands as argv vectors: [0] apt-get update (apt only), then the install. Each is
 * NULL-terminated; the strings point into the tables. Caller frees the vectors. */
static size_t cli_install_commands(const cli_install_desktop *c, char **cmds[2]) {
    size_t n = 0;
    if (c->pm->update_first) {
        char **v = base_xcalloc(4, sizeof(char *));
        size_t k = 0;
        if (c->sudo)
            v[k++] = "sudo";
        v[k++] = "apt-get";
        v[k++] = "update";
        cmds[n++] = v;
    }
    size_t words = 0;
    while (c->pm->install[words])
        words++;
    char **v = base_xcalloc(1 + words + c->npkgs + 1, sizeof(char *));
    size_t k = 0;
    if (c->sudo)
        v[k++] = "sudo";
    for (size_t i = 0; i < words; i++)
        v[k++] = (char *)c->pm->install[i];
    for (size_t i = 0; i < c->npkgs; i++)
        v[k++] = (char *)c->pkgs[i];
    cmds[n++] = v;
    return n;
}

static char *cli_install_join(char *const *argv) {
    base_buf b;
    base_buf_init(&b);
    for (size_t i = 0; argv[i]; i++)
        base_buf_appendf(&b, "%s%s", i ? " " : "", argv[i]);
    return base_buf_steal(&b, NULL);
}

static void cli_install_print_plan(const cli_install_desktop *c, char **cmds[2], size_t ncmds) {
    printf("Desktop package manager: %s\nDesktop packages:\n", c->pm->name);
    for (size_t i = 0; i < c->npkgs; i++)
        printf("  - %s\n", c->pkgs[i]);
    printf("Install command:\n  ");
    for (size_t i = 0; i < ncmds; i++) {
        char *s = cli_install_join(cmds[i]);
        printf("%s%s", i ? " && " : "", s);
        free(s);
    }
    printf("\n");
    fflush(stdout);
}

/* The reference asks even when stdin is not a terminal: no answer (EOF) is a no. */
static bool cli_install_confirm(void) {
    printf("Proceed with desktop dependency installation? [y/N] ");
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return false;
    size_t len = strlen(line);
    const char *s = base_trim(line, &len);
    return (len == 1 && (s[0] == 'y' || s[0] == 'Y')) || (len == 3 && base_ascii_ieq(s, "yes", 3));
}

static int cli_install_execute(char **cmds[2], size_t ncmds) {
    for (size_t i = 0; i < ncmds; i++) {
        int st = cli_install_run(cmds[i], NULL);
        if (st == 0)
            continue;
        char *s = cli_install_join(cmds[i]);
        int rc;
        if (st < 0) {
            rc = cli_args_fail("failed to run `%s`: %s", s, strerror(errno));
        } else if (WIFSIGNALED(st)) {
            cli_args_fail("command `%s` was killed by signal %d", s, WTERMSIG(st));
            rc = 128 + WTERMSIG(st);
        } else {
            cli_args_fail("command `%s` exited with status %d", s, WEXITSTATUS(st));
            rc = WEXITSTATUS(st);
        }
        free(s);
        return rc;
    }
    printf("Desktop dependencies installed.\n");
    return 0;
}

/* ---- the command -------------------------------------------------------------------------- */

static int cli_install_parse(int argc, char **argv, cli_install_desktop *c) {
    cli_args_opt opts[] = {
        CLI_ARGS_GLOBAL_OPTS,
        {0, "yes", NULL, false, NULL, NULL, false},
        {0, "print-only", NULL, false, NULL, NULL, false},
        {0, "package-manager", "PACKAGE_MANAGER", true, "apt, dnf, apk", NULL, false},
        {0, "no-fonts", NULL, false, NULL, NULL, false},
        {0, "no-streaming", NULL, false, NULL, NULL, false},
    };
    cli_args_cmd cmd = {.name = "sandbox-agent install desktop",
                        .opts = opts,
                        .n_opts = sizeof opts / sizeof opts[0]};
    int i;
    int rc = cli_args_parse_or_help(&cmd, argc, argv, cli_install_desktop_help, &i);
    if (rc != CLI_ARGS_GO)
        return rc;
    c->yes = cli_args_seen(&cmd, "yes");
    c->print_only = cli_args_seen(&cmd, "print-only");
    c->no_fonts = cli_args_seen(&cmd, "no-fonts");
    c->no_streaming = cli_args_seen(&cmd, "no-streaming");
    const char *pm = cli_args_value(&cmd, "package-manager");
    for (size_t k = 0; k < CLI_INSTALL_NPMS; k++) {
        if (pm ? !strcmp(pm, cli_install_pms[k].name)
               : cli_install_on_path(cli_install_pms[k].probe)) {
            c->pm = &cli_install_pms[k];
            break;
        }
    }
    return CLI_ARGS_GO;
}

static bool cli_install_is_root(void) {
    const char *as = getenv("SANDBOX_AGENT_INSTALL_AS_NONROOT");
    return geteuid() == 0 && !(as && !strcmp(as, "1"));
}

static int cli_install_desktop_main(int argc, char **argv) {
    cli_install_desktop c = {0};
    int rc = cli_install_parse(argc, argv, &c);
    if (rc != CLI_ARGS_GO)
        return rc;
    if (!c.pm)
        return cli_args_fail(
            "could not detect a supported package manager. Automatic desktop dependency "
            "installation is supported on Debian/Ubuntu (apt), Fedora/RHEL (dnf), and Alpine "
            "(apk). Automatic installation is not supported on macOS, Windows, or Linux "
            "distributions without apt, dnf, or apk. Install the desktop dependencies manually "
            "on this distribution.");
    for (size_t i = 0; c.pm->packages[i]; i++)
        c.pkgs[c.npkgs++] = c.pm->packages[i];
    for (size_t i = 0; !c.no_streaming && c.pm->streaming[i]; i++)
        c.pkgs[c.npkgs++] = c.pm->streaming[i];
    if (!c.no_fonts)
        c.pkgs[c.npkgs++] = c.pm->fonts;
    if (!c.print_only) {
        cli_install_keep_missing(&c);
        if (!c.npkgs) {
            printf("Desktop package manager: %s\nDesktop dependencies are already installed.\n",
                   c.pm->name);
            return 0;
        }
    }
    if (!cli_install_is_root()) {
        if (!cli_install_on_path("sudo"))
            return cli_args_fail("desktop installation requires root or sudo access; rerun as "
                                 "root or install dependencies manually");
        c.sudo = true;
    }
    char **cmds[2];
    size_t ncmds = cli_install_commands(&c, cmds);
    cli_install_print_plan(&c, cmds, ncmds);
    if (c.print_only)
        rc = 0;
    else if (!c.yes && !cli_install_confirm())
        rc = cli_args_fail("installation cancelled");
    else
        rc = cli_install_execute(cmds, ncmds);
    for (size_t i = 0; i < ncmds; i++)
        free(cmds[i]);
    return rc;
}

static const cli_args_sub cli_install_subs[] = {
    {"desktop", cli_install_desktop_help, cli_install_desktop_main},
};

int cli_install_main(int argc, char **argv) {
    return cli_args_dispatch("sandbox-agent install", cli_install_help, cli_install_subs,
                             sizeof cli_install_subs / sizeof cli_install_subs[0], argc, argv);
}
