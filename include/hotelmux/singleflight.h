/* singleflight.h -- one supplier call per cache key, however many ask at once.
 *
 * A request that misses the cache calls hm_sf_begin(key): the first becomes
 * the key's leader (for `lease` seconds), the others are followers. A follower
 * parks a waiter (hm_sf_wait) instead of polling: when the leader lands
 * (hm_sf_land, with the value or an error) every waiter is handed a copy of
 * the outcome through its worker's mailbox (a uv_async on that worker's loop),
 * so followers on any worker thread wake on their own loop. A successful
 * landing is kept `grace` seconds so a request that missed the cache just
 * before the leader stored it does not lead a second call.
 *
 * Process-wide (one node): one mutex guards the flights and every mailbox.
 * Waiters and mailboxes are owned by the caller; the module only links them.
 * A waiter is bounded by its owner (a timer that calls hm_sf_cancel); a leader
 * that never lands is replaced by the next begin() once its lease ran out. */
#ifndef HM_SINGLEFLIGHT_H
#define HM_SINGLEFLIGHT_H

#include <stddef.h>
#include <uv.h>

#define HM_SF_GRACE 1.0   /* seconds a landed value answers begin()/wait() */

enum { HM_SF_LEAD = 1, HM_SF_FOLLOW = 2, HM_SF_LANDED = 3 };

typedef struct hm_sf_waiter_s hm_sf_waiter_t;
typedef struct hm_sf_mailbox_s hm_sf_mailbox_t;

/* Runs on the mailbox's loop thread once the waiter's flight landed; the
 * waiter is no longer linked anywhere (the callee may free it). */
typedef void (*hm_sf_done_cb)(hm_sf_waiter_t *w);

struct hm_sf_waiter_s {
    /* set by the owner before hm_sf_wait */
    hm_sf_mailbox_t *mailbox;
    hm_sf_done_cb done;
    void *data;
    /* the outcome (done, or hm_sf_wait returned HM_SF_LANDED) */
    int ok;               /* 1: value (malloc'd, owner frees); 0: err */
    char *value;
    size_t vlen;
    char err[96];
    /* private */
    struct hm_sf_waiter_s *prev, *next;
    void *flight;
    int queued;
};

/* One per worker loop. */
struct hm_sf_mailbox_s {
    uv_async_t async;
    hm_sf_waiter_t *head, *tail;
    int closed;
};

/* Leader or follower of key. HM_SF_LANDED: a value landed within the grace;
 * *value and *vlen get a malloc'd copy (caller frees). HM_ENOMEM on allocation failure. */
int hm_sf_begin(const char *key, size_t klen, double lease, double now, char **value, size_t *vlen);
/* Park w until key's flight lands: HM_OK (parked: done will run unless
 * hm_sf_cancel comes first), HM_SF_LANDED (w's outcome is filled now, done
 * will not run), HM_ENOENT (nothing in the air: look in the cache), HM_ENOMEM. */
int hm_sf_wait(const char *key, size_t klen, hm_sf_waiter_t *w, double now);
/* Unlink w wherever it is (flight or mailbox): done will not run. Frees an
 * outcome value already copied to it. Safe on a waiter that is not parked. */
void hm_sf_cancel(hm_sf_waiter_t *w);
/* The leader's outcome: value (vlen bytes) or, with value NULL, err. Every
 * waiter is queued to its mailbox; returns how many. A value is kept for
 * HM_SF_GRACE; an error ends the flight (the next begin() leads again). */
size_t hm_sf_land(const char *key, size_t klen, const char *value, size_t vlen, const char *err,
                  double now);
/* Drop every landed value still in its grace (an invalidation: a value that
 * landed before it must not answer a search after it). Returns how many. */
size_t hm_sf_forget_landed(void);
/* Flights in the air and landed values kept (tests, status). */
size_t hm_sf_count(void);

/* A worker's mailbox on its loop (worker thread); close before the loop closes. */
int hm_sf_mailbox_init(hm_sf_mailbox_t *mb, uv_loop_t *loop);
void hm_sf_mailbox_close(hm_sf_mailbox_t *mb, uv_close_cb cb);
/* Drop every flight (process exit). */
void hm_sf_shutdown(void);

#endif
