/* static.h -- static files (config `static = { ["/ui/"] = "web" }`) served
 * from memory, before any script route.
 *
 * Each mount's directory is read whole into memory on the control thread when
 * a generation loads (startup, SIGHUP, POST /admin/reload), bounded in size,
 * and published as one immutable, reference-counted set: workers never touch
 * the file system for a request, and a request that began on the old set
 * finishes on it. Requests are answered by exact lookup in that set, so no
 * path can reach outside it; `..`, `.`, empty segments, backslashes, NULs and
 * encoded slashes are refused with 400 before the lookup. Files (or symlinks)
 * whose real path leaves the mount's directory are never loaded.
 *
 * GET and HEAD only (405 otherwise); Content-Type by extension; a strong ETag
 * from the content with 304 on If-None-Match; Cache-Control no-cache for HTML
 * and max-age for other assets; "PREFIX" redirects to "PREFIX/", a path ending
 * in "/" serves its index.html and "name" falls back to "name.html". Misses
 * are 404 in the client API's JSON envelope. */
#ifndef HM_STATIC_H
#define HM_STATIC_H

#include <stddef.h>

#include "hotelmux/config.h"
#include "hotelmux/http_conn.h"

struct hm_worker_s;

/* Limits of what one generation loads. */
#define HM_STATIC_MAX_FILE_BYTES (4u * 1024 * 1024)
#define HM_STATIC_MAX_TOTAL_BYTES (64u * 1024 * 1024)
#define HM_STATIC_MAX_FILES 4096
#define HM_STATIC_MAX_DEPTH 8

/* Control thread: read every mount of cfg into a new set and publish it (the
 * old set is freed when its last request ends). A mount whose directory is
 * missing is logged and serves 404s; exceeding a limit or an I/O error fails
 * with a message in err and leaves the current set in place. */
int hm_static_load(const hm_config_t *cfg, char *err, size_t errlen);

/* Worker thread: 1 if req's path is under a mount (answered), else 0. The
 * worker keeps a reference to the mounts it last saw (w->static_set). */
int hm_static_handle(struct hm_worker_s *w, hm_conn_t *c, const hm_request_t *req);

/* Drop the worker's reference (when it stops). */
void hm_static_worker_release(struct hm_worker_s *w);

/* Content-Type for a file name (by extension); never NULL. */
const char *hm_static_content_type(const char *name);

/* Normalise the part of a request path after the mount prefix: percent-decode
 * into out and check it. Returns 0 and the relative path ("" for the mount's
 * root), or -1 for a path that must be refused (traversal, NUL, encoded
 * slash, backslash, empty or dot segments, too long). */
int hm_static_clean_path(const char *in, size_t n, char *out, size_t outlen);

#endif
