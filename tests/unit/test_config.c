/* test_config.c - the config module (src/config/): entry validation and normalisation with
 * the reference's error wording, whole-file parsing, serde-compatible serialisation, the file
 * helpers (atomic replace, mode and symlink kept, refusing what is not a regular file), and
 * the routes end to end on a real loopback port, including concurrent writers of one file,
 * whose updates must all survive now that the file work runs on the thread pool. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/internal.h"
#include "unit.h"
#include "http_fixture.h"

/* ---- schema -----------------------------------------------------------------------------------
 */

/* Normalise text as an entry of kind k: the compact serialisation, or "ERR: <message>". */
static char *norm(const config_kind *k, const char *text) {
    json_error_t e;
    json_t *in = json_loads(text, JSON_DECODE_ANY, &e);
    if (!in)
        return base_xasprintf("BAD TEST JSON: %s", e.text);
    char err[768];
    json_t *out = config_normalize_entry(k, in, err, sizeof err);
    json_decref(in);
    if (!out)
        return base_xasprintf("ERR: %s", err);
    char *s = config_dump(out, JSON_COMPACT);
    json_decref(out);
    return s;
}

static void expect_norm(const config_kind *k, const char *in, const char *want) {
    char *got = norm(k, in);
    CHECK_STR(got, want);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  input %s\n  got   %s\n  want  %s\n", in, got, want);
    free(got);
}

static void test_mcp_entries(void) {
    const config_kind *k = &config_mcp;
    /* "stdio" is an alias of local; unknown members go; args defaults to []; fixed order. */
    expect_norm(k, "{\"cwd\":\"/w\",\"command\":\"npx\",\"type\":\"stdio\",\"extra\":1}",
                "{\"type\":\"local\",\"command\":\"npx\",\"args\":[],\"cwd\":\"/w\"}");
    /* The command may be an array; env is stored with sorted names. */
    expect_norm(k,
                "{\"type\":\"local\",\"command\":[\"a\",\"b\"],\"env\":{\"Z\":\"1\",\"A\":\"2\"},"
                "\"enabled\":false,\"timeoutMs\":5}",
                "{\"type\":\"local\",\"command\":[\"a\",\"b\"],\"args\":[],\"env\":{\"A\":\"2\","
                "\"Z\":\"1\"},\"enabled\":false,\"timeoutMs\":5}");
    /* "http" is an alias of remote; optional null members are dropped. */
    expect_norm(k,
                "{\"type\":\"http\",\"url\":\"https://x\",\"headers\":{\"b\":\"1\",\"a\":\"2\"},"
                "\"oauth\":{\"scope\":\"s\",\"junk\":1},\"transport\":\"sse\",\"enabled\":null}",
                "{\"type\":\"remote\",\"url\":\"https://x\",\"headers\":{\"a\":\"2\",\"b\":\"1\"},"
                "\"oauth\":{\"scope\":\"s\"},\"transport\":\"sse\"}");
    expect_norm(k, "{\"type\":\"remote\",\"url\":\"u\",\"oauth\":false}",
                "{\"type\":\"remote\",\"url\":\"u\",\"oauth\":false}");

    expect_norm(k, "{\"command\":\"x\"}", "ERR: missing field `type`");
    expect_norm(k, "{\"type\":\"local\"}", "ERR: missing field `command`");
    expect_norm(k, "{\"type\":\"local\",\"command\":\"x\",\"args\":[\"a\",1]}",
                "ERR: args[1]: invalid type: integer `1`, expected a string");
    expect_norm(k, "{\"type\":\"local\",\"command\":\"x\",\"args\":null}",
                "ERR: args: invalid type: null, expected a sequence");
    expect_norm(k, "{\"type\":\"local\",\"command\":\"x\",\"timeoutMs\":-1}",
                "ERR: timeoutMs: invalid value: integer `-1`, expected u64");
    expect_norm(k, "{\"type\":\"local\",\"command\":\"x\",\"timeoutMs\":1.5}",
                "ERR: timeoutMs: invalid type: floating point `1.5`, expected u64");
    expect_norm(k, "{\"type\":\"local\",\"command\":\"x\",\"env\":{\"A\":true}}",
                "ERR: env.A: invalid type: boolean `true`, expected a string");
    expect_norm(k, "{\"type\":\"local\",\"command\":5}",
                "ERR: command: data did not match any variant of untagged enum McpCommand");
    expect_norm(k, "{\"type\":\"ftp\",\"command\":\"x\"}",
                "ERR: type: unknown variant `ftp`, expected one of `local`, `stdio`, `http`, "
                "`remote`");
    expect_norm(k, "{\"type\":\"remote\",\"url\":\"u\",\"transport\":\"ws\"}",
                "ERR: transport: unknown variant `ws`, expected `http` or `sse`");
    expect_norm(k, "{\"type\":\"remote\",\"url\":\"u\",\"oauth\":{\"scope\":1}}",
                "ERR: oauth: data did not match any variant of untagged enum "
                "McpOAuthConfigOrDisabled");
    expect_norm(k, "[]",
                "ERR: invalid type: sequence, expected internally tagged enum "
                "McpServerConfig");
}

static void test_skills_entries(void) {
    const config_kind *k = &config_skills;
    expect_norm(k,
                "{\"sources\":[{\"subpath\":\"p\",\"source\":\"o/r\",\"type\":\"github\","
                "\"skills\":[\"a\"],\"x\":1}],\"y\":2}",
                "{\"sources\":[{\"type\":\"github\",\"source\":\"o/r\",\"skills\":[\"a\"],"
                "\"subpath\":\"p\"}]}");
    expect_norm(k, "{}", "ERR: missing field `sources`");
    expect_norm(k, "{\"sources\":[{\"type\":\"github\"}]}",
                "ERR: sources[0]: missing field `source`");
    expect_norm(k, "{\"sources\":[1]}",
                "ERR: sources[0]: invalid type: integer `1`, expected struct SkillSource");
    expect_norm(k, "{\"sources\":{}}", "ERR: sources: invalid type: map, expected a sequence");
}

static void expect_file(const char *text, const char *want) {
    char err[1024] = "";
    json_t *map = config_parse_file(&config_mcp, text, strlen(text), err, sizeof err);
    char *got = map ? config_dump(map, JSON_COMPACT) : base_xasprintf("ERR: %s", err);
    CHECK_STR(got, want);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  file %s\n  got  %s\n  want %s\n", text, got, want);
    free(got);
    json_decref(map);
}

static void test_files_parse(void) {
    expect_file("", "{}");
    expect_file(" \n\t\r ", "{}");
    /* Names come back sorted, entries normalised. */
    expect_file("{\"b\":{\"type\":\"stdio\",\"command\":\"y\"},\"a\":{\"type\":\"remote\","
                "\"url\":\"u\"}}",
                "{\"a\":{\"type\":\"remote\",\"url\":\"u\"},\"b\":{\"type\":\"local\","
                "\"command\":\"y\",\"args\":[]}}");
    /* One bad entry breaks the file, with the entry's name in the path. */
    expect_file("{\"ok\":{\"type\":\"remote\",\"url\":\"u\"},\"bad\":{\"type\":\"local\"}}",
                "ERR: bad: missing field `command`");
    expect_file("[]", "ERR: invalid type: sequence, expected a map");
    char err[1024] = "";
    const char *dup = "{\"a\":{\"type\":\"remote\",\"url\":\"u\"},\"a\":{\"type\":\"remote\","
                      "\"url\":\"v\"}}";
    CHECK(config_parse_file(&config_mcp, dup, strlen(dup), err, sizeof err) == NULL);
    CHECK(strstr(err, "duplicate") != NULL);
    CHECK(config_parse_file(&config_mcp, "{", 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "line 1") != NULL);
}

static void test_dump(void) {
    /* serde writes lower-case hex in \u escapes; jansson upper-case. */
    json_t *v = json_pack("{s:s}", "k",
                          "a\x1f"
                          "b");
    char *s = config_dump(v, JSON_COMPACT);
    CHECK_STR(s, "{\"k\":\"a\\u001fb\"}");
    free(s);
    json_decref(v);
    /* A backslash followed by 'u' in the text itself is escaped and left alone. */
    v = json_pack("{s:s}", "k", "\\uABCD");
    s = config_dump(v, JSON_COMPACT);
    CHECK_STR(s, "{\"k\":\"\\\\uABCD\"}");
    free(s);
    json_decref(v);
    /* The file layout: 2-space indent, no trailing newline. */
    v = json_pack("{s:{s:s}}", "a", "url", "u");
    s = config_dump(v, JSON_INDENT(2));
    CHECK_STR(s, "{\n  \"a\": {\n    \"url\": \"u\"\n  }\n}");
    free(s);
    json_decref(v);
    /* config_sorted orders by bytes. */
    v = json_pack("{s:i,s:i,s:i}", "b", 1, "B", 2, "a", 3);
    json_t *sorted = config_sorted(v);
    s = config_dump(sorted, JSON_COMPACT);
    CHECK_STR(s, "{\"B\":2,\"a\":3,\"b\":1}");
    free(s);
    json_decref(sorted);
    json_decref(v);
}

/* ---- files ------------------------------------------------------------------------------------
 */

static char tmproot[] = "/tmp/test_config.XXXXXX";

static char *slurp(const char *path) {
    base_buf b;
    base_buf_init(&b);
    char err[256];
    config_read_result r = config_read(path, &b, err, sizeof err);
    if (r != CONFIG_READ_OK) {
        base_buf_free(&b);
        return NULL;
    }
    base_buf_append(&b, "", 1);
    return base_buf_steal(&b, NULL);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
    if (d)
        closedir(d);
    return n;
}

static void test_file_helpers(void) {
    char *p = base_xasprintf("%s/a.json", tmproot);
    base_buf b;
    base_buf_init(&b);
    char err[256] = "";
    CHECK(config_read(p, &b, err, sizeof err) == CONFIG_READ_MISSING);

    CHECK(config_write(p, "{\"x\":1}", 7) == 0);
    char *got = slurp(p);
    CHECK_STR(got, "{\"x\":1}");
    free(got);
    CHECK(count_entries(tmproot) == 1); /* no temp file left behind */

    /* An existing file keeps its mode across the replace. */
    CHECK(chmod(p, 0600) == 0);
    CHECK(config_write(p, "{}", 2) == 0);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    got = slurp(p);
    CHECK_STR(got, "{}");
    free(got);

    /* A symlink is written through: the link stays, its target changes. */
    char *link = base_xasprintf("%s/link.json", tmproot);
    CHECK(symlink("a.json", link) == 0);
    CHECK(config_write(link, "[1]", 3) == 0);
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    got = slurp(p);
    CHECK_STR(got, "[1]");
    free(got);

    /* NUL bytes are fine, broken UTF-8 is not. */
    CHECK(config_write(p, "\"a\0b\"", 5) == 0);
    base_buf_free(&b);
    base_buf_init(&b);
    CHECK(config_read(p, &b, err, sizeof err) == CONFIG_READ_OK && b.len == 5);
    CHECK(config_write(p, "\xff", 1) == 0);
    base_buf_free(&b);
    base_buf_init(&b);
    CHECK(config_read(p, &b, err, sizeof err) == CONFIG_READ_FAILED);
    CHECK(!strcmp(err, "stream did not contain valid UTF-8"));

    /* A directory or a FIFO at the path is refused, without blocking on the FIFO. */
    base_buf_free(&b);
    base_buf_init(&b);
    CHECK(config_read(tmproot, &b, err, sizeof err) == CONFIG_READ_FAILED);
    CHECK(!strcmp(err, "Is a directory (os error 21)"));
    char *fifo = base_xasprintf("%s/fifo.json", tmproot);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(config_read(fifo, &b, err, sizeof err) == CONFIG_READ_FAILED);
    CHECK(!strcmp(err, "config file is not a regular file"));

    /* Writing into a missing directory fails with the errno. */
    char *deep = base_xasprintf("%s/missing/x.json", tmproot);
    CHECK(config_write(deep, "{}", 2) == -ENOENT);

    /* Paths: relative directories resolve against the cwd, trailing slashes are fine. */
    char *q = config_file_path("/w/", "mcp.json");
    CHECK_STR(q, "/w/.sandbox-agent/config/mcp.json");
    free(q);
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    q = config_file_path("proj", "skills.json");
    char *want = base_xasprintf("%s%sproj/.sandbox-agent/config/skills.json", cwd,
                                strcmp(cwd, "/") ? "/" : "");
    CHECK_STR(q, want);
    free(want);
    free(q);

    unlink(fifo);
    unlink(link);
    unlink(p);
    free(deep);
    free(fifo);
    free(link);
    free(p);
    base_buf_free(&b);
}

/* ---- routes on a real port ---------------------------------------------------------------------
 */

static int port;

/* Open a connection and send one request (Connection: close). Returns the socket. */
static int send_req(const char *method, const char *target, const char *body) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    char *raw = base_xasprintf("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                               "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                               method, target, body ? strlen(body) : 0, body ? body : "");
    size_t len = strlen(raw);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, raw + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(raw);
    return fd;
}

/* Read the whole response; returns the status, *body (caller frees) the body. */
static int read_resp(int fd, char **body) {
    base_buf b;
    base_buf_init(&b);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        base_buf_append(&b, chunk, (size_t)n);
    close(fd);
    base_buf_append(&b, "", 1);
    int status = b.len > 12 ? atoi(b.data + 9) : 0;
    char *sep = b.data ? strstr(b.data, "\r\n\r\n") : NULL;
    if (body)
        *body = base_xstrdup(sep ? sep + 4 : "");
    base_buf_free(&b);
    return status;
}

static int do_req(const char *method, const char *target, const char *body, char **out) {
    if (out)
        *out = NULL;
    int fd = send_req(method, target, body);
    if (fd < 0)
        return -1;
    return read_resp(fd, out);
}

#define WRITERS 24

static void *client_main(void *arg) {
    char *dir = base_xasprintf("%s/proj", tmproot);
    char *q = base_xasprintf("/v1/config/mcp?directory=%s&mcpName=", dir);
    char *body = NULL;
    char target[4096];

    snprintf(target, sizeof target, "%sone", q);
    CHECK(do_req("GET", target, NULL, &body) == 404);
    free(body);
    CHECK(do_req("PUT", target, "{\"type\":\"stdio\",\"command\":\"c\"}", NULL) == 204);
    CHECK(do_req("GET", target, NULL, &body) == 200);
    CHECK_STR(body, "{\"type\":\"local\",\"command\":\"c\",\"args\":[]}");
    free(body);
    /* Validation answers before any file work. */
    CHECK(do_req("PUT", target, "{\"type\":\"local\"}", &body) == 422);
    CHECK(body && strstr(body, "missing field `command`") != NULL);
    free(body);

    /* Many writers of one file at once: every name must be in the file afterwards. */
    int fds[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        snprintf(target, sizeof target, "%sw%02d", q, i);
        fds[i] = send_req("PUT", target, "{\"type\":\"remote\",\"url\":\"u\"}");
    }
    for (int i = 0; i < WRITERS; i++)
        CHECK(read_resp(fds[i], NULL) == 204);
    char *file = base_xasprintf("%s/.sandbox-agent/config/mcp.json", dir);
    char *text = slurp(file);
    char err[1024];
    json_t *map = text ? config_parse_file(&config_mcp, text, strlen(text), err, sizeof err) : NULL;
    CHECK(map && json_object_size(map) == WRITERS + 1);
    for (int i = 0; map && i < WRITERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%02d", i);
        CHECK(json_object_get(map, name) != NULL);
    }
    json_decref(map);
    free(text);

    /* DELETE twice: 204 both times; then the entry is gone and the others stay. */
    snprintf(target, sizeof target, "%sone", q);
    CHECK(do_req("DELETE", target, NULL, NULL) == 204);
    CHECK(do_req("DELETE", target, NULL, NULL) == 204);
    CHECK(do_req("GET", target, NULL, NULL) == 404);
    snprintf(target, sizeof target, "%sw00", q);
    CHECK(do_req("GET", target, NULL, NULL) == 200);

    /* A broken file: 400 naming the file, for reads and writes alike. */
    int fd = open(file, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && write(fd, "{\"x\":1}", 7) == 7);
    close(fd);
    CHECK(do_req("GET", target, NULL, &body) == 400);
    CHECK(body && strstr(body, "invalid config file") && body && strstr(body, "mcp.json"));
    free(body);
    CHECK(do_req("PUT", target, "{\"type\":\"remote\",\"url\":\"u\"}", NULL) == 400);

    /* A config directory that is a file: 502 with the OS error. */
    char *dir2 = base_xasprintf("%s/flat", tmproot);
    fd = open(dir2, O_WRONLY | O_CREAT, 0644);
    close(fd);
    char *t2 = base_xasprintf("/v1/config/skills?directory=%s&skillName=s", dir2);
    CHECK(do_req("PUT", t2, "{\"sources\":[]}", &body) == 502);
    CHECK(body && strstr(body, "os error") != NULL);
    free(body);

    unlink(dir2);
    free(t2);
    free(dir2);
    free(file);
    free(q);
    free(dir);
    unit_client_done();
    return NULL;
}

static void test_routes(void) {
    uv_loop_t *loop = uv_default_loop();
    port = unit_free_port();
    http_config cfg;
    http_config_defaults(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = port;
    http_server *srv = http_server_new(loop, &cfg);
    config_routes(srv);
    CHECK(http_server_listen(srv) == 0);
    unit_run_client(loop, client_main);
    http_server_close(srv, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    http_server_free(srv);
}

static void cleanup(void) {
    char *cmd = base_xasprintf("rm -rf '%s'", tmproot);
    CHECK(system(cmd) == 0);
    free(cmd);
}

UNIT_MAIN(setenv("SANDBOX_AGENT_LOG", "error", 1); base_log_init(); CHECK(mkdtemp(tmproot));
          test_mcp_entries(); test_skills_entries(); test_files_parse(); test_dump();
          test_file_helpers(); test_routes(); cleanup())
