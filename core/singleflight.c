/* singleflight.c -- keyed wait/notify for cache misses (see singleflight.h). */
#include "hotelmux/singleflight.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"
#include "hotelmux/dlist.h"

#define NBUCKETS 1024
#define SWEEP_EVERY 1.0

typedef struct flight_s {
    struct flight_s *chain;
    uint64_t hash;
    int landed;               /* 1: value kept until landed_at + grace */
    double lease_until;       /* in the air: the leader's lease */
    double landed_at;
    char *value;
    size_t vlen;
    hm_sf_waiter_t *waiters;  /* parked followers */
    size_t klen;
    char key[];
} flight_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static flight_t *buckets[NBUCKETS];
static size_t nflights;
static double next_sweep;

static flight_t **find(const char *key, size_t klen, uint64_t h)
{
    flight_t **pp = &buckets[h % NBUCKETS];
    for (; *pp; pp = &(*pp)->chain)
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    return pp;
}

static void flight_free(flight_t **pp)
{
    flight_t *f = *pp;
    *pp = f->chain;
    free(f->value);
    free(f);
    nflights--;
}

static int expired_landing(const flight_t *f, double now)
{
    return f->landed && now - f->landed_at >= HM_SF_GRACE;
}

/* Drop landed values past their grace and abandoned flights nobody waits on. */
static void sweep(double now)
{
    if (now < next_sweep)
        return;
    next_sweep = now + SWEEP_EVERY;
    for (size_t i = 0; i < NBUCKETS; i++)
        for (flight_t **pp = &buckets[i]; *pp;) {
            flight_t *f = *pp;
            if (expired_landing(f, now) || (!f->landed && f->lease_until <= now && !f->waiters))
                flight_free(pp);
            else
                pp = &f->chain;
        }
}

static char *copy(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int hm_sf_begin(const char *key, size_t klen, double lease, double now, char **value, size_t *vlen)
{
    uint64_t h = hm_hash64(key, klen);
    int rc;
    pthread_mutex_lock(&lock);
    sweep(now);
    flight_t **pp = find(key, klen, h), *f = *pp;
    if (f && f->landed && !expired_landing(f, now)) {
        *value = copy(f->value, f->vlen);
        *vlen = f->vlen;
        rc = *value ? HM_SF_LANDED : HM_ENOMEM;
    } else if (f && !f->landed && f->lease_until > now) {
        rc = HM_SF_FOLLOW;
    } else if (f) {
        /* an old landing, or a leader whose lease ran out: lead again (its
         * waiters, if any, are woken by whoever lands next) */
        free(f->value);
        f->value = NULL;
        f->landed = 0;
        f->lease_until = now + lease;
        rc = HM_SF_LEAD;
    } else if ((f = calloc(1, sizeof(*f) + klen + 1)) != NULL) {
        f->hash = h;
        f->klen = klen;
        memcpy(f->key, key, klen);
        f->lease_until = now + lease;
        f->chain = buckets[h % NBUCKETS];
        buckets[h % NBUCKETS] = f;
        nflights++;
        rc = HM_SF_LEAD;
    } else {
        rc = HM_ENOMEM;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int hm_sf_wait(const char *key, size_t klen, hm_sf_waiter_t *w, double now)
{
    uint64_t h = hm_hash64(key, klen);
    int rc;
    w->value = NULL;
    w->ok = 0;
    w->err[0] = '\0';
    w->flight = NULL;
    w->queued = 0;
    w->prev = w->next = NULL;
    pthread_mutex_lock(&lock);
    flight_t *f = *find(key, klen, h);
    if (f && f->landed && !expired_landing(f, now)) {
        w->value = copy(f->value, f->vlen);
        w->vlen = f->vlen;
        w->ok = w->value != NULL;
        rc = w->ok ? HM_SF_LANDED : HM_ENOMEM;
    } else if (f && !f->landed) {
        w->flight = f;
        w->next = f->waiters;
        if (f->waiters)
            f->waiters->prev = w;
        f->waiters = w;
        rc = HM_OK;
    } else {
        rc = HM_ENOENT;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

static void mailbox_unlink(hm_sf_mailbox_t *mb, hm_sf_waiter_t *w)
{
    HM_DLIST_UNLINK(mb->head, mb->tail, w, prev, next);
    w->queued = 0;
}

void hm_sf_cancel(hm_sf_waiter_t *w)
{
    pthread_mutex_lock(&lock);
    if (w->flight) {
        flight_t *f = w->flight;
        if (w->prev)
            w->prev->next = w->next;
        else
            f->waiters = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->prev = w->next = NULL;
        w->flight = NULL;
    } else if (w->queued) {
        mailbox_unlink(w->mailbox, w);
    }
    pthread_mutex_unlock(&lock);
    free(w->value);
    w->value = NULL;
}

size_t hm_sf_land(const char *key, size_t klen, const char *value, size_t vlen, const char *err,
                  double now)
{
    uint64_t h = hm_hash64(key, klen);
    size_t n = 0;
    pthread_mutex_lock(&lock);
    flight_t **pp = find(key, klen, h), *f = *pp;
    if (f) {
        hm_sf_waiter_t *ws = f->waiters;
        f->waiters = NULL;
        char *keep = value ? copy(value, vlen) : NULL;
        for (hm_sf_waiter_t *w = ws, *next; w; w = next) {
            next = w->next;
            w->flight = NULL;
            w->prev = w->next = NULL;
            w->ok = value != NULL;
            if (value) {
                w->value = copy(value, vlen);
                w->vlen = vlen;
                if (!w->value) {
                    w->ok = 0;
                    snprintf(w->err, sizeof(w->err), "out of memory");
                }
            } else {
                snprintf(w->err, sizeof(w->err), "%s", err ? err : "leader failed");
            }
            hm_sf_mailbox_t *mb = w->mailbox;
            if (mb->closed)
                continue;   /* its worker is gone; its task's abort cancels it */
            w->queued = 1;
            HM_DLIST_APPEND(mb->head, mb->tail, w, prev, next);
            uv_async_send(&mb->async);
            n++;
        }
        if (keep) {
            free(f->value);
            f->value = keep;
            f->vlen = vlen;
            f->landed = 1;
            f->landed_at = now;
        } else {
            flight_free(pp);   /* failed (or no memory to keep it): next begin() leads */
        }
    }
    pthread_mutex_unlock(&lock);
    return n;
}

size_t hm_sf_forget_landed(void)
{
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NBUCKETS; i++)
        for (flight_t **pp = &buckets[i]; *pp;) {
            if ((*pp)->landed) {
                flight_free(pp);
                n++;
            } else {
                pp = &(*pp)->chain;
            }
        }
    pthread_mutex_unlock(&lock);
    return n;
}

size_t hm_sf_count(void)
{
    pthread_mutex_lock(&lock);
    size_t n = nflights;
    pthread_mutex_unlock(&lock);
    return n;
}

/* On the mailbox's loop: run each queued waiter's done, one at a time (a done
 * may cancel another queued waiter). */
static void on_mail(uv_async_t *a)
{
    hm_sf_mailbox_t *mb = a->data;
    for (;;) {
        pthread_mutex_lock(&lock);
        hm_sf_waiter_t *w = mb->head;
        if (w)
            mailbox_unlink(mb, w);
        pthread_mutex_unlock(&lock);
        if (!w)
            return;
        w->done(w);
    }
}

int hm_sf_mailbox_init(hm_sf_mailbox_t *mb, uv_loop_t *loop)
{
    mb->head = mb->tail = NULL;
    mb->closed = 0;
    mb->async.data = mb;
    return uv_async_init(loop, &mb->async, on_mail) == 0 ? HM_OK : HM_EIO;
}

void hm_sf_mailbox_close(hm_sf_mailbox_t *mb, uv_close_cb cb)
{
    pthread_mutex_lock(&lock);
    mb->closed = 1;
    while (mb->head)
        mailbox_unlink(mb, mb->head);   /* owners free their waiters when their tasks go */
    pthread_mutex_unlock(&lock);
    uv_close((uv_handle_t *)&mb->async, cb);
}

void hm_sf_shutdown(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NBUCKETS; i++)
        while (buckets[i])
            flight_free(&buckets[i]);
    pthread_mutex_unlock(&lock);
}
