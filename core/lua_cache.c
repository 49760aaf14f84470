/* lua_cache.c -- hm.cache (see lua_cache.h). */
#include "hotelmux/lua_cache.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "hotelmux/agedoc.h"
#include "hotelmux/answer.h"
#include "hotelmux/ari.h"
#include "hotelmux/cache.h"
#include "hotelmux/clock.h"
#include "hotelmux/common.h"
#include "hotelmux/log.h"
#include "hotelmux/lua_body.h"
#include "hotelmux/metrics.h"
#include "hotelmux/redis.h"
#include "hotelmux/singleflight.h"
#include "hotelmux/task.h"
#include "hotelmux/worker.h"

#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <sys/random.h>

#define CONTENT_MAX_TTL (7 * 86400.0)

static int worker_of(hm_vm_t *vm) { return vm->worker ? vm->worker->id : 0; }

/* Rule 1: refuse inside an ARI request. Pushes nil, "ari" and returns 2. */
static int refused_ari(lua_State *L, hm_vm_t *vm, const char *op)
{
    hm_task_t *t = vm->current;
    if (t == NULL || !t->ari)
        return 0;
    hm_ari_count_refusal(worker_of(vm), op);
    lua_pushnil(L);
    lua_pushliteral(L, "ari");
    return 2;
}

static int fail(lua_State *L, const char *why)
{
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}


/* ---- L2 (Redis) ------------------------------------------------------- */

#define L2_KEY "hm:c:"
#define L2_TAG "hm:t:"
#define L2_FENCE "hm:i:"
#define MAX_L2_ARGS (2 + 2 * HM_CACHE_MAX_TAGS)
/* How long after an invalidation no L2 store of its tag is accepted (plus
 * the Redis timeout, how long a command may wait in a client's buffer): longer
 * than a fetch can take between reading the supplier and storing the entry
 * (a search's deadline, 1 s by default; a refresh's supplier timeout). The
 * nodes' L1 stores have their own fence (the tag epochs, hm.cache.epoch). */
#define L2_FENCE_MS 30000

/* Set the value and add the key to each tag's set (kept at least as long),
 * unless one of its tags was invalidated within the fence (KEYS: the key,
 * its n tag sets, their n fences). L2 writes do not wait for Redis: a store
 * of data fetched before a webhook can reach Redis after the webhook's
 * delete, where the other nodes would find it again for its whole TTL. */
static const char L2_SET_SCRIPT[] =
    "local n = (#KEYS - 1) / 2 "
    "for i = 2 + n, #KEYS do if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "for i = 2, 1 + n do redis.call('SADD', KEYS[i], KEYS[1]) "
    "if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end end "
    "return 1";
/* Fence the tag, drop its keys, then tell every node (KEYS: the tag's set,
 * its fence; ARGV: channel, payload, fence ms). */
static const char L2_INVALIDATE_SCRIPT[] =
    "redis.call('SET', KEYS[2], '1', 'PX', ARGV[3]) "
    "local ks = redis.call('SMEMBERS', KEYS[1]) "
    "for _, k in ipairs(ks) do redis.call('DEL', k) end "
    "redis.call('DEL', KEYS[1]) "
    "local n = redis.call('PUBLISH', ARGV[1], ARGV[2]) "
    "return { #ks, n }";

static uint64_t node_id(void)
{
    static _Atomic uint64_t id;
    uint64_t v = atomic_load(&id);
    while (v == 0) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
            r = (uint64_t)hm_clock_now() ^ (uint64_t)(uintptr_t)&id;
        r |= 1;
        uint64_t zero = 0;
        if (atomic_compare_exchange_strong(&id, &zero, r))
            v = r;
        else
            v = zero;
    }
    return v;
}

static hm_redis_t *l2_of(hm_vm_t *vm)
{
    hm_worker_t *w = vm->worker;
    return w && hm_redis_connected(w->redis) ? w->redis : NULL;
}

static hm_series_t *lookups_series(const char *level, const char *result)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "level=\"%s\",result=\"%s\"", level, result);
    return hm_metrics_series(HM_METRIC_COUNTER, HM_CACHE_LOOKUPS_FAMILY, HM_CACHE_LOOKUPS_HELP, labels);
}

static void count_lookup(hm_vm_t *vm, const char *level, const char *result)
{
    hm_series_add(lookups_series(level, result), worker_of(vm), 1);
}

/* Push a cache hit as get() returns it: value, {age, ttl, source, reads}
 * (reads: an L1 entry's reads since stored, this one included; 0 = not
 * known, left out). */
static void push_hit(lua_State *L, const char *data, size_t len, double age, double ttl, const char *source,
                     uint64_t reads)
{
    lua_pushlstring(L, data, len);
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, age > 0 ? age : 0);
    lua_setfield(L, -2, "age");
    lua_pushnumber(L, ttl);
    lua_setfield(L, -2, "ttl");
    lua_pushstring(L, source);
    lua_setfield(L, -2, "source");
    if (reads > 0) {
        lua_pushnumber(L, (lua_Number)reads);
        lua_setfield(L, -2, "reads");
    }
}

static void l2_ignore(void *data, redisReply *reply, const char *err)
{
    (void)data;
    (void)reply;
    (void)err;
}

/* Write key -> "stored_at|ttl|tag\x1ftag|value" into L2 without waiting. */
static void l2_store(hm_vm_t *vm, const char *key, size_t klen, const char *val, size_t vlen,
                     double ttl, const char **tags, size_t ntags)
{
    hm_redis_t *r = l2_of(vm);
    if (!r)
        return;
    hm_buf_t k = HM_BUF_INIT, v = HM_BUF_INIT, px = HM_BUF_INIT;
    hm_buf_t tk[HM_CACHE_MAX_TAGS], fk[HM_CACHE_MAX_TAGS];
    const char *argv[4 + MAX_L2_ARGS];
    size_t lens[4 + MAX_L2_ARGS];
    int rc = hm_buf_printf(&k, L2_KEY "%.*s", (int)klen, key);
    rc |= hm_buf_printf(&v, "%.3f|%.3f|", hm_clock_now(), ttl);
    for (size_t i = 0; i < ntags; i++)
        rc |= hm_buf_printf(&v, "%s%s", i ? "\x1f" : "", tags[i]);
    rc |= hm_buf_puts(&v, "|");
    rc |= hm_buf_append(&v, val, vlen);
    rc |= hm_buf_printf(&px, "%lld", (long long)(ttl * 1000));
    int argc = 0;
    argv[argc] = "EVAL", lens[argc++] = 4;
    argv[argc] = L2_SET_SCRIPT, lens[argc++] = sizeof(L2_SET_SCRIPT) - 1;
    char nk[24];
    snprintf(nk, sizeof(nk), "%zu", 1 + 2 * ntags);
    argv[argc] = nk, lens[argc++] = strlen(nk);
    argv[argc] = k.data, lens[argc++] = k.len;
    for (size_t i = 0; i < ntags; i++) {
        hm_buf_t init = HM_BUF_INIT;
        tk[i] = init;
        fk[i] = init;
        rc |= hm_buf_printf(&tk[i], L2_TAG "%s", tags[i]);
        rc |= hm_buf_printf(&fk[i], L2_FENCE "%s", tags[i]);
        argv[argc] = tk[i].data, lens[argc++] = tk[i].len;
    }
    for (size_t i = 0; i < ntags; i++)
        argv[argc] = fk[i].data, lens[argc++] = fk[i].len;
    argv[argc] = v.data, lens[argc++] = v.len;
    argv[argc] = px.data, lens[argc++] = px.len;
    if (rc == HM_OK)
        hm_redis_command(r, vm->worker->cfg->redis_timeout_ms, l2_ignore, NULL, NULL, argc, argv, lens);
    for (size_t i = 0; i < ntags; i++) {
        hm_buf_free(&tk[i]);
        hm_buf_free(&fk[i]);
    }
    hm_buf_free(&k);
    hm_buf_free(&v);
    hm_buf_free(&px);
}

typedef struct {
    hm_task_t *task;
    hm_redis_op_t *op;
    char *key;
    size_t klen;
    uint64_t epoch;   /* invalidations started when the GET was sent */
} l2_wait_t;

static void l2_wait_free(l2_wait_t *w)
{
    free(w->key);
    free(w);
}

/* A GET answered: promote a live hit into L1 and resume the script. */
static void l2_got(void *data, redisReply *reply, const char *err)
{
    l2_wait_t *w = data;
    hm_task_t *t = w->task;
    hm_vm_t *vm = t->vm;
    lua_State *co = t->co;
    double now = hm_clock_now();
    if (reply && reply->type == REDIS_REPLY_STRING) {
        /* stored_at|ttl|tags|value */
        char *p = reply->str, *end = reply->str + reply->len;
        char *bar1 = memchr(p, '|', (size_t)(end - p));
        char *bar2 = bar1 ? memchr(bar1 + 1, '|', (size_t)(end - bar1 - 1)) : NULL;
        char *bar3 = bar2 ? memchr(bar2 + 1, '|', (size_t)(end - bar2 - 1)) : NULL;
        double stored = bar1 ? strtod(p, NULL) : 0, ttl = bar1 ? strtod(bar1 + 1, NULL) : 0;
        double age = now - stored;
        if (bar3 && ttl > 0 && age < ttl) {
            const char *tags[HM_CACHE_MAX_TAGS];
            char tagbuf[HM_CACHE_MAX_TAGS * 260];
            size_t ntags = 0, tl = (size_t)(bar3 - bar2 - 1);
            if (tl < sizeof(tagbuf)) {
                memcpy(tagbuf, bar2 + 1, tl);
                tagbuf[tl] = '\0';
                for (char *s = tagbuf, *tok; ntags < HM_CACHE_MAX_TAGS && (tok = strsep(&s, "\x1f"));)
                    if (*tok)
                        tags[ntags++] = tok;
                /* Keep its age: stored `age` seconds ago on the monotonic clock.
                 * Not when an invalidation started since the GET was sent:
                 * Redis may have answered before its delete, and putting the
                 * old value back in L1 would outlive the invalidation. */
                uint64_t started, finished;
                hm_cache_epoch(&started, &finished);
                if (started == w->epoch)
                    hm_cache_set(w->key, w->klen, bar3 + 1, (size_t)(end - bar3 - 1), ttl, tags, ntags,
                                 hm_clock_monotonic() - (age > 0 ? age : 0));
            }
            count_lookup(vm, "l2", "hit");
            push_hit(co, bar3 + 1, (size_t)(end - bar3 - 1), age, ttl, "l2", 0);
            l2_wait_free(w);
            hm_task_wake(t, 2);
            return;
        }
    }
    count_lookup(vm, "l2", err ? "error" : "miss");
    lua_pushnil(co);
    lua_pushstring(co, "miss");
    l2_wait_free(w);
    hm_task_wake(t, 2);
}

static void l2_cancel(hm_task_t *t, void *data)
{
    (void)t;
    l2_wait_t *w = data;
    hm_redis_cancel(w->op);
    l2_wait_free(w);
}

/* L1 missed: ask L2 if we can wait. Returns lua_yield's value or 0 (= miss now). */
static int l2_get(lua_State *L, hm_vm_t *vm, const char *key, size_t klen)
{
    hm_redis_t *r = l2_of(vm);
    hm_task_t *t = vm->current;
    if (!r || !t || t->co != L || t->waiting)
        return 0;
    l2_wait_t *w = calloc(1, sizeof(*w));
    hm_buf_t k = HM_BUF_INIT;
    if (!w || hm_buf_printf(&k, L2_KEY "%.*s", (int)klen, key) != HM_OK ||
        !(w->key = malloc(klen + 1))) {
        free(w);
        hm_buf_free(&k);
        return 0;
    }
    memcpy(w->key, key, klen);
    w->key[klen] = '\0';
    w->klen = klen;
    w->task = t;
    uint64_t finished;
    hm_cache_epoch(&w->epoch, &finished);
    const char *argv[2] = { "GET", k.data };
    size_t lens[2] = { 3, k.len };
    int rc = hm_redis_command(r, vm->worker->cfg->redis_timeout_ms, l2_got, w, &w->op, 2, argv, lens);
    hm_buf_free(&k);
    if (rc != HM_OK) {
        l2_wait_free(w);
        count_lookup(vm, "l2", "error");
        return 0;
    }
    hm_task_suspend(t, l2_cancel, w);
    return -1;
}

/* ---- invalidation across nodes ----------------------------------------
 * invalidate(tag) on node A: drop L1, then one Redis script drops the L2
 * entries and PUBLISHes "tag\tsent_ms\tnode\tworker\tevent" to every node's
 * subscriber; PUBLISH says how many subscribers got it (every node, A too).
 * Each other node drops its L1 entries and PUBLISHes the event id back on
 * A's per-worker ack channel; the invalidating task resumes when all have
 * acknowledged (or after ACK_TIMEOUT_MS), so a webhook is answered after
 * every node dropped its entries, as DESIGN §5 rule 4 asks. */

#define ACK_TIMEOUT_MS 250

typedef struct inv_wait_s {
    hm_task_t *task;
    hm_redis_op_t *op;
    uv_timer_t timer;
    int timer_on;
    size_t local;
    unsigned long long event;
    long long deleted, receivers, expected, acked;
    struct inv_wait_s *prev, *next;
    size_t tlen;
    char tag[257];
} inv_wait_t;

/* This worker's invalidations waiting for acks (each worker thread has its own). */
static _Thread_local inv_wait_t *ack_waits;
static _Thread_local unsigned long long next_event;

static void ack_channel(char *out, size_t cap, unsigned long long node, int worker)
{
    snprintf(out, cap, HM_INVALIDATION_CHANNEL ":ack:%llx:%d", node, worker);
}

void hm_lua_cache_ack_channel(char *out, size_t cap, int worker)
{
    ack_channel(out, cap, (unsigned long long)node_id(), worker);
}

static void inv_wait_closed(uv_handle_t *h) { free(h->data); }

static void inv_unlink(inv_wait_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (ack_waits == w)
        ack_waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

/* Free w (its timer, if it has one, closes first). */
static void inv_wait_free(inv_wait_t *w)
{
    inv_unlink(w);
    if (w->timer_on) {
        uv_timer_stop(&w->timer);
        uv_close((uv_handle_t *)&w->timer, inv_wait_closed);
    } else {
        free(w);
    }
}

static void inv_finish(inv_wait_t *w, const char *err)
{
    hm_task_t *t = w->task;
    lua_State *co = t->co;
    lua_pushinteger(co, (lua_Integer)w->local);
    lua_createtable(co, 0, 6);
    lua_pushboolean(co, err == NULL);
    lua_setfield(co, -2, "published");
    if (err) {
        lua_pushstring(co, err);
        lua_setfield(co, -2, "error");
    } else {
        lua_pushinteger(co, (lua_Integer)w->deleted);
        lua_setfield(co, -2, "l2_deleted");
        lua_pushinteger(co, (lua_Integer)w->receivers);
        lua_setfield(co, -2, "receivers");
        lua_pushinteger(co, (lua_Integer)w->expected);
        lua_setfield(co, -2, "nodes_expected");
        lua_pushinteger(co, (lua_Integer)w->acked);
        lua_setfield(co, -2, "nodes_acked");
    }
    inv_wait_free(w);
    hm_task_wake(t, 2);
}

static void on_ack_timeout(uv_timer_t *h)
{
    inv_wait_t *w = h->data;
    inv_finish(w, NULL);   /* nodes_acked < nodes_expected tells the caller */
}

static void inv_done(void *data, redisReply *reply, const char *err)
{
    inv_wait_t *w = data;
    w->op = NULL;
    /* Drop L1 again now that L2 is deleted: another worker's L2 read that
     * Redis answered before the delete may have put the old entry back
     * (reads sent after this drop find L2 empty; see l2_got's epoch check). */
    hm_cache_invalidate_tag(w->tag, w->tlen);
    hm_sf_forget_landed();
    if (!(reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)) {
        inv_finish(w, err ? err : "unexpected reply");
        return;
    }
    w->deleted = reply->element[0]->integer;
    w->receivers = reply->element[1]->integer;
    w->expected = w->receivers > 0 ? w->receivers - 1 : 0;   /* every node but this one */
    if (w->acked >= w->expected) {
        inv_finish(w, NULL);
        return;
    }
    hm_worker_t *wk = w->task->vm->worker;
    if (uv_timer_init(&wk->loop, &w->timer) != 0) {
        inv_finish(w, NULL);
        return;
    }
    w->timer.data = w;
    w->timer_on = 1;
    uv_timer_start(&w->timer, on_ack_timeout, ACK_TIMEOUT_MS, 0);
}

static void inv_cancel(hm_task_t *t, void *data)
{
    (void)t;
    inv_wait_t *w = data;
    hm_redis_cancel(w->op);
    inv_wait_free(w);
}

static void on_ack(const char *payload, size_t len)
{
    unsigned long long ev = strtoull(payload, NULL, 10);
    (void)len;
    for (inv_wait_t *w = ack_waits; w; w = w->next)
        if (w->event == ev) {
            /* acks can arrive before PUBLISH's own reply: count them anyway */
            if (++w->acked >= w->expected && w->op == NULL)
                inv_finish(w, NULL);
            return;
        }
}

void hm_lua_cache_on_invalidation(void *worker, const char *channel, const char *payload, size_t len)
{
    hm_worker_t *w = worker;
    if (strcmp(channel, HM_INVALIDATION_CHANNEL) != 0) {
        on_ack(payload, len);
        return;
    }
    /* "tag\tsent_ms\tnode\tworker\tevent" */
    const char *f[5] = { payload };
    size_t nf = 1;
    for (size_t i = 0; i < len && nf < 5; i++)
        if (payload[i] == '\t')
            f[nf++] = payload + i + 1;
    size_t tlen = nf > 1 ? (size_t)(f[1] - payload - 1) : len;
    unsigned long long node = nf > 2 ? strtoull(f[2], NULL, 16) : 0;
    if (node == node_id())
        return;   /* ours: L1 was cleared before publishing */
    hm_cache_invalidate_tag(payload, tlen);
    hm_sf_forget_landed();
    double sent_ms = nf > 1 ? strtod(f[1], NULL) : 0;
    if (sent_ms > 0)
        hm_series_observe(hm_metrics_series(HM_METRIC_HISTOGRAM, "hotelmux_invalidation_delay_seconds",
                                            "From a node publishing an invalidation to this node applying it", ""),
                          0, hm_clock_now() - sent_ms / 1000.0);
    if (nf < 5 || !w || !hm_redis_connected(w->redis))
        return;
    /* acknowledge to the publishing worker */
    char chan[128], ev[32];
    ack_channel(chan, sizeof(chan), node, atoi(f[3]));
    size_t evlen = (size_t)(payload + len - f[4]);
    if (evlen >= sizeof(ev))
        return;
    memcpy(ev, f[4], evlen);
    ev[evlen] = '\0';
    const char *argv[3] = { "PUBLISH", chan, ev };
    size_t lens[3] = { 7, strlen(chan), evlen };
    hm_redis_command(w->redis, 1000, l2_ignore, NULL, NULL, 3, argv, lens);
}

/* Has an invalidation started since the caller read hm.cache.epoch()? */
static int epoch_moved(double epoch)
{
    uint64_t started, finished;
    hm_cache_epoch(&started, &finished);
    return (double)started != epoch;
}

static int l_get(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    int n = refused_ari(L, vm, "get");
    if (n)
        return n;
    /* { l1_only = true }: a key only ever stored with l1_only (the answer
     * level) cannot be in Redis; asking would cost a round trip per miss. */
    int l1_only = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "l1_only");
        l1_only = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    hm_cache_value_t v;
    double now = hm_clock_monotonic();
    int rc = hm_cache_get(key, klen, now, &v);
    count_lookup(vm, "l1", rc == HM_OK ? "hit" : "miss");
    if (rc == HM_ENOENT && !l1_only && l2_get(L, vm, key, klen))
        return lua_yield(L, 0);
    if (rc != HM_OK)
        return fail(L, rc == HM_ENOENT ? "miss" : "no memory");
    push_hit(L, v.data, v.len, now - v.stored_at, v.ttl, "l1", v.reads);
    free(v.data);
    return 2;
}

/* ---- answers (answer.h): stored whole, ages filled in per hit ---------- */

static void push_label(void *ud, const char *label, size_t len)
{
    lua_State *L = ud;
    lua_pushlstring(L, label, len);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
}

/* answer(key, prefix[, fraction]) -> body, age, reads, expiring | nil, why
 * A stored answer (an agedoc, L1 only) rendered after prefix with its ages
 * as they are now: a body for the handler's { body = ... }. age: seconds
 * since it was stored; reads: hits since then, this one included;
 * expiring: the labels of its parts with less than `fraction` of their TTL
 * left (nil when none or no fraction). Refused in ARI requests. */
static int l_answer(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen, plen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *prefix = luaL_optlstring(L, 2, "", &plen);
    double fraction = luaL_optnumber(L, 3, 0);
    int n = refused_ari(L, vm, "get");
    if (n)
        return n;
    hm_lua_body_push(L);   /* the answer */
    hm_lua_body_push(L);   /* owns the head copy, if any: no leak if a Lua call below raises */
    int top = lua_gettop(L);
    hm_answer_t a;
    int rc = hm_answer_render(key, klen, prefix, plen, fraction, 1, hm_clock_monotonic(), &a);
    hm_answer_count(worker_of(vm), rc == HM_OK);
    if (rc != HM_OK) {
        if (rc == HM_EINVAL)
            hm_log(HM_LOG_WARN, "cache: answer %.*s is not an agedoc: not served", (int)klen, key);
        return fail(L, rc == HM_ENOENT ? "miss" : rc == HM_EINVAL ? "malformed" : "no memory");
    }
    hm_lua_body_adopt(L, top - 1, a.body, a.len);
    hm_lua_body_adopt(L, top, a.head, a.head_len);
    lua_pushvalue(L, top - 1);
    lua_pushnumber(L, a.age);
    lua_pushnumber(L, (lua_Number)a.reads);
    lua_pushnil(L);
    if (a.head != NULL) {
        lua_createtable(L, 2, 0);
        if (hm_agedoc_expiring(a.head, a.head_len, a.age, fraction, push_label, L) > 0)
            lua_replace(L, -2);
        else
            lua_pop(L, 1);
    }
    return 4;
}

/* render(doc, prefix) -> body | nil, why: an agedoc rendered as just stored
 * (the answer to the search that composed it). */
static int l_render(lua_State *L)
{
    size_t len, plen;
    const char *doc = luaL_checklstring(L, 1, &len);
    const char *prefix = luaL_optlstring(L, 2, "", &plen);
    hm_lua_body_push(L);
    char *out = malloc(HM_AGEDOC_RENDER_MAX(plen, len) + 1);
    if (out == NULL)
        return fail(L, "no memory");
    ssize_t n = hm_agedoc_render(doc, len, 0, prefix, plen, out, HM_AGEDOC_RENDER_MAX(plen, len), NULL);
    if (n < 0) {
        free(out);
        return fail(L, "malformed");
    }
    hm_lua_body_adopt(L, -1, out, (size_t)n);
    return 1;
}

/* Collect up to max tags from the array at idx (strings only) into out. */
static size_t read_tags(lua_State *L, int idx, const char **out, size_t n, size_t max)
{
    if (!lua_istable(L, idx))
        return n;
    size_t len = lua_objlen(L, idx);
    for (size_t i = 1; i <= len && n < max; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (lua_type(L, -1) == LUA_TSTRING)
            out[n++] = lua_tostring(L, -1);   /* anchored: the array holds it */
        lua_pop(L, 1);
    }
    return n;
}

static int store(lua_State *L, const char *key, size_t klen, int vidx, double ttl, const char **tags,
                 size_t ntags, int l1_only)
{
    size_t vlen;
    const char *val = lua_tolstring(L, vidx, &vlen);
    int rc = hm_cache_set(key, klen, val, vlen, ttl, tags, ntags, hm_clock_monotonic());
    if (rc == HM_OK) {
        if (!l1_only)
            l2_store(hm_vm_upvalue(L), key, klen, val, vlen, ttl, tags, ntags);
        return 0;
    }
    return rc == HM_ELIMIT ? -2 : -1;
}

/* epoch() -> started, or nil while an invalidation is running (hm_cache_epoch) */
/* epoch(tag, ...) -> the sum of those tags' invalidation counters (per-tag
 * fencing, see set_search's q.epoch) */
static int l_epoch(lua_State *L)
{
    if (lua_gettop(L) > 0) {
        uint64_t sum = 0;
        for (int i = 1; i <= lua_gettop(L); i++) {
            size_t len;
            const char *tag = luaL_checklstring(L, i, &len);
            sum += hm_cache_tag_epoch(tag, len);
        }
        lua_pushnumber(L, (lua_Number)sum);
        return 1;
    }
    uint64_t started, finished;
    hm_cache_epoch(&started, &finished);
    if (started != finished)
        lua_pushnil(L);
    else
        lua_pushnumber(L, (lua_Number)started);
    return 1;
}

static int l_set(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    luaL_checktype(L, 2, LUA_TSTRING);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = refused_ari(L, vm, "set");
    if (n)
        return n;
    lua_getfield(L, 3, "ttl");
    double ttl = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    if (isnan(ttl) || !(ttl > 0))
        return fail(L, "ttl must be a number > 0");
    if (ttl > CONTENT_MAX_TTL)
        ttl = CONTENT_MAX_TTL;
    lua_getfield(L, 3, "tags");
    /* a tag left out would let an invalidation miss this entry: refuse instead */
    if (lua_istable(L, -1) && lua_objlen(L, -1) > HM_CACHE_MAX_TAGS)
        return fail(L, "too many tags");
    const char *tags[HM_CACHE_MAX_TAGS];
    size_t ntags = read_tags(L, lua_gettop(L), tags, 0, HM_CACHE_MAX_TAGS);
    /* l1_only: not written to Redis, whose write lands after this request
     * answered and could follow (and outlive) an invalidation of its parts */
    lua_getfield(L, 3, "l1_only");
    int l1_only = lua_toboolean(L, -1);
    lua_getfield(L, 3, "epoch");
    int have_epoch = lua_isnumber(L, -1);
    double epoch = lua_tonumber(L, -1);
    lua_pop(L, 2);
    int rc = store(L, key, klen, 2, ttl, tags, ntags, l1_only);
    if (rc)
        return fail(L, rc == -2 ? "too large" : "not stored");
    if (have_epoch && epoch_moved(epoch)) {
        /* an invalidation started since the caller's epoch(): the value may
         * be made of dropped entries and the tag walk may have missed it */
        hm_cache_delete(key, klen);
        return fail(L, "invalidated meanwhile");
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* Does the supplier push invalidations? Both the config (suppliers[s].webhooks
 * = true) and the connector (features.webhooks = true) must say so: a search
 * script alone cannot lengthen a TTL. */
static int supplier_has_webhooks(lua_State *L, const char *supplier)
{
    int yes = 0;
    int top = lua_gettop(L);
    lua_getglobal(L, "hm");
    lua_getfield(L, -1, "config");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "suppliers");
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, supplier);
            if (lua_istable(L, -1)) {
                lua_getfield(L, -1, "webhooks");
                int cfg_yes = lua_toboolean(L, -1);
                lua_pop(L, 1);
                lua_getfield(L, -1, "connector");
                const char *mod = lua_tostring(L, -1);
                if (cfg_yes && mod) {
                    /* require it (under pcall): whether this worker loaded it
                     * yet must not change the answer */
                    lua_getglobal(L, "require");
                    lua_pushstring(L, mod);
                    if (lua_pcall(L, 1, 1, 0) != 0)
                        lua_pushnil(L);
                    if (lua_istable(L, -1)) {
                        lua_getfield(L, -1, "features");
                        if (lua_istable(L, -1)) {
                            lua_getfield(L, -1, "webhooks");
                            yes = lua_toboolean(L, -1);
                        }
                    }
                }
            }
        }
    }
    lua_settop(L, top);
    return yes;
}

/* Call policies.ttl's ttl(ctx, q) under pcall. Returns 1 and *ttl, or 0. */
static int policy_ttl(lua_State *L, int qidx, int webhooks, double *ttl)
{
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "policies.ttl");
    if (lua_pcall(L, 1, 1, 0) != 0 || !lua_istable(L, -1)) {
        hm_log(HM_LOG_WARN, "ttl policy unavailable (not cached): %s",
               lua_isstring(L, -1) ? lua_tostring(L, -1) : "policies.ttl is not a table");
        lua_settop(L, top);
        return 0;
    }
    lua_getfield(L, -1, "ttl");
    lua_createtable(L, 0, 1);
    lua_pushnumber(L, hm_clock_now());
    lua_setfield(L, -2, "now");
    /* q for the policy: the caller's table plus what the core knows. */
    lua_pushvalue(L, qidx);
    lua_pushboolean(L, webhooks);
    lua_setfield(L, -2, "webhooks");
    int ok = lua_pcall(L, 2, 1, 0) == 0;
    int valid = ok && lua_type(L, -1) == LUA_TNUMBER;
    if (!ok)
        hm_log(HM_LOG_WARN, "ttl policy raised (not cached): %s", lua_tostring(L, -1));
    *ttl = valid ? lua_tonumber(L, -1) : 0;
    lua_settop(L, top);
    return valid;
}

static int l_set_search(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    luaL_checktype(L, 2, LUA_TSTRING);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = refused_ari(L, vm, "set_search");
    if (n)
        return n;
    lua_getfield(L, 3, "supplier");
    lua_getfield(L, 3, "hotel_id");
    lua_getfield(L, 3, "check_in");
    lua_getfield(L, 3, "utc_offset_hours");
    const char *supplier = lua_tostring(L, -4);
    const char *hotel = lua_tostring(L, -3);
    const char *check_in = lua_tostring(L, -2);
    int have_off = lua_isnumber(L, -1);
    double off = lua_tonumber(L, -1);
    if (!supplier || !hotel || !check_in)
        return fail(L, "q needs supplier, hotel_id and check_in");
    /* Rule 2: close to check-in everything is live. */
    if (hm_ari_seconds_to_checkin(check_in, hm_clock_now(), have_off, off) < HM_ARI_LIVE_WINDOW)
        return fail(L, "live window");
    int webhooks = supplier_has_webhooks(L, supplier);
    double ttl = 0;
    int valid = policy_ttl(L, 3, webhooks, &ttl);
    /* Rule 3: the core clamps whatever the policy said. */
    ttl = hm_ari_clamp_ttl(valid, ttl, webhooks);
    {   /* the TTL distribution, in the seed's bands (latency buckets would not fit) */
        static const double bands[] = { 0, 10, 30, 60, 120, 180, 300 };
        char labels[32];
        size_t b = 0;
        while (b + 1 < HM_ARRAY_SIZE(bands) && ttl > bands[b])
            b++;
        snprintf(labels, sizeof(labels), "upto=\"%.0f\"", bands[b]);
        hm_series_add(hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_cache_ttl_total",
                                        "Search entries by the TTL the core allowed (0 = not cached)",
                                        labels),
                      worker_of(vm), 1);
    }
    if (ttl <= 0)
        return fail(L, "policy said do not cache");
    char t1[192], t2[96];
    snprintf(t1, sizeof(t1), "hotel:%s:%s", supplier, hotel);
    snprintf(t2, sizeof(t2), "supplier:%s", supplier);
    /* q.epoch: hm.cache.epoch("hotel:S:H", "supplier:S") read before the
     * supplier call. An answer fetched before a webhook invalidated this
     * hotel must not be stored after it (a coalesced leader's call may have
     * started before the webhook). */
    lua_getfield(L, 3, "epoch");
    int have_epoch = lua_isnumber(L, -1);
    double epoch = lua_tonumber(L, -1);
    lua_pop(L, 1);
#define TAGS_MOVED() ((double)(hm_cache_tag_epoch(t1, strlen(t1)) + hm_cache_tag_epoch(t2, strlen(t2))) != epoch)
    if (have_epoch && TAGS_MOVED())
        return fail(L, "invalidated meanwhile");
    const char *tags[HM_CACHE_MAX_TAGS] = { t1, t2 };
    lua_getfield(L, 3, "tags");
    size_t ntags = read_tags(L, lua_gettop(L), tags, 2, HM_CACHE_MAX_TAGS);
    int rc = store(L, key, klen, 2, ttl, tags, ntags, 0);
    if (rc)
        return fail(L, rc == -2 ? "too large" : "not stored");
    if (have_epoch && TAGS_MOVED()) {   /* it started while we stored */
        hm_cache_delete(key, klen);
        return fail(L, "invalidated meanwhile");
    }
#undef TAGS_MOVED
    lua_pushnumber(L, ttl);
    return 1;
}

static int l_invalidate(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t len;
    const char *tag = luaL_checklstring(L, 1, &len);
    if (len == 0 || len > 256 || memchr(tag, '\t', len) || memchr(tag, '\x1f', len))
        return luaL_argerror(L, 1, "tag must be 1..256 bytes without tabs");
    size_t local = hm_cache_invalidate_tag(tag, len);
    hm_sf_forget_landed();   /* a landed value is as stale as the entries */
    hm_redis_t *r = l2_of(vm);
    hm_task_t *t = vm->current;
    if (!r || !t || t->co != L || t->waiting) {
        lua_pushinteger(L, (lua_Integer)local);
        lua_createtable(L, 0, 1);
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "published");
        return 2;
    }
    inv_wait_t *w = calloc(1, sizeof(*w));
    hm_buf_t tk = HM_BUF_INIT, fk = HM_BUF_INIT, payload = HM_BUF_INIT;
    int rc = w ? HM_OK : HM_ENOMEM;
    unsigned long long event = ++next_event;
    char fence_ms[24];
    snprintf(fence_ms, sizeof(fence_ms), "%u", L2_FENCE_MS + vm->worker->cfg->redis_timeout_ms);
    rc |= hm_buf_printf(&tk, L2_TAG "%.*s", (int)len, tag);
    rc |= hm_buf_printf(&fk, L2_FENCE "%.*s", (int)len, tag);
    rc |= hm_buf_printf(&payload, "%.*s\t%.0f\t%llx\t%d\t%llu", (int)len, tag, hm_clock_now() * 1000.0,
                        (unsigned long long)node_id(), vm->worker->id, event);
    const char *argv[8] = { "EVAL", L2_INVALIDATE_SCRIPT, "2", tk.data, fk.data, HM_INVALIDATION_CHANNEL,
                            payload.data, fence_ms };
    size_t lens[8] = { 4, sizeof(L2_INVALIDATE_SCRIPT) - 1, 1, tk.len, fk.len, strlen(HM_INVALIDATION_CHANNEL),
                       payload.len, strlen(fence_ms) };
    if (rc == HM_OK) {
        w->task = t;
        w->local = local;
        w->event = event;
        memcpy(w->tag, tag, len);   /* len <= 256, checked above */
        w->tlen = len;
        w->expected = 1 << 30;   /* unknown until PUBLISH answers */
        /* Invalidation must not be cut short by the cache's read timeout. */
        rc = hm_redis_command(r, 2000, inv_done, w, &w->op, 8, argv, lens);
    }
    hm_buf_free(&tk);
    hm_buf_free(&fk);
    hm_buf_free(&payload);
    if (rc != HM_OK) {
        free(w);
        lua_pushinteger(L, (lua_Integer)local);
        lua_createtable(L, 0, 2);
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "published");
        lua_pushliteral(L, "redis unavailable");
        lua_setfield(L, -2, "error");
        return 2;
    }
    w->next = ack_waits;
    if (ack_waits)
        ack_waits->prev = w;
    ack_waits = w;
    hm_task_suspend(t, inv_cancel, w);
    return lua_yield(L, 0);
}

/* ---- singleflight (singleflight.h) --------------------------------------
 * flight(key, lease_s) -> "lead" | "follow" | "landed", value
 * await(key, timeout_s) -> value | nil, "timeout" | "no flight" | the leader's error
 *   (parks the coroutine; no polling: the leader's land() wakes it)
 * land(key, value) / land(key, nil, err) -> how many waiters were woken */

typedef struct {
    hm_sf_waiter_t w;
    uv_timer_t timer;
    hm_task_t *task;
} sf_park_t;

static hm_series_t *sf_series(const char *result)
{
    char labels[48];
    snprintf(labels, sizeof(labels), "result=\"%s\"", result);
    return hm_metrics_series(HM_METRIC_COUNTER, "hotelmux_cache_singleflight_total",
                             "Cache misses by singleflight role: lead (calls the supplier), "
                             "coalesced (got the leader's answer), landed, timeout, failed",
                             labels);
}

static void count_sf(hm_vm_t *vm, const char *result)
{
    hm_series_add(sf_series(result), worker_of(vm), 1);
}

static void sf_park_closed(uv_handle_t *h) { free(h->data); }

static void sf_woken(hm_sf_waiter_t *w)
{
    sf_park_t *p = w->data;
    hm_task_t *t = p->task;
    lua_State *co = t->co;
    uv_timer_stop(&p->timer);
    count_sf(t->vm, w->ok ? "coalesced" : "failed");
    if (w->ok) {
        lua_pushlstring(co, w->value, w->vlen);
        lua_pushnil(co);
    } else {
        lua_pushnil(co);
        lua_pushstring(co, w->err);
    }
    free(w->value);
    w->value = NULL;
    uv_close((uv_handle_t *)&p->timer, sf_park_closed);
    hm_task_wake(t, 2);
}

static void sf_timed_out(uv_timer_t *h)
{
    sf_park_t *p = h->data;
    hm_task_t *t = p->task;
    hm_sf_cancel(&p->w);
    count_sf(t->vm, "timeout");
    lua_pushnil(t->co);
    lua_pushliteral(t->co, "timeout");
    uv_close((uv_handle_t *)&p->timer, sf_park_closed);
    hm_task_wake(t, 2);
}

static void sf_abort(hm_task_t *t, void *data)
{
    (void)t;
    sf_park_t *p = data;
    hm_sf_cancel(&p->w);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, sf_park_closed);
}

static int l_flight(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    double lease = luaL_checknumber(L, 2);
    if (!(lease > 0) || lease > 600)
        return luaL_argerror(L, 2, "lease must be 0..600 seconds");
    int n = refused_ari(L, vm, "flight");
    if (n)
        return n;
    char *v = NULL;
    size_t vlen = 0;
    int rc = hm_sf_begin(key, klen, lease, hm_clock_monotonic(), &v, &vlen);
    switch (rc) {
    case HM_SF_LEAD:
        count_sf(vm, "lead");
        lua_pushliteral(L, "lead");
        return 1;
    case HM_SF_FOLLOW:
        lua_pushliteral(L, "follow");
        return 1;
    case HM_SF_LANDED:
        count_sf(vm, "landed");
        lua_pushliteral(L, "landed");
        lua_pushlstring(L, v, vlen);
        free(v);
        return 2;
    default:
        return fail(L, "no memory");
    }
}

static int l_await(lua_State *L)
{
    hm_vm_t *vm = hm_vm_upvalue(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    double tmo = luaL_checknumber(L, 2);
    if (!(tmo >= 0) || tmo > 600)
        return luaL_argerror(L, 2, "timeout must be 0..600 seconds");
    int n = refused_ari(L, vm, "await");
    if (n)
        return n;
    hm_task_t *t = hm_task_current(L, "hm.cache.await");
    sf_park_t *p = calloc(1, sizeof(*p));
    if (!p)
        return fail(L, "no memory");
    p->task = t;
    p->w.mailbox = &vm->worker->sf_mail;
    p->w.done = sf_woken;
    p->w.data = p;
    int rc = hm_sf_wait(key, klen, &p->w, hm_clock_monotonic());
    if (rc == HM_SF_LANDED) {
        count_sf(vm, "landed");
        lua_pushlstring(L, p->w.value, p->w.vlen);
        free(p->w.value);
        free(p);
        return 1;
    }
    if (rc != HM_OK) {
        free(p);
        return fail(L, rc == HM_ENOENT ? "no flight" : "no memory");
    }
    if (uv_timer_init(&vm->worker->loop, &p->timer) != 0) {
        hm_sf_cancel(&p->w);
        free(p);
        return fail(L, "no timer");
    }
    p->timer.data = p;
    uv_timer_start(&p->timer, sf_timed_out, (uint64_t)llround(tmo * 1000.0), 0);
    hm_task_suspend(t, sf_abort, p);
    return lua_yield(L, 0);
}

static int l_land(lua_State *L)
{
    size_t klen, vlen = 0;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *val = lua_isnil(L, 2) ? NULL : luaL_checklstring(L, 2, &vlen);
    const char *err = luaL_optstring(L, 3, "leader failed");
    size_t n = hm_sf_land(key, klen, val, vlen, err, hm_clock_monotonic());
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

static int l_stats(lua_State *L)
{
    hm_cache_stats_t s;
    hm_cache_stats(&s);
    lua_createtable(L, 0, 9);
#define F(name) (lua_pushnumber(L, (lua_Number)s.name), lua_setfield(L, -2, #name))
    F(hits); F(misses); F(sets); F(evictions); F(expired); F(invalidated); F(entries); F(bytes);
    F(budget);
#undef F
    return 1;
}

/* Create the cache's series up front (at 0), so a dashboard or an alert rule
 * sees them before the first miss, timeout or Redis error. Creation only:
 * no slot is written from this (possibly the control) thread. */
static void declare_series(void)
{
    static const char *const lookups[][2] = { { "l1", "hit" }, { "l1", "miss" }, { "l2", "hit" },
                                              { "l2", "miss" }, { "l2", "error" } };
    static const char *const sf[] = { "lead", "coalesced", "landed", "timeout", "failed" };
    for (size_t i = 0; i < HM_ARRAY_SIZE(lookups); i++)
        lookups_series(lookups[i][0], lookups[i][1]);
    hm_answer_declare_series();
    for (size_t i = 0; i < HM_ARRAY_SIZE(sf); i++)
        sf_series(sf[i]);
    hm_metrics_series(HM_METRIC_HISTOGRAM, "hotelmux_invalidation_delay_seconds",
                      "From a node publishing an invalidation to this node applying it", "");
    hm_ari_declare_series();
}

void hm_lua_cache_open(lua_State *L, hm_vm_t *vm)
{
    declare_series();
    static const luaL_Reg fns[] = {
        { "get", l_get }, { "set", l_set }, { "set_search", l_set_search },
        { "invalidate", l_invalidate }, { "stats", l_stats }, { "flight", l_flight },
        { "await", l_await }, { "land", l_land }, { "epoch", l_epoch },
        { "answer", l_answer }, { "render", l_render }, { NULL, NULL },
    };
    lua_newtable(L);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushlightuserdata(L, vm);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, -2, f->name);
    }
    lua_pushinteger(L, HM_CACHE_MAX_TAGS);
    lua_setfield(L, -2, "max_tags");
}
