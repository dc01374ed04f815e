/* fs_routes.c - the metadata routes of the file-system API (http-api.md §7.2, §7.5-§7.8):
 * GET /v1/fs/entries, GET /v1/fs/stat, POST /v1/fs/mkdir, DELETE /v1/fs/entry and
 * POST /v1/fs/move, plus fs_routes, which mounts every /v1/fs route.
 *
 * Each handler validates its input on the loop and runs the file-system calls on libuv's
 * thread pool (a recursive delete or a large directory must not stall the server).
 *
 * Deliberate differences from the reference (quirk Q9 fixed): delete and move look at the
 * path itself (lstat), so a symlink, dangling or not, is deleted or moved as a link and a
 * dangling symlink at the destination counts as existing. Moving a path onto itself with
 * overwrite is a no-op instead of deleting the source. */
#include "fs/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- GET /v1/fs/entries ------------------------------------------------------------------ */

static void fs_entries_work(fs_job *j) {
    struct stat st;
    if (stat(j->path, &st) != 0) {
        fs_err_os(&j->err, errno, j->path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        fs_err_invalid(&j->err, "path is not a directory: %s", j->path);
        return;
    }
    DIR *d = opendir(j->path);
    if (!d) {
        fs_err_os(&j->err, errno, j->path);
        return;
    }
    json_t *arr = json_array();
    struct dirent *de;
    /* Directory-read order, like the reference; metadata of the entry itself (lstat). */
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat es;
        if (fstatat(dirfd(d), de->d_name, &es, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* removed while we listed */
        char *p = fs_join(j->path, de->d_name);
        json_array_append_new(arr, fs_stat_json(de->d_name, p, &es));
        free(p);
    }
    closedir(d);
    j->result = arr;
}

static void fs_entries_handler(http_req *req, void *ud) {
    char *path = fs_query_path(req, false);
    if (!path)
        return;
    fs_job *j = fs_job_new(req, fs_entries_work, NULL);
    j->path = path;
    fs_job_start(j);
}

/* ---- GET /v1/fs/stat ---------------------------------------------------------------------- */

static void fs_stat_work(fs_job *j) {
    struct stat st;
    if (stat(j->path, &st) != 0)
        fs_err_os(&j->err, errno, j->path);
    else
        j->result = fs_stat_json(NULL, j->path, &st);
}

static void fs_stat_handler(http_req *req, void *ud) {
    char *path = fs_query_path(req, true);
    if (!path)
        return;
    fs_job *j = fs_job_new(req, fs_stat_work, NULL);
    j->path = path;
    fs_job_start(j);
}

/* ---- POST /v1/fs/mkdir -------------------------------------------------------------------- */

static void fs_mkdir_work(fs_job *j) {
    int r = fs_mkdirs(j->path);
    if (r)
        fs_err_os(&j->err, r, j->path);
    else
        j->result = json_pack("{s:s}", "path", j->path);
}

static void fs_mkdir_handler(http_req *req, void *ud) {
    char *path = fs_query_path(req, true);
    if (!path)
        return;
    fs_job *j = fs_job_new(req, fs_mkdir_work, NULL);
    j->path = path;
    fs_job_start(j);
}

/* ---- DELETE /v1/fs/entry ------------------------------------------------------------------- */

static void fs_delete_work(fs_job *j) {
    int r = fs_remove(j->path, j->flag);
    if (r)
        fs_err_os(&j->err, r, j->path);
    else
        j->result = json_pack("{s:s}", "path", j->path);
}

static void fs_delete_handler(http_req *req, void *ud) {
    bool recursive = false;
    if (http_query_bool(req, "recursive", &recursive) < 0) {
        http_problem_invalid_request(req, "query parameter `recursive` must be `true` or "
                                          "`false`, given at most once");
        return;
    }
    char *path = fs_query_path(req, true);
    if (!path)
        return;
    fs_job *j = fs_job_new(req, fs_delete_work, NULL);
    j->path = path;
    j->flag = recursive;
    fs_job_start(j);
}

/* ---- POST /v1/fs/move ---------------------------------------------------------------------- */

static void fs_move_work(fs_job *j) {
    struct stat from, to;
    if (lstat(j->path, &from) != 0) {
        fs_err_os(&j->err, errno, j->path);
        return;
    }
    if (lstat(j->path2, &to) == 0) {
        if (!j->flag) {
            fs_err_invalid(&j->err, "destination already exists: %s", j->path2);
            return;
        }
        /* Replacing a path by itself (same inode) must not delete it first. */
        if (from.st_dev != to.st_dev || from.st_ino != to.st_ino) {
            int r = fs_remove(j->path2, true);
            if (r) {
                fs_err_os(&j->err, r, j->path2);
                return;
            }
        }
    } else if (errno != ENOENT) {
        fs_err_os(&j->err, errno, j->path2);
        return;
    }
    char *parent = fs_parent_path(j->path2);
    int r = parent ? fs_mkdirs(parent) : 0;
    if (r) {
        fs_err_os(&j->err, r, parent);
        free(parent);
        return;
    }
    free(parent);
    if (rename(j->path, j->path2) != 0) {
        fs_err_os(&j->err, errno, j->path);
        return;
    }
    j->result = json_pack("{s:s,s:s}", "from", j->path, "to", j->path2);
}

/* A string member that is a usable path: present, a string, no NUL. On failure answers. */
static const char *fs_move_field(http_req *req, json_t *body, const char *key) {
    json_t *v = json_object_get(body, key);
    if (!v || !json_is_string(v)) {
        http_reply_problem(req, 422, "invalid_request", "Unprocessable Entity",
                           v ? "invalid request: `from` and `to` must be strings"
                             : "invalid request: missing field in the JSON body (`from` and "
                               "`to` are required)",
                           NULL);
        return NULL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        http_problem_invalid_request(req, "`%s` contains a NUL byte", key);
        return NULL;
    }
    return json_string_value(v);
}

static void fs_move_handler(http_req *req, void *ud) {
    json_t *body = http_req_json_body(req, false);
    if (!body)
        return;
    json_t *ow = json_object_get(body, "overwrite");
    if (ow && !json_is_boolean(ow) && !json_is_null(ow)) {
        json_decref(body);
        http_reply_problem(req, 422, "invalid_request", "Unprocessable Entity",
                           "invalid request: `overwrite` must be a boolean or null", NULL);
        return;
    }
    const char *from = fs_move_field(req, body, "from");
    const char *to = from ? fs_move_field(req, body, "to") : NULL;
    if (!from || !to) {
        json_decref(body);
        return;
    }
    fs_err e = {0};
    char *rfrom = fs_resolve(from, &e);
    char *rto = rfrom ? fs_resolve(to, &e) : NULL;
    bool overwrite = json_is_true(ow);
    json_decref(body);
    if (!rto) {
        free(rfrom);
        fs_reply_err(req, &e);
        fs_err_clear(&e);
        return;
    }
    fs_job *j = fs_job_new(req, fs_move_work, NULL);
    j->path = rfrom;
    j->path2 = rto;
    j->flag = overwrite;
    fs_job_start(j);
}

/* ---- registration ------------------------------------------------------------------------- */

void fs_routes(http_server *srv, uv_loop_t *loop) {
    /* Jobs build JSON on pool threads; make sure jansson's hash seed is set up here first. */
    json_decref(json_object());
    http_route(srv, HTTP_M_GET, "/v1/fs/entries", HTTP_ROUTE_AUTH, fs_entries_handler, NULL);
    http_route(srv, HTTP_M_GET, "/v1/fs/stat", HTTP_ROUTE_AUTH, fs_stat_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/fs/mkdir", HTTP_ROUTE_AUTH, fs_mkdir_handler, NULL);
    http_route(srv, HTTP_M_DELETE, "/v1/fs/entry", HTTP_ROUTE_AUTH, fs_delete_handler, NULL);
    http_route(srv, HTTP_M_POST, "/v1/fs/move", HTTP_ROUTE_AUTH, fs_move_handler, NULL);
    fs_file_routes(srv);
    fs_tar_routes(srv, loop);
}
