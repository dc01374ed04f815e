/* internal.h - shared between the files of the OpenCode-compatible API (src/opencode/) only:
 * the reply and request helpers every /opencode handler uses (opencode-compat.md §2). */
#ifndef OPENCODE_INTERNAL_H
#define OPENCODE_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "http/http.h"

/* 200-style JSON reply: compact, content-type application/json, object keys sorted at every
 * depth (§2.1). Steals body. */
void opencode_reply_json(http_req *req, int status, json_t *body);
/* The OpenCode errors body {"errors":[{"message":msg}]} with status. */
void opencode_reply_error(http_req *req, int status, const char *msg);
/* The request's JSON body (§2.3), any JSON value. required: a missing or non-JSON content
 * type answers 415 and malformed JSON 400 (text/plain, the reference's wording), returning
 * NULL (req is then complete). Lenient (required=false): any rejection returns NULL and
 * nothing is answered. New reference; caller decrefs. */
json_t *opencode_body(http_req *req, bool required);
/* The request directory (§5): ?directory= (raw, even empty), OPENCODE_COMPAT_DIRECTORY,
 * the x-opencode-directory header, the server's cwd, "/". Caller frees. */
char *opencode_directory(http_req *req);

#endif
