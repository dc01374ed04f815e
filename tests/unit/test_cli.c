/* test_cli.c - the CLI's pure pieces: endpoint parsing and path encoding of the HTTP
 * client, and the shared argument parser (positionals, clusters, global forwarding). */
#include "cli/args.h"
#include "cli/http_client.h"
#include "unit.h"

static void test_endpoint_ok(const char *url, const char *host, const char *port,
                             const char *prefix, const char *norm) {
    cli_http_endpoint ep;
    char err[256] = "";
    CHECK(cli_http_endpoint_parse(url, &ep, err, sizeof err));
    CHECK_STR(ep.host, host);
    CHECK_STR(ep.port, port);
    CHECK_STR(ep.prefix, prefix);
    CHECK_STR(ep.url, norm);
    cli_http_endpoint_free(&ep);
}

static void test_endpoint_bad(const char *url, const char *why) {
    cli_http_endpoint ep;
    char err[256] = "";
    CHECK(!cli_http_endpoint_parse(url, &ep, err, sizeof err));
    CHECK(strstr(err, why) != NULL);
}

static void test_endpoints(void) {
    test_endpoint_ok("http://127.0.0.1:2468", "127.0.0.1", "2468", "", "http://127.0.0.1:2468");
    test_endpoint_ok("http://host", "host", "80", "", "http://host:80");
    test_endpoint_ok("localhost:9", "localhost", "9", "", "http://localhost:9");
    test_endpoint_ok("http://h:1/api/", "h", "1", "/api", "http://h:1/api");
    test_endpoint_ok("http://h:1//", "h", "1", "", "http://h:1");
    test_endpoint_ok("http://[::1]:8080/x", "::1", "8080", "/x", "http://[::1]:8080/x");
    test_endpoint_bad("https://h", "https is not supported");
    test_endpoint_bad("ftp://h", "only http://");
    test_endpoint_bad("http://:80", "no host");
    test_endpoint_bad("http://h:0", "bad port");
    test_endpoint_bad("http://h:65536", "bad port");
    test_endpoint_bad("http://h:12ab", "unexpected 'a'");
    test_endpoint_bad("http://[::1", "unterminated");
    test_endpoint_bad("http://h/p?q=1", "no query");
}

static void test_segment(void) {
    base_buf b;
    base_buf_init(&b);
    cli_http_append_segment(&b, "a/b c~._-%Z\xc3\xa9");
    base_buf_append(&b, "", 1);
    CHECK_STR(b.data, "a%2Fb%20c~._-%25Z%C3%A9");
    base_buf_free(&b);
}

static void test_args(void) {
    char *argv[] = {"install-agent", "-rt", "tok", "mock", "--agent-version=1.2", NULL};
    cli_args_opt opts[] = {
        CLI_ARGS_GLOBAL_OPTS,
        {'r', "reinstall", NULL, false, NULL, NULL, false},
        {0, "agent-version", "V", false, NULL, NULL, false},
    };
    cli_args_cmd cmd = {.name = "x", .opts = opts, .n_opts = 4, .max_positional = 1};
    int i = 1;
    bool help = false;
    CHECK(cli_args_parse(&cmd, 5, argv, &i, &help) == 0);
    CHECK(!help);
    CHECK(cli_args_seen(&cmd, "reinstall"));
    CHECK_STR(cli_args_token(&cmd), "tok");
    CHECK_STR(cli_args_value(&cmd, "agent-version"), "1.2");
    CHECK(cmd.n_positional == 1);
    CHECK_STR(cmd.positional[0], "mock");
    opts[CLI_ARGS_NO_TOKEN].seen = true;
    CHECK(cli_args_token(&cmd) == NULL); /* -n wins */
}

static void test_forwarding(void) {
    char *argv[] = {"api", "-t", "-x", "agents", "list", NULL};
    cli_args_opt opts[] = {CLI_ARGS_GLOBAL_OPTS};
    cli_args_cmd cmd = {.name = "api", .has_subcommands = true, .opts = opts, .n_opts = 2};
    int i = 1;
    bool help = false;
    /* "-x" looks like an option: clap refuses it as a value. */
    fflush(stderr);
    CHECK(cli_args_parse(&cmd, 5, argv, &i, &help) == 2);
    char *argv2[] = {"api", "--token=-x", "agents", "list", NULL};
    cli_args_opt opts2[] = {CLI_ARGS_GLOBAL_OPTS};
    cli_args_cmd cmd2 = {.name = "api", .has_subcommands = true, .opts = opts2, .n_opts = 2};
    i = 1;
    CHECK(cli_args_parse(&cmd2, 4, argv2, &i, &help) == 0);
    CHECK(i == 2);
    cli_args_subv sv;
    cli_args_sub_argv(&cmd2, 4, argv2, i, &sv);
    CHECK(sv.argc == 3);
    CHECK_STR(sv.argv[0], "agents");
    CHECK_STR(sv.argv[1], "--token=-x"); /* the "=" form keeps a dash-led token a value */
    CHECK_STR(sv.argv[2], "list");
    CHECK(sv.argv[3] == NULL);
    cli_args_subv_free(&sv);
}

UNIT_MAIN(test_endpoints(); test_segment(); test_args(); test_forwarding())
