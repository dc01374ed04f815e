/* internal.h - shared between the files of the config module only (not a public header):
 * config_schema.c (validation, normalisation, serialisation; pure), config_file.c (the
 * files; blocking) and config.c (the routes, which run the file work on the thread pool). */
#ifndef CONFIG_INTERNAL_H
#define CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/base.h"
#include "config/config.h"

/* A config file larger than this is refused instead of being read into memory (the
 * reference has no limit; real files are a few hundred bytes). */
#define CONFIG_MAX_FILE_BYTES ((size_t)64 << 20)

/* Where a validation failure happened and why (config_schema.c). */
typedef struct config_ctx config_ctx;

/* One kind of config file. Static and immutable; passed to the handlers as route data. */
typedef struct config_kind {
    const char *file;      /* file name under <directory>/.sandbox-agent/config/ */
    const char *name_key;  /* query key naming the entry */
    const char *id_prefix; /* synthetic session id prefix of the 404 (quirk Q6) */
    json_t *(*normalize)(config_ctx *c, json_t *in);
} config_kind;

extern const config_kind config_mcp;    /* mcp.json: McpServerConfig entries */
extern const config_kind config_skills; /* skills.json: SkillsConfig entries */

/* ---- config_schema.c: pure, any thread ---- */

/* Validate and normalise one entry (a PUT body). Returns a new reference, or NULL with the
 * serde-style message ("<member path>: <problem>") in err. */
json_t *config_normalize_entry(const config_kind *k, json_t *in, char *err, size_t cap);
/* Parse and validate a whole file's bytes into a map of name -> normalised entry, sorted
 * by name. Whitespace only counts as an empty map; duplicate names are refused. NULL with
 * err set on failure (one bad entry fails the file, as in the reference). */
json_t *config_parse_file(const config_kind *k, const char *data, size_t len, char *err,
                          size_t cap);
/* A copy of object v with its members in byte order of their names (new reference). */
json_t *config_sorted(json_t *v);
/* Serialise like serde_json (JSON_INDENT(2) for files, JSON_COMPACT for replies): lower-case
 * hex in \u escapes. Caller frees. */
char *config_dump(const json_t *v, size_t flags);

/* ---- config_file.c: blocking, thread pool only ---- */

typedef enum { CONFIG_READ_OK, CONFIG_READ_MISSING, CONFIG_READ_FAILED } config_read_result;

/* Rust's io::Error text ("<strerror> (os error N)"), which the reference puts in its 502s. */
void config_os_error(char *buf, size_t cap, int err);
/* <directory>/.sandbox-agent/config/<file>, absolute (a relative directory is resolved
 * against the server's cwd: quirk Q8). Caller frees. */
char *config_file_path(const char *dir, const char *file);
/* Read the whole regular file at path into out (appended). MISSING when it does not exist;
 * FAILED with err set when it cannot be read, is not a regular file, is larger than
 * CONFIG_MAX_FILE_BYTES or is not UTF-8 (NUL bytes allowed). */
config_read_result config_read(const char *path, base_buf *out, char *err, size_t cap);
/* Replace the file at path with data atomically: temp file next to it, fsync, rename. A
 * symlink at path is written through; an existing file keeps its mode and owner. Returns 0
 * or -errno. */
int config_write(const char *path, const char *data, size_t len);

#endif
