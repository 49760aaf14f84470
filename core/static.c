/* static.c -- static files served from an in-memory snapshot (see static.h). */
#include "hotelmux/static.h"
#include "hotelmux/admin.h"
#include "hotelmux/buf.h"
#include "hotelmux/common.h"
#include "hotelmux/log.h"
#include "hotelmux/worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REL 1024          /* longest relative path served */

typedef struct {
    char *rel;                /* path inside the mount ("index.html", "img/a.png") */
    char *data;
    size_t len;
    char etag[48];            /* "\"<len hex>-<fnv64 hex>\"" */
    const char *type;
    int html;
} sfile_t;

typedef struct {
    char *prefix;             /* "/ui/" */
    size_t prefix_len;
    sfile_t *files;           /* sorted by rel */
    size_t nfiles, cap;
} smount_t;

typedef struct hm_sset_s {
    smount_t mounts[HM_CONFIG_MAX_STATIC];
    size_t nmounts;
    size_t bytes, nfiles;
    int refs;                 /* under set_mu */
} sset_t;

static pthread_mutex_t set_mu = PTHREAD_MUTEX_INITIALIZER;
static sset_t *current;       /* the published set (one reference held) */
static atomic_uint published; /* publishes so far (changed under set_mu), read without it */

/* ---- content types ------------------------------------------------------- */

static const struct {
    const char *ext;
    const char *type;
} TYPES[] = {
    { "html", "text/html; charset=utf-8" },      { "htm", "text/html; charset=utf-8" },
    { "js", "text/javascript; charset=utf-8" },  { "mjs", "text/javascript; charset=utf-8" },
    { "css", "text/css; charset=utf-8" },        { "svg", "image/svg+xml" },
    { "png", "image/png" },                      { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" },                    { "gif", "image/gif" },
    { "webp", "image/webp" },                    { "json", "application/json" },
    { "ico", "image/x-icon" },                   { "woff2", "font/woff2" },
    { "woff", "font/woff" },                     { "txt", "text/plain; charset=utf-8" },
    { "map", "application/json" },               { "webmanifest", "application/manifest+json" },
};

const char *hm_static_content_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot && dot[1])
        for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
            if (strcasecmp(dot + 1, TYPES[i].ext) == 0)
                return TYPES[i].type;
    return "application/octet-stream";
}

/* ---- the set --------------------------------------------------------------- */

static void set_free(sset_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nmounts; i++) {
        smount_t *m = &s->mounts[i];
        for (size_t j = 0; j < m->nfiles; j++) {
            free(m->files[j].rel);
            free(m->files[j].data);
        }
        free(m->files);
        free(m->prefix);
    }
    free(s);
}

static void set_release(sset_t *s)
{
    pthread_mutex_lock(&set_mu);
    int left = --s->refs;
    pthread_mutex_unlock(&set_mu);
    if (left == 0)
        set_free(s);
}

static sset_t *set_acquire(unsigned *gen)
{
    pthread_mutex_lock(&set_mu);
    sset_t *s = current;
    if (s)
        s->refs++;
    *gen = atomic_load_explicit(&published, memory_order_relaxed);
    pthread_mutex_unlock(&set_mu);
    return s;
}

/* The worker's reference to the published set, renewed when a new one is
 * published (none before the first: generation 0, no set). Every request
 * asks, so the question is one atomic load, not a lock both workers take
 * (each take may wait for a preempted holder). */
static sset_t *worker_set(hm_worker_t *w)
{
    if (atomic_load_explicit(&published, memory_order_acquire) != w->static_gen) {
        hm_static_worker_release(w);
        w->static_set = set_acquire(&w->static_gen);
    }
    return w->static_set;
}

void hm_static_worker_release(hm_worker_t *w)
{
    if (w->static_set)
        set_release(w->static_set);
    w->static_set = NULL;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const sfile_t *)a)->rel, ((const sfile_t *)b)->rel);
}

typedef struct {
    sset_t *set;
    smount_t *m;
    const char *root;         /* realpath of the mount directory */
    size_t root_len;
    char *err;
    size_t errlen;
} load_ctx_t;

static int read_file(const char *path, size_t size, char **out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "static: %s: %s", path, strerror(errno));
        return HM_EIO;
    }
    char *buf = malloc(size ? size : 1);
    if (buf == NULL) {
        close(fd);
        return HM_ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size) {
        free(buf);
        snprintf(err, errlen, "static: %s: short read (changed while loading?)", path);
        return HM_EIO;
    }
    *out = buf;
    return HM_OK;
}

static int add_file(load_ctx_t *x, const char *real, const char *rel, size_t size)
{
    sset_t *s = x->set;
    if (size > HM_STATIC_MAX_FILE_BYTES) {
        snprintf(x->err, x->errlen, "static: %s is %zu bytes, over the %u-byte limit per file", real,
                 size, HM_STATIC_MAX_FILE_BYTES);
        return HM_ELIMIT;
    }
    if (s->nfiles + 1 > HM_STATIC_MAX_FILES || s->bytes + size > HM_STATIC_MAX_TOTAL_BYTES) {
        snprintf(x->err, x->errlen, "static: more than %d files or %u bytes under the static mounts",
                 HM_STATIC_MAX_FILES, HM_STATIC_MAX_TOTAL_BYTES);
        return HM_ELIMIT;
    }
    smount_t *m = x->m;
    if (m->nfiles == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        sfile_t *f = realloc(m->files, cap * sizeof(*f));
        if (f == NULL)
            return HM_ENOMEM;
        m->files = f;
        m->cap = cap;
    }
    sfile_t *f = &m->files[m->nfiles];
    memset(f, 0, sizeof(*f));
    int rc = read_file(real, size, &f->data, x->err, x->errlen);
    if (rc != HM_OK)
        return rc;
    if ((f->rel = strdup(rel)) == NULL) {
        free(f->data);
        return HM_ENOMEM;
    }
    f->len = size;
    f->type = hm_static_content_type(rel);
    f->html = strncmp(f->type, "text/html", 9) == 0;
    snprintf(f->etag, sizeof(f->etag), "\"%zx-%016llx\"", size,
             (unsigned long long)hm_hash64(f->data, size));
    m->nfiles++;
    s->nfiles++;
    s->bytes += size;
    return HM_OK;
}

/* Names we serve: printable ASCII without '%', '\\' or a leading dot. */
static int name_ok(const char *n)
{
    if (n[0] == '.' || n[0] == '\0')
        return 0;
    for (const unsigned char *p = (const unsigned char *)n; *p; p++)
        if (*p < 0x21 || *p > 0x7e || *p == '%' || *p == '\\' || *p == '?' || *p == '#')
            return 0;
    return 1;
}

static int walk(load_ctx_t *x, const char *dir, const char *rel, int depth)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(x->err, x->errlen, "static: %s: %s", dir, strerror(errno));
        return HM_EIO;
    }
    int rc = HM_OK;
    struct dirent *e;
    while (rc == HM_OK && (e = readdir(d)) != NULL) {
        if (!name_ok(e->d_name))
            continue; /* ".", "..", dotfiles, odd names */
        char path[PATH_MAX], sub[MAX_REL];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path) ||
            (size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >= sizeof(sub))
            continue;
        /* Follow symlinks only while they stay inside the mount. */
        char *real = realpath(path, NULL);
        if (real == NULL)
            continue;
        struct stat st;
        if (strncmp(real, x->root, x->root_len) != 0 ||
            (real[x->root_len] != '/' && real[x->root_len] != '\0')) {
            hm_log(HM_LOG_WARN, "static: %s leaves %s: not served", path, x->root);
        } else if (stat(real, &st) != 0) {
            /* vanished: skip */
        } else if (S_ISDIR(st.st_mode)) {
            if (depth + 1 < HM_STATIC_MAX_DEPTH)
                rc = walk(x, real, sub, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            rc = add_file(x, real, sub, (size_t)st.st_size);
        }
        free(real);
    }
    closedir(d);
    return rc;
}

int hm_static_load(const hm_config_t *cfg, char *err, size_t errlen)
{
    sset_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "static: out of memory");
        return HM_ENOMEM;
    }
    s->refs = 1;
    int rc = HM_OK;
    for (size_t i = 0; i < cfg->nstatic && rc == HM_OK; i++) {
        smount_t *m = &s->mounts[s->nmounts++];
        if ((m->prefix = strdup(cfg->statics[i].prefix)) == NULL) {
            rc = HM_ENOMEM;
            break;
        }
        m->prefix_len = strlen(m->prefix);
        char *root = realpath(cfg->statics[i].dir, NULL);
        struct stat st;
        if (root == NULL || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
            hm_log(HM_LOG_WARN, "static %s: directory %s is missing: every path under it is 404",
                   m->prefix, cfg->statics[i].dir);
            free(root);
            continue;
        }
        load_ctx_t x = { s, m, root, strlen(root), err, errlen };
        if (x.root_len == 1)
            x.root_len = 0; /* "/" itself: every real path starts with "/" */
        rc = walk(&x, root, "", 0);
        free(root);
        if (m->nfiles)
            qsort(m->files, m->nfiles, sizeof(sfile_t), cmp_file);
    }
    if (rc != HM_OK) {
        if (rc == HM_ENOMEM)
            snprintf(err, errlen, "static: out of memory");
        set_free(s);
        return rc;
    }
    pthread_mutex_lock(&set_mu);
    sset_t *old = current;
    current = s;
    atomic_fetch_add_explicit(&published, 1, memory_order_release);
    pthread_mutex_unlock(&set_mu);
    if (old)
        set_release(old);
    if (cfg->nstatic)
        hm_log(HM_LOG_INFO, "static: %zu files, %zu bytes under %zu mounts", s->nfiles, s->bytes,
               s->nmounts);
    return HM_OK;
}

/* ---- request path ---------------------------------------------------------- */


int hm_static_clean_path(const char *in, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)in[i];
        if (ch == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hm_hexval((unsigned char)in[i + 1])) < 0 ||
                (lo = hm_hexval((unsigned char)in[i + 2])) < 0)
                return -1;
            ch = hi * 16 + lo;
            if (ch == '/' || ch == '\\' || ch == '%')
                return -1; /* an encoded separator is never a file name */
            i += 2;
        }
        if (ch < 0x20 || ch == 0x7f || ch == '\\')
            return -1;
        if (o + 1 >= outlen)
            return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    /* segments: no empty ("//", leading "/"), ".", ".." or dot-names */
    const char *p = out;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || p[0] == '.')
            return -1;
        p += len;
        if (*p == '/')
            p++;
    }
    return 0;
}

static const sfile_t *find(const smount_t *m, const char *rel)
{
    size_t lo = 0, hi = m->nfiles;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(rel, m->files[mid].rel);
        if (c == 0)
            return &m->files[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int method_is(const hm_request_t *r, const char *m)
{
    size_t n = strlen(m);
    return r->method_len == n && memcmp(r->method, m, n) == 0;
}

static const char *header(const hm_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

/* If-None-Match: "*" or a list of (weak or strong) tags; compared weakly. */
static int etag_matches(const char *inm, const char *etag)
{
    size_t el = strlen(etag);
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = p;
        if (*end == '"') {
            end = strchr(end + 1, '"');
            end = end ? end + 1 : p + strlen(p);
        } else {
            while (*end && *end != ',')
                end++;
        }
        if ((size_t)(end - p) == el && memcmp(p, etag, el) == 0)
            return 1;
        if (end == p)
            break;
        p = end;
    }
    return 0;
}

static void respond_error(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req, const char *route,
                          int status, const char *msg, const char *location)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"code\":%d,\"msg\":\"%s\",\"data\":null}", status, msg);
    hm_header_t h[3] = { { "Content-Type", "application/json" },
                         { "Cache-Control", "no-store" },
                         { location ? "Location" : "Allow", location ? location : "GET, HEAD" } };
    size_t nh = (location || status == 405) ? 3 : 2;
    hm_admin_respond(w, c, req, route, status, h, nh, body, (size_t)n);
}

#define HTML_CSP                                                                                   \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "             \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "           \
    "form-action 'self'"

int hm_static_handle(hm_worker_t *w, hm_conn_t *c, const hm_request_t *req)
{
    sset_t *s = worker_set(w);
    if (s == NULL)
        return 0;
    const smount_t *m = NULL;
    int bare = 0; /* "/ui" for mount "/ui/" */
    for (size_t i = 0; i < s->nmounts && !m; i++) {
        const smount_t *x = &s->mounts[i];
        if (req->path_len >= x->prefix_len && memcmp(req->path, x->prefix, x->prefix_len) == 0)
            m = x;
        else if (req->path_len == x->prefix_len - 1 &&
                 memcmp(req->path, x->prefix, x->prefix_len - 1) == 0)
            m = x, bare = 1;
    }
    if (m == NULL)
        return 0;
    const char *route = m->prefix; /* one metrics route per mount: bounded label set */
    if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
        respond_error(w, c, req, route, 405, "method not allowed", NULL);
        return 1;
    }
    if (bare) {
        respond_error(w, c, req, route, 301, "moved permanently", m->prefix);
        return 1;
    }
    char rel[MAX_REL + 16];
    const char *tail = req->path + m->prefix_len;
    size_t tail_len = req->path_len - m->prefix_len;
    int dir = tail_len == 0 || tail[tail_len - 1] == '/';
    if (hm_static_clean_path(tail, dir && tail_len ? tail_len - 1 : tail_len, rel, MAX_REL) != 0) {
        respond_error(w, c, req, route, 400, "bad path", NULL);
        return 1;
    }
    const sfile_t *f = NULL;
    size_t rl = strlen(rel);
    if (dir) {
        snprintf(rel + rl, sizeof(rel) - rl, "%sindex.html", rl ? "/" : "");
        f = find(m, rel);
    } else if ((f = find(m, rel)) == NULL) {
        snprintf(rel + rl, sizeof(rel) - rl, ".html"); /* "/ui/ops" -> ops.html */
        f = find(m, rel);
    }
    if (f == NULL) {
        respond_error(w, c, req, route, 404, "not found", NULL);
        return 1;
    }
    const char *inm = header(req, "if-none-match");
    int not_modified = inm && etag_matches(inm, f->etag);
    hm_header_t h[6];
    size_t nh = 0;
    h[nh++] = (hm_header_t){ "Content-Type", f->type };
    h[nh++] = (hm_header_t){ "ETag", f->etag };
    h[nh++] = (hm_header_t){ "Cache-Control", f->html ? "no-cache" : "public, max-age=300" };
    h[nh++] = (hm_header_t){ "X-Content-Type-Options", "nosniff" };
    if (f->html) {
        h[nh++] = (hm_header_t){ "Content-Security-Policy", HTML_CSP };
        h[nh++] = (hm_header_t){ "Referrer-Policy", "no-referrer" };
    }
    /* hm_conn_respond copies what it cannot write at once: the set may go
     * with the next publish. */
    hm_admin_respond(w, c, req, route, not_modified ? 304 : 200, h, nh, not_modified ? "" : f->data,
                     not_modified ? 0 : f->len);
    return 1;
}
