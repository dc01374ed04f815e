/* ui.h - the Inspector web UI at /ui/: its files, embedded in the binary at build time
 * (scripts/embed_web.sh writes the table into build/gen/ui_assets.c), served gzipped to
 * clients that accept it and inflated for the others. See web/README.md. */
#ifndef UI_H
#define UI_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

/* One embedded file. Owner: the generated table, static for the process lifetime. */
typedef struct ui_asset {
    const char *path;        /* below /ui/, e.g. "js/main.js" */
    const char *etag;        /* quoted prefix of the raw bytes' sha256 */
    size_t raw_size;         /* bytes once inflated */
    const unsigned char *gz; /* the gzip member (gzip -9n) */
    size_t gz_size;
} ui_asset;

extern const ui_asset ui_assets[];
extern const size_t ui_assets_count;

/* GET/HEAD /ui, /ui/ and /ui/<file>, without auth (the page asks for the token). */
void ui_routes(http_server *srv);

/* The embedded file at path (no leading slash), or NULL. */
const ui_asset *ui_find(const char *path);
/* Content type for a file name, by extension (application/octet-stream when unknown). */
const char *ui_content_type(const char *path);
/* Whether an Accept-Encoding value allows gzip (q-values honoured; NULL allows nothing). */
bool ui_accepts_gzip(const char *accept_encoding);
/* Whether an If-None-Match value matches etag (weak comparison, "*" included). */
bool ui_etag_matches(const char *if_none_match, const char *etag);

#endif
