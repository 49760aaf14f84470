/* metrics.c -- Prometheus counters, gauges and histograms.
 *
 * Layout. Values live in "pages": one allocation holding HM_MAX_WORKERS
 * regions of HM_PAGE_CELLS 64-bit cells each, every region cache-line
 * aligned. A series owns a cell range at the same offset in every region, so
 * worker w writes base + w * HM_PAGE_CELLS and two workers never write the
 * same cache line (arrays per worker, not slots interleaved per series). Cells
 * are _Atomic uint64_t: counters, gauges and histogram sums hold double bit
 * patterns, histogram buckets hold plain counts. Only the owning worker
 * writes its cell, so a relaxed load + add + relaxed store is exact and needs
 * no locked read-modify-write; scrapes read with relaxed loads.
 *
 * Histograms keep non-cumulative per-bucket counts and no separate count: the
 * count is the sum of the buckets, so a render taken while workers observe
 * still has +Inf bucket == _count and cumulative buckets that never decrease.
 *
 * Lookup. hm_metrics_series first probes a _Thread_local open-addressing
 * cache keyed by (family pointer, label bytes); a hit takes no lock and
 * allocates nothing. A miss takes the registry mutex, finds or creates the
 * family (by name) and series (hash table keyed by family + labels), and
 * inserts into the thread cache. Thread caches are registered in a list so
 * hm_metrics_shutdown frees the ones still alive, and a pthread key
 * destructor frees a thread's cache when that thread exits. Shutdown bumps a
 * generation number so a thread that survives it never touches its freed
 * cache. */
#include "hotelmux/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 512 cells = 4 KiB per worker region: a multiple of the cache line, and a
 * page group (64 regions) of 256 KiB is big enough for malloc to mmap it, so
 * the regions of workers that never run are never touched. */
#define HM_PAGE_CELLS 512
#define HM_PAGE_BYTES ((size_t)HM_MAX_WORKERS * HM_PAGE_CELLS * sizeof(uint64_t))
#define HM_CACHE_LINE 64

static const double hm_hist_bounds[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define HM_HIST_FINITE ((int)HM_ARRAY_SIZE(hm_hist_bounds))
#define HM_HIST_BUCKETS (HM_HIST_FINITE + 1)   /* + the +Inf bucket */
#define HM_HIST_SUM HM_HIST_BUCKETS            /* cell index of the sum */
#define HM_HIST_CELLS (HM_HIST_BUCKETS + 1)

typedef struct hm_family_s hm_family_t;

struct hm_series_s {
    _Atomic uint64_t *base;   /* worker w's cells: base + w * HM_PAGE_CELLS */
    hm_metric_kind_t kind;    /* copy of fam->kind: the hot path reads one line */
    hm_family_t *fam;
    uint64_t hash;            /* of the label bytes */
    size_t len;
    char labels[];            /* NUL-terminated */
};

struct hm_family_s {
    hm_family_t *next;        /* list sorted by name: stable render order */
    const char *name;
    const char *help;
    hm_metric_kind_t kind;
    bool sorted;              /* series[] sorted by labels */
    hm_series_t **series;
    size_t nseries, cap;
};

typedef struct {
    const char *family;       /* the caller's pointer, not the name's content */
    uint64_t hash;            /* label hash; 0 with s == NULL marks an empty slot */
    hm_series_t *s;
} hm_tc_entry_t;

typedef struct hm_tcache_s hm_tcache_t;
struct hm_tcache_s {
    hm_tcache_t *prev, *next; /* registry list, under the mutex */
    hm_tc_entry_t *slots;
    size_t mask, n;
};

typedef struct hm_page_s hm_page_t;
struct hm_page_s {
    hm_page_t *next;
    /* the cells follow, aligned up to HM_CACHE_LINE */
};

static pthread_mutex_t hm_lock = PTHREAD_MUTEX_INITIALIZER;

/* Everything below is guarded by hm_lock. */
static struct {
    bool inited;
    pthread_key_t key;        /* destructor frees a thread's cache at thread exit */
    hm_family_t *families;
    size_t nfamilies;
    hm_series_t **table;      /* open addressing over (fam, labels) */
    size_t table_cap, nseries;
    hm_page_t *pages;
    _Atomic uint64_t *page_cells;
    size_t page_used;         /* cells used in page_cells */
    hm_tcache_t *caches;
    size_t bytes;
    uint64_t slow_lookups;
} hm_reg;

/* Bumped by hm_metrics_shutdown; a thread's cache is valid only while
 * hm_tc_gen matches, so a thread that outlives a shutdown drops its dangling
 * pointer instead of reading freed memory. */
static atomic_uint hm_gen;
static _Thread_local hm_tcache_t *hm_tc;
static _Thread_local unsigned hm_tc_gen;

/* ---- small helpers ---------------------------------------------------- */

static inline double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static inline uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

/* Word-at-a-time multiplicative hash: the label strings are short and hashed
 * on every hot-path lookup, so a byte-wise FNV would cost more than the probe. */
static uint64_t hash_bytes(const char *p, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t h = 0xcbf29ce484222325ULL ^ (n * k);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * k;
    }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

static inline size_t slot_of(uint64_t hash, const void *ptr)
{
    uint64_t x = hash ^ ((uint64_t)(uintptr_t)ptr * 0x9e3779b97f4a7c15ULL);
    x ^= x >> 31;
    return (size_t)x;
}

static bool valid_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Escape into out[cap] and return the length written (excluding the NUL).
 * Truncation never splits an escape pair or a UTF-8 sequence. */
static size_t escape_into(char *out, size_t cap, const char *v)
{
    if (cap == 0)
        return 0;
    size_t n = 0;
    bool truncated = false;
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
        char e = 0;
        if (*p == '\\')
            e = '\\';
        else if (*p == '"')
            e = '"';
        else if (*p == '\n')
            e = 'n';
        if (n + (e ? 2u : 1u) >= cap) {
            truncated = true;
            break;
        }
        if (e) {
            out[n++] = '\\';
            out[n++] = e;
        } else {
            out[n++] = (char)*p;
        }
    }
    if (truncated) {
        /* Drop a multi-byte sequence cut short at the end. */
        size_t i = n, cont = 0;
        while (i > 0 && cont < 3 && ((unsigned char)out[i - 1] & 0xC0) == 0x80) {
            i--;
            cont++;
        }
        if (i > 0) {
            unsigned char lead = (unsigned char)out[i - 1];
            size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (want > cont + 1)
                n = i - 1;
        }
    }
    out[n] = '\0';
    return n;
}

void hm_metrics_label_escape(char *out, size_t cap, const char *value)
{
    if (out != NULL)
        escape_into(out, cap, value);
}

/* ---- thread caches ---------------------------------------------------- */

static void tcache_free_locked(hm_tcache_t *tc)
{
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        hm_reg.caches = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    hm_reg.bytes -= sizeof(*tc) + (tc->mask + 1) * sizeof(hm_tc_entry_t);
    free(tc->slots);
    free(tc);
}

/* pthread key destructor: runs in the exiting thread. POSIX gives every
 * thread NULL for a freshly created key, so this never sees a cache that a
 * shutdown already freed. */
static void tcache_thread_exit(void *p)
{
    pthread_mutex_lock(&hm_lock);
    tcache_free_locked(p);
    pthread_mutex_unlock(&hm_lock);
    hm_tc = NULL;
}

/* This thread's cache, created on first use; NULL if allocation fails (the
 * caller then just works uncached). Called with hm_lock held. */
static hm_tcache_t *tcache_get_locked(void)
{
    unsigned gen = atomic_load_explicit(&hm_gen, memory_order_relaxed);
    if (hm_tc != NULL && hm_tc_gen == gen)
        return hm_tc;
    hm_tc = NULL;   /* stale: freed by the last shutdown */
    hm_tcache_t *tc = calloc(1, sizeof(*tc));
    if (tc == NULL)
        return NULL;
    size_t cap = 64;
    tc->slots = calloc(cap, sizeof(*tc->slots));
    if (tc->slots == NULL) {
        free(tc);
        return NULL;
    }
    tc->mask = cap - 1;
    if (pthread_setspecific(hm_reg.key, tc) != 0) {
        free(tc->slots);
        free(tc);
        return NULL;
    }
    tc->next = hm_reg.caches;
    if (tc->next)
        tc->next->prev = tc;
    hm_reg.caches = tc;
    hm_reg.bytes += sizeof(*tc) + cap * sizeof(*tc->slots);
    hm_tc = tc;
    hm_tc_gen = gen;
    return tc;
}

static void tcache_put(hm_tc_entry_t *slots, size_t mask, const char *family, uint64_t hash,
                       hm_series_t *s)
{
    size_t i = slot_of(hash, family) & mask;
    while (slots[i].s != NULL)
        i = (i + 1) & mask;
    slots[i].family = family;
    slots[i].hash = hash;
    slots[i].s = s;
}

/* Called with hm_lock held (it keeps hm_reg.bytes). A failed grow just leaves
 * the entry uncached. */
static void tcache_insert_locked(hm_tcache_t *tc, const char *family, uint64_t hash,
                                 hm_series_t *s)
{
    if ((tc->n + 1) * 2 > tc->mask + 1) {
        size_t cap = (tc->mask + 1) * 2;
        hm_tc_entry_t *slots = calloc(cap, sizeof(*slots));
        if (slots == NULL)
            return;
        for (size_t i = 0; i <= tc->mask; i++)
            if (tc->slots[i].s != NULL)
                tcache_put(slots, cap - 1, tc->slots[i].family, tc->slots[i].hash,
                           tc->slots[i].s);
        hm_reg.bytes += (cap - (tc->mask + 1)) * sizeof(*slots);
        free(tc->slots);
        tc->slots = slots;
        tc->mask = cap - 1;
    }
    tcache_put(tc->slots, tc->mask, family, hash, s);
    tc->n++;
}

/* ---- registry (hm_lock held) ------------------------------------------ */

static hm_family_t *family_get_locked(hm_metric_kind_t kind, const char *name, const char *help)
{
    hm_family_t **link = &hm_reg.families;
    for (hm_family_t *f = hm_reg.families; f != NULL; f = f->next) {
        int cmp = f->name == name ? 0 : strcmp(f->name, name);
        if (cmp == 0)
            return f;
        if (cmp > 0)
            break;
        link = &f->next;
    }
    if (!valid_name(name))
        return NULL;
    hm_family_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->name = name;
    f->help = help ? help : "";
    f->kind = kind;
    f->sorted = true;
    f->next = *link;
    *link = f;
    hm_reg.nfamilies++;
    hm_reg.bytes += sizeof(*f);
    return f;
}

static hm_series_t *table_find_locked(const hm_family_t *f, const char *labels, size_t len,
                                      uint64_t hash)
{
    if (hm_reg.table_cap == 0)
        return NULL;
    size_t mask = hm_reg.table_cap - 1;
    for (size_t i = slot_of(hash, f) & mask;; i = (i + 1) & mask) {
        hm_series_t *s = hm_reg.table[i];
        if (s == NULL)
            return NULL;
        if (s->hash == hash && s->fam == f && s->len == len && memcmp(s->labels, labels, len) == 0)
            return s;
    }
}

static void table_put(hm_series_t **table, size_t mask, hm_series_t *s)
{
    size_t i = slot_of(s->hash, s->fam) & mask;
    while (table[i] != NULL)
        i = (i + 1) & mask;
    table[i] = s;
}

/* Make room for one more series; the table stays at most half full. */
static int table_reserve_locked(void)
{
    if ((hm_reg.nseries + 1) * 2 <= hm_reg.table_cap)
        return HM_OK;
    size_t cap = hm_reg.table_cap ? hm_reg.table_cap * 2 : 256;
    hm_series_t **t = calloc(cap, sizeof(*t));
    if (t == NULL)
        return HM_ENOMEM;
    for (size_t i = 0; i < hm_reg.table_cap; i++)
        if (hm_reg.table[i] != NULL)
            table_put(t, cap - 1, hm_reg.table[i]);
    hm_reg.bytes += (cap - hm_reg.table_cap) * sizeof(*t);
    free(hm_reg.table);
    hm_reg.table = t;
    hm_reg.table_cap = cap;
    return HM_OK;
}

/* Reserve `n` cells in every worker region. Histograms start on a cache line
 * so one observation touches at most two lines. */
static _Atomic uint64_t *cells_alloc_locked(size_t n, bool align)
{
    size_t at = hm_reg.page_used;
    if (align)
        at = (at + 7) & ~(size_t)7;
    if (hm_reg.page_cells == NULL || at + n > HM_PAGE_CELLS) {
        /* calloc, not aligned_alloc + memset: a large calloc is fresh mmap'd
         * memory, so regions of idle workers cost no RSS. */
        hm_page_t *pg = calloc(1, sizeof(*pg) + HM_CACHE_LINE + HM_PAGE_BYTES);
        if (pg == NULL)
            return NULL;
        uintptr_t p = (uintptr_t)(pg + 1);
        p = (p + HM_CACHE_LINE - 1) & ~(uintptr_t)(HM_CACHE_LINE - 1);
        pg->next = hm_reg.pages;
        hm_reg.pages = pg;
        hm_reg.page_cells = (_Atomic uint64_t *)p;
        hm_reg.bytes += sizeof(*pg) + HM_CACHE_LINE + HM_PAGE_BYTES;
        at = 0;
    }
    hm_reg.page_used = at + n;
    return hm_reg.page_cells + at;
}

static hm_series_t *series_create_locked(hm_family_t *f, const char *labels, size_t len,
                                         uint64_t hash)
{
    if (table_reserve_locked() != HM_OK)
        return NULL;
    if (f->nseries == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        hm_series_t **arr = realloc(f->series, cap * sizeof(*arr));
        if (arr == NULL)
            return NULL;
        hm_reg.bytes += (cap - f->cap) * sizeof(*arr);
        f->series = arr;
        f->cap = cap;
    }
    hm_series_t *s = malloc(sizeof(*s) + len + 1);
    if (s == NULL)
        return NULL;
    bool hist = f->kind == HM_METRIC_HISTOGRAM;
    s->base = cells_alloc_locked(hist ? HM_HIST_CELLS : 1, hist);
    if (s->base == NULL) {
        free(s);
        return NULL;
    }
    s->kind = f->kind;
    s->fam = f;
    s->hash = hash;
    s->len = len;
    memcpy(s->labels, labels, len);
    s->labels[len] = '\0';
    /* Appending in label order (common when series are created in a loop)
     * keeps the array sorted, so render need not sort again. */
    if (f->nseries > 0 && strcmp(f->series[f->nseries - 1]->labels, s->labels) > 0)
        f->sorted = false;
    f->series[f->nseries++] = s;
    table_put(hm_reg.table, hm_reg.table_cap - 1, s);
    hm_reg.nseries++;
    hm_reg.bytes += sizeof(*s) + len + 1;
    return s;
}

/* ---- lookup ----------------------------------------------------------- */

static hm_series_t *lookup_slow(hm_metric_kind_t kind, const char *family, const char *help,
                                const char *labels, size_t len, uint64_t hash)
{
    hm_series_t *s = NULL;
    pthread_mutex_lock(&hm_lock);
    if (!hm_reg.inited)
        goto out;
    hm_reg.slow_lookups++;
    hm_family_t *f = family_get_locked(kind, family, help);
    if (f == NULL || f->kind != kind)
        goto out;
    s = table_find_locked(f, labels, len, hash);
    if (s == NULL)
        s = series_create_locked(f, labels, len, hash);
    if (s != NULL) {
        hm_tcache_t *tc = tcache_get_locked();
        if (tc != NULL)
            tcache_insert_locked(tc, family, hash, s);
    }
out:
    pthread_mutex_unlock(&hm_lock);
    return s;
}

static hm_series_t *lookup(hm_metric_kind_t kind, const char *family, const char *help,
                           const char *labels, size_t len)
{
    uint64_t hash = hash_bytes(labels, len);
    hm_tcache_t *tc = hm_tc;
    if (tc != NULL && hm_tc_gen == atomic_load_explicit(&hm_gen, memory_order_relaxed)) {
        for (size_t i = slot_of(hash, family) & tc->mask;; i = (i + 1) & tc->mask) {
            const hm_tc_entry_t *e = &tc->slots[i];
            if (e->s == NULL)
                break;
            if (e->hash == hash && e->family == family && e->s->len == len &&
                memcmp(e->s->labels, labels, len) == 0)
                return e->s->kind == kind ? e->s : NULL;
        }
    }
    return lookup_slow(kind, family, help, labels, len, hash);
}

hm_series_t *hm_metrics_series(hm_metric_kind_t kind, const char *family, const char *help,
                               const char *labels)
{
    if (family == NULL)
        return NULL;
    if (labels == NULL)
        labels = "";
    return lookup(kind, family, help, labels, strlen(labels));
}

/* ---- hot path --------------------------------------------------------- */

static inline _Atomic uint64_t *cell(const hm_series_t *s, int worker)
{
    return s->base + (size_t)worker * HM_PAGE_CELLS;
}

/* Only the owning worker writes a cell, so load + store is exact. */
static inline void cell_add_double(_Atomic uint64_t *c, double v)
{
    uint64_t old = atomic_load_explicit(c, memory_order_relaxed);
    atomic_store_explicit(c, d2u(u2d(old) + v), memory_order_relaxed);
}

static inline void cell_inc(_Atomic uint64_t *c)
{
    uint64_t old = atomic_load_explicit(c, memory_order_relaxed);
    atomic_store_explicit(c, old + 1, memory_order_relaxed);
}

void hm_series_add(hm_series_t *s, int worker, double v)
{
    if (s == NULL || (unsigned)worker >= HM_MAX_WORKERS || s->kind == HM_METRIC_HISTOGRAM)
        return;
    if (s->kind == HM_METRIC_COUNTER && !(v >= 0))
        return;   /* counters only go up (and NaN would poison them forever) */
    cell_add_double(cell(s, worker), v);
}

void hm_series_set(hm_series_t *s, int worker, double v)
{
    if (s == NULL || (unsigned)worker >= HM_MAX_WORKERS || s->kind != HM_METRIC_GAUGE)
        return;
    atomic_store_explicit(cell(s, worker), d2u(v), memory_order_relaxed);
}

void hm_series_observe(hm_series_t *s, int worker, double v)
{
    if (s == NULL || (unsigned)worker >= HM_MAX_WORKERS || s->kind != HM_METRIC_HISTOGRAM)
        return;
    int i = 0;
    while (i < HM_HIST_FINITE && !(v <= hm_hist_bounds[i]))
        i++;   /* NaN lands in +Inf, as in the Go client */
    _Atomic uint64_t *c = cell(s, worker);
    cell_inc(&c[i]);
    cell_add_double(&c[HM_HIST_SUM], v);
}

static double sum_double(const hm_series_t *s, int idx)
{
    double v = 0;
    for (int w = 0; w < HM_MAX_WORKERS; w++)
        v += u2d(atomic_load_explicit(&cell(s, w)[idx], memory_order_relaxed));
    return v;
}

static uint64_t sum_count(const hm_series_t *s, int idx)
{
    uint64_t v = 0;
    for (int w = 0; w < HM_MAX_WORKERS; w++)
        v += atomic_load_explicit(&cell(s, w)[idx], memory_order_relaxed);
    return v;
}

double hm_series_value(const hm_series_t *s)
{
    if (s == NULL)
        return 0;
    if (s->kind != HM_METRIC_HISTOGRAM)
        return sum_double(s, 0);
    uint64_t n = 0;
    for (int i = 0; i < HM_HIST_BUCKETS; i++)
        n += sum_count(s, i);
    return (double)n;
}

/* ---- convenience ------------------------------------------------------ */

static const char hm_http_total[] = "hotelmux_http_requests_total";
static const char hm_http_secs[] = "hotelmux_http_request_duration_seconds";
static const char hm_out_total[] = "hotelmux_outbound_requests_total";
static const char hm_out_secs[] = "hotelmux_outbound_request_duration_seconds";

#define HM_LABEL_VALUE_MAX 256

static size_t put_lit(char *p, const char *lit, size_t n)
{
    memcpy(p, lit, n);
    return n;
}
#define PUT_LIT(p, lit) put_lit((p), (lit), sizeof(lit) - 1)

static size_t put_long(char *p, long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        p[len++] = '-';
    while (n)
        p[len++] = tmp[--n];
    return len;
}

/* The duration histogram's labels are a prefix of the counter's, so both
 * lookups share one buffer and one escape pass per value. */
void hm_metrics_http_request(int worker, const char *route, const char *method, int status,
                             double seconds)
{
    char buf[2 * HM_LABEL_VALUE_MAX + 64];
    size_t n = PUT_LIT(buf, "route=\"");
    n += escape_into(buf + n, HM_LABEL_VALUE_MAX, route);
    buf[n++] = '"';
    hm_series_observe(lookup(HM_METRIC_HISTOGRAM, hm_http_secs,
                             "HTTP request latency in seconds, by route.", buf, n),
                      worker, seconds);
    n += PUT_LIT(buf + n, ",method=\"");
    n += escape_into(buf + n, 32, method);
    n += PUT_LIT(buf + n, "\",status=\"");
    n += put_long(buf + n, status);
    buf[n++] = '"';
    hm_series_add(lookup(HM_METRIC_COUNTER, hm_http_total,
                         "HTTP requests served, by route, method and status.", buf, n),
                  worker, 1);
}

void hm_metrics_outbound(int worker, const char *host, long status, double seconds)
{
    char buf[HM_LABEL_VALUE_MAX + 64];
    size_t n = PUT_LIT(buf, "host=\"");
    n += escape_into(buf + n, HM_LABEL_VALUE_MAX, host);
    buf[n++] = '"';
    hm_series_observe(lookup(HM_METRIC_HISTOGRAM, hm_out_secs,
                             "Outbound request latency in seconds, by host.", buf, n),
                      worker, seconds);
    n += PUT_LIT(buf + n, ",status=\"");
    n += put_long(buf + n, status);
    buf[n++] = '"';
    hm_series_add(lookup(HM_METRIC_COUNTER, hm_out_total,
                         "Outbound requests made, by host and status (0 = no response).", buf,
                         n),
                  worker, 1);
}

/* ---- rendering -------------------------------------------------------- */

/* Sticky-error writer: the first failed append ends output. */
typedef struct {
    hm_buf_t *b;
    int rc;
} hm_writer_t;

static void w_put(hm_writer_t *w, const char *p, size_t n)
{
    if (w->rc == HM_OK)
        w->rc = hm_buf_append(w->b, p, n);
}

static void w_str(hm_writer_t *w, const char *s) { w_put(w, s, strlen(s)); }

/* Prometheus spellings for the specials; integers without a fraction;
 * anything else in the shortest %g form that reads back to the same double. */
static size_t fmt_double(char *out, size_t cap, double v)
{
    int n;
    if (isnan(v))
        n = snprintf(out, cap, "NaN");
    else if (isinf(v))
        n = snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    else if (v == trunc(v) && fabs(v) < 9007199254740992.0)
        n = snprintf(out, cap, "%lld", (long long)v);
    else {
        n = 0;
        for (int prec = 1; prec <= 17; prec++) {
            n = snprintf(out, cap, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
    return n < 0 ? 0 : (size_t)n;
}

static void w_double(hm_writer_t *w, double v)
{
    char tmp[40];
    w_put(w, tmp, fmt_double(tmp, sizeof(tmp), v));
}

static void w_u64(hm_writer_t *w, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    w_put(w, tmp, (size_t)n);
}

/* HELP text escapes only backslash and newline in format 0.0.4. */
static void w_help(hm_writer_t *w, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            w_put(w, "\\\\", 2);
        else if (*p == '\n')
            w_put(w, "\\n", 2);
        else
            w_put(w, p, 1);
    }
}

static int cmp_series(const void *a, const void *b)
{
    const hm_series_t *x = *(hm_series_t *const *)a, *y = *(hm_series_t *const *)b;
    return strcmp(x->labels, y->labels);
}

static void render_scalar(hm_writer_t *w, const hm_family_t *f, const hm_series_t *s)
{
    w_str(w, f->name);
    if (s->len) {
        w_put(w, "{", 1);
        w_put(w, s->labels, s->len);
        w_put(w, "}", 1);
    }
    w_put(w, " ", 1);
    w_double(w, sum_double(s, 0));
    w_put(w, "\n", 1);
}

static void render_histogram(hm_writer_t *w, const hm_family_t *f, const hm_series_t *s)
{
    uint64_t cum = 0;
    for (int i = 0; i < HM_HIST_BUCKETS; i++) {
        cum += sum_count(s, i);
        w_str(w, f->name);
        w_put(w, "_bucket{", 8);
        if (s->len) {
            w_put(w, s->labels, s->len);
            w_put(w, ",", 1);
        }
        w_put(w, "le=\"", 4);
        w_double(w, i < HM_HIST_FINITE ? hm_hist_bounds[i] : INFINITY);
        w_put(w, "\"} ", 3);
        w_u64(w, cum);
        w_put(w, "\n", 1);
    }
    static const char *const suffix[] = { "_sum", "_count" };
    for (int k = 0; k < 2; k++) {
        w_str(w, f->name);
        w_str(w, suffix[k]);
        if (s->len) {
            w_put(w, "{", 1);
            w_put(w, s->labels, s->len);
            w_put(w, "}", 1);
        }
        w_put(w, " ", 1);
        if (k == 0)
            w_double(w, sum_double(s, HM_HIST_SUM));
        else
            w_u64(w, cum);   /* == the +Inf bucket by construction */
        w_put(w, "\n", 1);
    }
}

int hm_metrics_render(hm_buf_t *out)
{
    static const char *const kind_names[] = { "counter", "gauge", "histogram" };
    if (out == NULL)
        return HM_EINVAL;
    hm_writer_t w = { out, HM_OK };
    pthread_mutex_lock(&hm_lock);
    if (!hm_reg.inited) {
        pthread_mutex_unlock(&hm_lock);
        return HM_ESTATE;
    }
    for (hm_family_t *f = hm_reg.families; f != NULL && w.rc == HM_OK; f = f->next) {
        if (f->nseries == 0)
            continue;   /* a series allocation failed right after the family's */
        if (!f->sorted) {
            qsort(f->series, f->nseries, sizeof(*f->series), cmp_series);
            f->sorted = true;
        }
        w_put(&w, "# HELP ", 7);
        w_str(&w, f->name);
        w_put(&w, " ", 1);
        w_help(&w, f->help);
        w_put(&w, "\n# TYPE ", 8);
        w_str(&w, f->name);
        w_put(&w, " ", 1);
        w_str(&w, kind_names[f->kind]);
        w_put(&w, "\n", 1);
        for (size_t i = 0; i < f->nseries && w.rc == HM_OK; i++) {
            if (f->kind == HM_METRIC_HISTOGRAM)
                render_histogram(&w, f, f->series[i]);
            else
                render_scalar(&w, f, f->series[i]);
        }
    }
    pthread_mutex_unlock(&hm_lock);
    return w.rc;
}

/* ---- lifecycle -------------------------------------------------------- */

int hm_metrics_init(void)
{
    int rc = HM_OK;
    pthread_mutex_lock(&hm_lock);
    if (hm_reg.inited)
        rc = HM_ESTATE;
    else if (pthread_key_create(&hm_reg.key, tcache_thread_exit) != 0)
        rc = HM_EIO;
    else
        hm_reg.inited = true;
    pthread_mutex_unlock(&hm_lock);
    return rc;
}

void hm_metrics_shutdown(void)
{
    pthread_mutex_lock(&hm_lock);
    if (!hm_reg.inited) {
        pthread_mutex_unlock(&hm_lock);
        return;
    }
    /* After the delete no destructor runs for the caches freed below. */
    pthread_key_delete(hm_reg.key);
    while (hm_reg.caches != NULL)
        tcache_free_locked(hm_reg.caches);
    hm_family_t *f = hm_reg.families;
    while (f != NULL) {
        hm_family_t *next = f->next;
        for (size_t i = 0; i < f->nseries; i++)
            free(f->series[i]);
        free(f->series);
        free(f);
        f = next;
    }
    hm_page_t *pg = hm_reg.pages;
    while (pg != NULL) {
        hm_page_t *next = pg->next;
        free(pg);
        pg = next;
    }
    free(hm_reg.table);
    memset(&hm_reg, 0, sizeof(hm_reg));
    atomic_fetch_add_explicit(&hm_gen, 1, memory_order_relaxed);
    hm_tc = NULL;
    pthread_mutex_unlock(&hm_lock);
}

void hm_metrics_stats(hm_metrics_stats_t *st)
{
    if (st == NULL)
        return;
    pthread_mutex_lock(&hm_lock);
    st->families = hm_reg.nfamilies;
    st->series = hm_reg.nseries;
    st->bytes = hm_reg.bytes;
    st->slow_lookups = hm_reg.slow_lookups;
    pthread_mutex_unlock(&hm_lock);
}
