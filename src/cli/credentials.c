/* credentials.c - `sandbox-agent credentials extract|extract-env` (agents.md §7).
 *
 * Discovery itself lives in src/agents/credentials.c; this file parses the command line
 * with the shared parser (args.h: the reference's help texts, error texts and exit codes),
 * and prints the three output forms: pretty JSON with redacted keys, a raw token, or
 * NAME=value lines. Runtime failures print the reference's logfmt error line and exit 1;
 * usage errors exit 2. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "agents/credentials.h"
#include "base/base.h"
#include "cli/args.h"
#include "cli/cli.h"

/* ---- help texts (byte-for-byte those of 0.4.2, trailing blanks included) --------------- */

static const char cli_credentials_help_top[] =
    "Inspect locally discovered credentials\n"
    "\n"
    "Usage: sandbox-agent credentials [OPTIONS] <COMMAND>\n"
    "\n"
    "Commands:\n"
    "  extract      Extract credentials using local discovery rules\n"
    "  extract-env  Output credentials as environment variable assignments\n"
    "  help         Print this message or the help of the given subcommand(s)\n"
    "\n"
    "Options:\n"
    CLI_ARGS_GLOBAL_HELP;

static const char cli_credentials_help_extract[] =
    "Extract credentials using local discovery rules\n"
    "\n"
    "Usage: sandbox-agent credentials extract [OPTIONS]\n"
    "\n"
    "Options:\n"
    "  -a, --agent <AGENT>        [possible values: claude, codex, opencode, amp]\n"
    "  -p, --provider <PROVIDER>  \n"
    "  -d, --home-dir <HOME_DIR>  \n"
    "      --no-oauth             \n"
    "  -r, --reveal               \n"
    "  -t, --token <TOKEN>        \n"
    "  -n, --no-token             \n"
    "  -h, --help                 Print help\n";

static const char cli_credentials_help_env[] =
    "Output credentials as environment variable assignments\n"
    "\n"
    "Usage: sandbox-agent credentials extract-env [OPTIONS]\n"
    "\n"
    "Options:\n"
    "  -e, --export               \n"
    "  -d, --home-dir <HOME_DIR>  \n"
    "      --no-oauth             \n"
    "  -t, --token <TOKEN>        \n"
    "  -n, --no-token             \n"
    "  -h, --help                 Print help\n";

static const char cli_credentials_help_help[] =
    "Print this message or the help of the given subcommand(s)\n"
    "\n"
    "Usage: sandbox-agent credentials help [COMMAND]...\n"
    "\n"
    "Arguments:\n"
    "  [COMMAND]...  Print help for the subcommand(s)\n";

#define CLI_CREDENTIALS_AGENTS "claude, codex, opencode, amp"
/* ---- output ------------------------------------------------------------------------------ */

/* A JSON string as serde_json writes it: the two-character escapes, \u00xx (lowercase) for
 * the other control characters, everything else (DEL, non-ASCII, '/') verbatim. */
static void cli_credentials_json_str(base_buf *b, const char *s, size_t n) {
    base_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            base_buf_appends(b, "\\\"");
            break;
        case '\\':
            base_buf_appends(b, "\\\\");
            break;
        case '\b':
            base_buf_appends(b, "\\b");
            break;
        case '\f':
            base_buf_appends(b, "\\f");
            break;
        case '\n':
            base_buf_appends(b, "\\n");
            break;
        case '\r':
            base_buf_appends(b, "\\r");
            break;
        case '\t':
            base_buf_appends(b, "\\t");
            break;
        default:
            if (c < 0x20)
                base_buf_appendf(b, "\\u%04x", c);
            else
                base_buf_append(b, &s[i], 1);
        }
    }
    base_buf_append(b, "\"", 1);
}

/* One credential object at the given indent (its braces' indent), serde pretty style. */
static void cli_credentials_json_cred(base_buf *b, const agents_credential *c, int ind,
                                      bool reveal) {
    size_t klen = c->api_key_len;
    char *redacted = reveal ? NULL : agents_credentials_redact(c->api_key, c->api_key_len, &klen);
    base_buf_appends(b, "{\n");
    base_buf_appendf(b, "%*s\"provider\": ", ind + 2, "");
    cli_credentials_json_str(b, c->provider, strlen(c->provider));
    base_buf_appendf(b, ",\n%*s\"source\": ", ind + 2, "");
    cli_credentials_json_str(b, c->source, strlen(c->source));
    base_buf_appendf(b, ",\n%*s\"auth_type\": \"%s\",\n%*s\"api_key\": ", ind + 2, "",
                     c->auth_type == AGENTS_CREDENTIALS_OAUTH ? "oauth" : "api_key", ind + 2, "");
    cli_credentials_json_str(b, redacted ? redacted : c->api_key, klen);
    base_buf_appendf(b, ",\n%*s\"redacted\": %s\n%*s}", ind + 2, "", reveal ? "false" : "true", ind,
                     "");
    free(redacted);
}

static void cli_credentials_print_json(const agents_credentials *c, bool reveal) {
    base_buf b;
    base_buf_init(&b);
    base_buf_appends(&b, "{\n  \"anthropic\": ");
    if (c->anthropic)
        cli_credentials_json_cred(&b, c->anthropic, 2, reveal);
    else
        base_buf_appends(&b, "null");
    base_buf_appends(&b, ",\n  \"openai\": ");
    if (c->openai)
        cli_credentials_json_cred(&b, c->openai, 2, reveal);
    else
        base_buf_appends(&b, "null");
    base_buf_appends(&b, ",\n  \"other\": {");
    for (size_t i = 0; i < c->n_other; i++) {
        base_buf_appends(&b, i ? ",\n    " : "\n    ");
        cli_credentials_json_str(&b, c->other[i].provider, strlen(c->other[i].provider));
        base_buf_appends(&b, ": ");
        cli_credentials_json_cred(&b, &c->other[i], 4, reveal);
    }
    base_buf_appends(&b, c->n_other ? "\n  }\n}\n" : "}\n}\n");
    fwrite(b.data, 1, b.len, stdout);
    /* The buffer held revealed keys when --reveal was given. */
    explicit_bzero(b.data, b.len);
    base_buf_free(&b);
}

static int cli_credentials_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The token `extract --agent/--provider` prints (§7.3), or a failure. */
static int cli_credentials_select(const agents_credentials *c, const char *agent,
                                  const char *provider) {
    const agents_credential *cred = NULL;
    if (agent && strcmp(agent, "opencode")) {
        bool codex = !strcmp(agent, "codex");
        const char *want = codex ? "openai" : "anthropic";
        if (provider && strcmp(provider, want))
            return cli_args_fail("agent %s only supports provider %s",
                                 codex                      ? "Codex"
                                 : !strcmp(agent, "claude") ? "Claude"
                                                            : "Amp",
                                 want);
        provider = want;
    }
    if (provider) {
        cred = agents_credentials_find(c, provider);
        if (!cred)
            return cli_args_fail("no credentials found for provider %s", provider);
    } else {
        /* opencode without --provider: openai, else anthropic, else a lone other entry. */
        cred = c->openai ? c->openai : c->anthropic;
        if (!cred && c->n_other == 1)
            cred = &c->other[0];
        if (!cred && c->n_other == 0)
            return cli_args_fail("no credentials found for opencode");
        if (!cred) {
            const char **names = base_xcalloc(c->n_other, sizeof *names);
            for (size_t i = 0; i < c->n_other; i++)
                names[i] = c->other[i].provider;
            qsort(names, c->n_other, sizeof *names, cli_credentials_cmp);
            base_buf list;
            base_buf_init(&list);
            for (size_t i = 0; i < c->n_other; i++)
                base_buf_appendf(&list, "%s%s", i ? ", " : "", names[i]);
            free(names);
            int rc = cli_args_fail("multiple providers available for opencode: %s (use --provider)",
                                   list.data);
            base_buf_free(&list);
            return rc;
        }
    }
    fwrite(cred->api_key, 1, cred->api_key_len, stdout);
    fputc('\n', stdout);
    return 0;
}

/* <PROVIDER>_API_KEY: uppercased like Rust's str::to_uppercase (Unicode-aware through the
 * C.UTF-8 locale, ASCII only if that is missing), '-' turned into '_', nothing else. */
static char *cli_credentials_env_name(const char *provider) {
    static locale_t loc;
    static bool tried;
    if (!tried) {
        loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        tried = true;
    }
    base_buf b;
    base_buf_init(&b);
    const unsigned char *s = (const unsigned char *)provider;
    while (*s) {
        unsigned cp = *s;
        size_t n = 1;
        if (cp >= 0xC0 && cp < 0xE0 && (s[1] & 0xC0) == 0x80) {
            cp = ((cp & 0x1Fu) << 6) | (s[1] & 0x3Fu), n = 2;
        } else if (cp >= 0xE0 && cp < 0xF0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
            cp = ((cp & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu), n = 3;
        } else if (cp >= 0xF0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
                   (s[3] & 0xC0) == 0x80) {
            cp = ((cp & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) |
                 (s[3] & 0x3Fu),
            n = 4;
        }
        if (cp == '-') {
            base_buf_append(&b, "_", 1);
        } else if (cp == 0xDF) { /* ß has no single-character capital: Rust gives "SS" */
            base_buf_appends(&b, "SS");
        } else if (cp < 0x80 || !loc) {
            if (n == 1) {
                char ch = cp >= 'a' && cp <= 'z' ? (char)(cp - 32) : (char)cp;
                base_buf_append(&b, &ch, 1);
            } else {
                base_buf_append(&b, s, n);
            }
        } else {
            unsigned u = (unsigned)towupper_l((wint_t)cp, loc);
            char enc[4];
            size_t m;
            if (u < 0x800)
                enc[0] = (char)(0xC0 | (u >> 6)), enc[1] = (char)(0x80 | (u & 0x3F)), m = 2;
            else if (u < 0x10000)
                enc[0] = (char)(0xE0 | (u >> 12)), enc[1] = (char)(0x80 | ((u >> 6) & 0x3F)),
                enc[2] = (char)(0x80 | (u & 0x3F)), m = 3;
            else
                enc[0] = (char)(0xF0 | (u >> 18)), enc[1] = (char)(0x80 | ((u >> 12) & 0x3F)),
                enc[2] = (char)(0x80 | ((u >> 6) & 0x3F)), enc[3] = (char)(0x80 | (u & 0x3F)),
                m = 4;
            base_buf_append(&b, enc, m);
        }
        s += n;
    }
    base_buf_appends(&b, "_API_KEY");
    return base_buf_steal(&b, NULL);
}

static void cli_credentials_env_line(const char *prefix, const char *name,
                                     const agents_credential *c) {
    fputs(prefix, stdout);
    fputs(name, stdout);
    fputc('=', stdout);
    fwrite(c->api_key, 1, c->api_key_len, stdout);
    fputc('\n', stdout);
}

static void cli_credentials_print_env(const agents_credentials *c, bool export_) {
    const char *prefix = export_ ? "export " : "";
    if (c->anthropic) {
        cli_credentials_env_line(prefix, "ANTHROPIC_API_KEY", c->anthropic);
        cli_credentials_env_line(prefix, "CLAUDE_API_KEY", c->anthropic);
    }
    if (c->openai) {
        cli_credentials_env_line(prefix, "OPENAI_API_KEY", c->openai);
        cli_credentials_env_line(prefix, "CODEX_API_KEY", c->openai);
    }
    for (size_t i = 0; i < c->n_other; i++) {
        char *name = cli_credentials_env_name(c->other[i].provider);
        cli_credentials_env_line(prefix, name, &c->other[i]);
        free(name);
    }
}

/* ---- subcommands ------------------------------------------------------------------------- */

enum { CLI_CRED_TOKEN, CLI_CRED_NO_TOKEN, CLI_CRED_HOME, CLI_CRED_NO_OAUTH, CLI_CRED_COMMON };

/* Options every subcommand shares, in the order of the tables below. */
#define CLI_CREDENTIALS_COMMON_OPTS                                                                \
    {'t', "token", "TOKEN", false, NULL, NULL, false},                                             \
        {'n', "no-token", NULL, false, NULL, NULL, false},                                         \
        {'d', "home-dir", "HOME_DIR", true, NULL, NULL, false}, {                                  \
        0, "no-oauth", NULL, false, NULL, NULL, false                                              \
    }

static int cli_credentials_extract(int argc, char **argv, int i, bool env_form) {
    cli_args_opt opts[] = {
        CLI_CREDENTIALS_COMMON_OPTS,
        {'a', "agent", "AGENT", true, CLI_CREDENTIALS_AGENTS, NULL, false},
        {'p', "provider", "PROVIDER", false, NULL, NULL, false},
        {'r', "reveal", NULL, false, NULL, NULL, false},
        {'e', "export", NULL, false, NULL, NULL, false},
    };
    cli_args_opt env_opts[] = {
        CLI_CREDENTIALS_COMMON_OPTS,
        {'e', "export", NULL, false, NULL, NULL, false},
    };
    cli_args_cmd cmd = {
        .name = env_form ? "sandbox-agent credentials extract-env"
                         : "sandbox-agent credentials extract",
        .opts = env_form ? env_opts : opts,
        /* extract has no --export: leave the last entry out of its table. */
        .n_opts =
            env_form ? sizeof env_opts / sizeof env_opts[0] : sizeof opts / sizeof opts[0] - 1,
    };
    bool help = false;
    int rc = cli_args_parse(&cmd, argc, argv, &i, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(env_form ? cli_credentials_help_env : cli_credentials_help_extract, stdout);
        return 0;
    }
    agents_credentials c;
    agents_credentials_discover(cmd.opts[CLI_CRED_HOME].value, !cmd.opts[CLI_CRED_NO_OAUTH].seen,
                                &c);
    if (env_form) {
        cli_credentials_print_env(&c, env_opts[CLI_CRED_COMMON].seen);
    } else if (opts[CLI_CRED_COMMON].seen || opts[CLI_CRED_COMMON + 1].seen) {
        rc = cli_credentials_select(&c, opts[CLI_CRED_COMMON].value,
                                    opts[CLI_CRED_COMMON + 1].value);
    } else {
        cli_credentials_print_json(&c, opts[CLI_CRED_COMMON + 2].seen);
    }
    agents_credentials_free(&c);
    fflush(stdout);
    return rc;
}

/* `credentials help [COMMAND]...` */
static int cli_credentials_help_cmd(int argc, char **argv, int i) {
    static const struct {
        const char *name, *text, *usage;
    } subs[] = {
        {"extract", cli_credentials_help_extract, "sandbox-agent credentials extract [OPTIONS]"},
        {"extract-env", cli_credentials_help_env,
         "sandbox-agent credentials extract-env [OPTIONS]"},
        {"help", cli_credentials_help_help, "sandbox-agent credentials help [COMMAND]..."},
    };
    if (i >= argc) {
        fputs(cli_credentials_help_top, stdout);
        return 0;
    }
    for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++) {
        if (strcmp(argv[i], subs[k].name))
            continue;
        if (i + 1 < argc) { /* subcommands have no subcommands of their own */
            fprintf(stderr, "error: unrecognized subcommand '%s'\n\nUsage: %s\n%s", argv[i + 1],
                    subs[k].usage, k == 2 ? "" : CLI_ARGS_MORE);
            return 2;
        }
        fputs(subs[k].text, stdout);
        return 0;
    }
    fprintf(stderr,
            "error: unrecognized subcommand '%s'\n\nUsage: sandbox-agent credentials [OPTIONS] "
            "<COMMAND>\n" CLI_ARGS_MORE,
            argv[i]);
    return 2;
}

int cli_credentials_main(int argc, char **argv) {
    /* The global -t/-n are accepted before the subcommand too; neither means anything to
     * a command that never talks to a server. */
    cli_args_opt opts[] = {
        {'t', "token", "TOKEN", false, NULL, NULL, false},
        {'n', "no-token", NULL, false, NULL, NULL, false},
    };
    cli_args_cmd cmd = {
        .name = "sandbox-agent credentials", .has_subcommands = true, .opts = opts, .n_opts = 2};
    int i;
    int rc = cli_args_parse_or_help(&cmd, argc, argv, cli_credentials_help_top, &i);
    if (rc != CLI_ARGS_GO)
        return rc;
    if (i >= argc) {
        fputs(cli_credentials_help_top, stderr);
        return 2;
    }
    const char *sub = argv[i];
    if (!strcmp(sub, "extract"))
        return cli_credentials_extract(argc, argv, i + 1, false);
    if (!strcmp(sub, "extract-env"))
        return cli_credentials_extract(argc, argv, i + 1, true);
    if (!strcmp(sub, "help"))
        return cli_credentials_help_cmd(argc, argv, i + 1);
    fprintf(stderr,
            "error: unrecognized subcommand '%s'\n\nUsage: sandbox-agent credentials [OPTIONS] "
            "<COMMAND>\n" CLI_ARGS_MORE,
            sub);
    return 2;
}
