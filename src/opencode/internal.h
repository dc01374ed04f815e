/* internal.h - shared by the files of src/opencode/ only: the OpenCode-compatible API under
 * /opencode (docs/opencode.md, spec opencode-compat.md). common.c holds the HTTP rules every
 * route follows (§2): replies with sorted keys, the OpenCode errors body, the body rules
 * (415/400, lenient bodies) and the request directory (§5). */
#ifndef OPENCODE_INTERNAL_H
#define OPENCODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/base.h"
#include "http/http.h"

/* ---- common.c ---- */
/* Reply JSON compactly with keys sorted at every depth (spec §2.1); steals body. */
void opencode_reply_json(http_req *req, int status, json_t *body);
/* Reply the OpenCode errors body {"errors":[{"message":msg}]} with content-type
 * application/json (spec §2.3). */
void opencode_reply_error(http_req *req, int status, const char *msg);
/* The same, message formatted. */
void opencode_reply_errorf(http_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parse the request body by the rules of §2.3: required=true answers 415 (no JSON
 * content type, or no body) or 400 (malformed JSON) itself and returns NULL; required=false
 * (lenient) returns NULL for any rejection or no body. Any JSON value is returned (PATCH
 * /config echoes arrays too): the 422 typed-field checks are per route (opencode_reply_422,
 * opencode_body_object). New reference. */
json_t *opencode_body(http_req *req, bool required);
/* 422 text/plain `Failed to deserialize the JSON body into the target type: <what>`. */
void opencode_reply_422(http_req *req, const char *what);
/* opencode_body(req, true) that must be an object: a 422 otherwise. NULL when answered. */
json_t *opencode_body_object(http_req *req);
/* The request directory (§5): ?directory=, OPENCODE_COMPAT_DIRECTORY, the
 * x-opencode-directory header, else the server cwd. Caller frees. */
char *opencode_directory(http_req *req);
/* A string member of obj under the first of the NULL-terminated keys that holds a string
 * (aliases such as providerID / provider_id / providerId). Borrowed; NULL when none. */
const char *opencode_str_alias(const json_t *obj, const char *const *keys);

#endif
