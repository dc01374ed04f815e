/* args.c - the shared command-line parser (see args.h). It follows clap 4 as the reference
 * CLI uses it: option clusters (-rn), "--name=value", values that look like options are
 * refused, repeated options are errors, and -h/--help acts at once. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "cli/args.h"

static const char *cli_args_tail(const cli_args_cmd *c) {
    if (c->usage_tail)
        return c->usage_tail;
    return c->has_subcommands ? " <COMMAND>" : "";
}

static void cli_args_usage_err(const cli_args_cmd *c) {
    fprintf(stderr, "\nUsage: %s [OPTIONS]%s\n" CLI_ARGS_MORE, c->name, cli_args_tail(c));
}

static int cli_args_unexpected(const cli_args_cmd *c, const char *arg, size_t n) {
    fprintf(stderr, "error: unexpected argument '%.*s' found\n", (int)n, arg);
    cli_args_usage_err(c);
    return 2;
}

static void cli_args_opt_label(const cli_args_opt *o, char *buf, size_t cap) {
    if (o->value_name)
        snprintf(buf, cap, "--%s <%s>", o->long_name, o->value_name);
    else
        snprintf(buf, cap, "--%s", o->long_name);
}

static int cli_args_missing(const cli_args_opt *o) {
    char label[64];
    cli_args_opt_label(o, label, sizeof label);
    fprintf(stderr, "error: a value is required for '%s' but none was supplied\n", label);
    if (o->possible)
        fprintf(stderr, "  [possible values: %s]\n", o->possible);
    fputs(CLI_ARGS_MORE, stderr);
    return 2;
}

static const cli_args_opt *cli_args_find_short(const cli_args_cmd *c, char ch) {
    for (size_t i = 0; i < c->n_opts; i++)
        if (c->opts[i].short_name && c->opts[i].short_name == ch)
            return &c->opts[i];
    return NULL;
}

static const cli_args_opt *cli_args_find_long(const cli_args_cmd *c, const char *name, size_t n) {
    for (size_t i = 0; i < c->n_opts; i++)
        if (strlen(c->opts[i].long_name) == n && !memcmp(c->opts[i].long_name, name, n))
            return &c->opts[i];
    return NULL;
}

/* Record one occurrence; value is NULL for flags. Returns 0, or 2 after printing. */
static int cli_args_set(const cli_args_cmd *c, cli_args_opt *o, const char *value) {
    if (o->seen) {
        char label[64];
        cli_args_opt_label(o, label, sizeof label);
        fprintf(stderr, "error: the argument '%s' cannot be used multiple times\n", label);
        cli_args_usage_err(c);
        return 2;
    }
    if (value && o->nonempty && !*value)
        return cli_args_missing(o);
    if (value && o->possible) {
        bool ok = false;
        for (const char *p = o->possible; *p;) {
            size_t n = strcspn(p, ",");
            if (strlen(value) == n && !memcmp(p, value, n))
                ok = true;
            p += n;
            while (*p == ',' || *p == ' ')
                p++;
        }
        if (!ok) {
            char label[64];
            cli_args_opt_label(o, label, sizeof label);
            fprintf(stderr,
                    "error: invalid value '%s' for '%s'\n  [possible values: "
                    "%s]\n" CLI_ARGS_MORE,
                    value, label, o->possible);
            return 2;
        }
    }
    o->seen = true;
    o->value = value;
    return 0;
}

/* The value of an option that takes one, from the next argument. clap does not take a
 * value that looks like an option: a known one means "value required", an unknown one is
 * reported as unexpected. */
static int cli_args_next_value(const cli_args_cmd *c, cli_args_opt *o, int argc, char **argv,
                               int *i) {
    if (*i + 1 >= argc)
        return cli_args_missing(o);
    const char *v = argv[*i + 1];
    if (v[0] == '-' && v[1]) {
        bool known;
        size_t n = strlen(v);
        if (v[1] == '-') {
            size_t nl = strcspn(v + 2, "=");
            known =
                !v[2] || (nl == 4 && !memcmp(v + 2, "help", 4)) || cli_args_find_long(c, v + 2, nl);
            n = 2 + nl;
        } else {
            known = v[1] == 'h' || cli_args_find_short(c, v[1]) != NULL;
            n = 2;
        }
        if (known)
            return cli_args_missing(o);
        return cli_args_unexpected(c, v, n);
    }
    ++*i;
    return cli_args_set(c, o, v);
}

/* Parse argv[*i..] for cmd. Stops at the first positional when cmd has subcommands (*i
 * then indexes it); any positional is an error otherwise. Sets *help on -h/--help (clap
 * acts on it at once). Returns 0, or 2 after printing a usage error. */
int cli_args_parse(cli_args_cmd *c, int argc, char **argv, int *i, bool *help) {
    bool dashdash = false;
    for (; *i < argc; ++*i) {
        const char *a = argv[*i];
        if (dashdash || a[0] != '-' || !a[1]) {
            if (c->has_subcommands && !dashdash)
                return 0;
            if (c->n_positional < c->max_positional &&
                c->n_positional < sizeof c->positional / sizeof c->positional[0]) {
                c->positional[c->n_positional++] = a;
                continue;
            }
            return cli_args_unexpected(c, a, strlen(a));
        }
        if (!strcmp(a, "--")) {
            dashdash = true;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            if (n == 4 && !memcmp(name, "help", 4)) {
                if (eq) {
                    fprintf(stderr,
                            "error: unexpected value '%s' for '--help' found; no more were "
                            "expected\n\nUsage: %s --help%s\n" CLI_ARGS_MORE,
                            eq + 1, c->name, cli_args_tail(c));
                    return 2;
                }
                *help = true;
                return 0;
            }
            cli_args_opt *o = (cli_args_opt *)cli_args_find_long(c, name, n);
            if (!o)
                return cli_args_unexpected(c, a, 2 + n);
            int rc;
            if (!o->value_name) {
                if (eq) {
                    fprintf(stderr,
                            "error: unexpected value '%s' for '--%s' found; no more were "
                            "expected\n\nUsage: %s --%s%s\n" CLI_ARGS_MORE,
                            eq + 1, o->long_name, c->name, o->long_name, cli_args_tail(c));
                    return 2;
                }
                rc = cli_args_set(c, o, NULL);
            } else if (eq) {
                rc = cli_args_set(c, o, eq + 1);
            } else {
                rc = cli_args_next_value(c, o, argc, argv, i);
            }
            if (rc)
                return rc;
            continue;
        }
        /* A cluster of short options: -rn, -aclaude, -a=claude, -ra claude. */
        for (const char *p = a + 1; *p; p++) {
            if (*p == 'h') {
                *help = true;
                return 0;
            }
            cli_args_opt *o = (cli_args_opt *)cli_args_find_short(c, *p);
            if (!o) {
                char bad[3] = {'-', *p, 0};
                return cli_args_unexpected(c, bad, 2);
            }
            int rc;
            if (!o->value_name) {
                rc = cli_args_set(c, o, NULL);
            } else if (p[1]) {
                rc = cli_args_set(c, o, p[1] == '=' ? p + 2 : p + 1);
                if (rc)
                    return rc;
                break;
            } else {
                rc = cli_args_next_value(c, o, argc, argv, i);
            }
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- lookups and helpers ------------------------------------------------------------------ */

cli_args_opt *cli_args_get(cli_args_cmd *c, const char *long_name) {
    cli_args_opt *o = (cli_args_opt *)cli_args_find_long(c, long_name, strlen(long_name));
    if (!o) { /* a programming error: the table lacks the option the code asks for */
        fprintf(stderr, "internal error: no option --%s in %s\n", long_name, c->name);
        abort();
    }
    return o;
}

const char *cli_args_value(cli_args_cmd *c, const char *long_name) {
    return cli_args_get(c, long_name)->value;
}

bool cli_args_seen(cli_args_cmd *c, const char *long_name) {
    return cli_args_get(c, long_name)->seen;
}

int cli_args_usage_error(const cli_args_cmd *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    cli_args_usage_err(c);
    return 2;
}

/* Rust's str Debug escaping, as the reference prints its error value. */
static void cli_args_debug_str(base_buf *b, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            base_buf_appendf(b, "\\%c", c);
        else if (c == '\n')
            base_buf_appends(b, "\\n");
        else if (c == '\r')
            base_buf_appends(b, "\\r");
        else if (c == '\t')
            base_buf_appends(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            base_buf_appendf(b, "\\u{%x}", c);
        else
            base_buf_append(b, s, 1);
    }
}

int cli_args_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = base_xvasprintf(fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    /* The reference's timestamp: nanoseconds with trailing zeros dropped (none at all when
     * the fraction is zero). */
    char frac[12] = "";
    if (ts.tv_nsec) {
        snprintf(frac, sizeof frac, ".%09ld", (long)ts.tv_nsec);
        for (size_t n = strlen(frac); frac[n - 1] == '0'; n--)
            frac[n - 1] = 0;
    }
    base_buf b;
    base_buf_init(&b);
    base_buf_appendf(&b,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d%sZ level=error target=sandbox_agent "
                     "message=\"sandbox-agent failed\" error=\"server error: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     frac);
    cli_args_debug_str(&b, msg ? msg : "out of memory");
    base_buf_appends(&b, "\"\n");
    fwrite(b.data, 1, b.len, stderr);
    base_buf_free(&b);
    free(msg);
    return 1;
}

int cli_args_unknown_subcommand(const cli_args_cmd *c, const char *sub) {
    fprintf(stderr, "error: unrecognized subcommand '%s'\n", sub);
    cli_args_usage_err(c);
    return 2;
}

void cli_args_sub_argv(const cli_args_cmd *c, int argc, char **argv, int sub, cli_args_subv *out) {
    char **v = base_xcalloc((size_t)(argc - sub) + 3, sizeof(char *));
    int n = 0;
    out->token_arg = NULL;
    v[n++] = argv[sub];
    /* Only the two globals are forwarded; they sit first in every table. The "=" form
     * keeps a token that starts with '-' a value. */
    if (c->n_opts > CLI_ARGS_NO_TOKEN) {
        if (c->opts[CLI_ARGS_TOKEN].seen)
            v[n++] = out->token_arg = base_xasprintf("--token=%s", c->opts[CLI_ARGS_TOKEN].value);
        if (c->opts[CLI_ARGS_NO_TOKEN].seen)
            v[n++] = "--no-token";
    }
    for (int k = sub + 1; k < argc; k++)
        v[n++] = argv[k];
    v[n] = NULL;
    out->argc = n;
    out->argv = v;
}

void cli_args_subv_free(cli_args_subv *s) {
    free(s->token_arg);
    free(s->argv);
}

const char *cli_args_token(cli_args_cmd *c) {
    if (cli_args_seen(c, "no-token"))
        return NULL;
    return cli_args_value(c, "token");
}

/* `<group> help [COMMAND]`: the group's help, or one subcommand's. */
static int cli_args_help_cmd(cli_args_cmd *c, const char *help, const cli_args_sub *subs, size_t n,
                             int argc, char **argv, int i) {
    if (i >= argc) {
        fputs(help, stdout);
        return 0;
    }
    for (size_t k = 0; k < n; k++) {
        if (!strcmp(argv[i], subs[k].name)) {
            fputs(subs[k].help, stdout);
            return 0;
        }
    }
    return cli_args_unknown_subcommand(c, argv[i]);
}

int cli_args_parse_or_help(cli_args_cmd *c, int argc, char **argv, const char *help, int *i) {
    *i = 1;
    bool help_flag = false;
    int rc = cli_args_parse(c, argc, argv, i, &help_flag);
    if (rc)
        return rc;
    if (help_flag) {
        fputs(help, stdout);
        return 0;
    }
    return CLI_ARGS_GO;
}

int cli_args_dispatch(const char *name, const char *help, const cli_args_sub *subs, size_t n,
                      int argc, char **argv) {
    cli_args_opt opts[] = {CLI_ARGS_GLOBAL_OPTS};
    cli_args_cmd cmd = {.name = name, .has_subcommands = true, .opts = opts, .n_opts = 2};
    int i;
    int rc = cli_args_parse_or_help(&cmd, argc, argv, help, &i);
    if (rc != CLI_ARGS_GO)
        return rc;
    if (i >= argc) {
        fputs(help, stderr);
        return 2;
    }
    if (!strcmp(argv[i], "help"))
        return cli_args_help_cmd(&cmd, help, subs, n, argc, argv, i + 1);
    for (size_t k = 0; k < n; k++) {
        if (strcmp(argv[i], subs[k].name))
            continue;
        cli_args_subv sv;
        cli_args_sub_argv(&cmd, argc, argv, i, &sv);
        rc = subs[k].run(sv.argc, sv.argv);
        cli_args_subv_free(&sv);
        return rc;
    }
    return cli_args_unknown_subcommand(&cmd, argv[i]);
}
