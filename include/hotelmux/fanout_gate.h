/* fanout_gate.h -- admission of searches' fan-outs by the worker's loop lag.
 *
 * A search costs the gateway CPU when its suppliers answer (decoding,
 * mapping, pricing, encoding), all of it within the suppliers' deadlines.
 * A worker that starts more fan-outs than its core can finish in time does
 * not serve more searches: their answers wait behind each other until the
 * deadlines cut them, and every search comes back missing suppliers. The
 * gate keeps the work started within what the loop keeps up with, and makes
 * the rest wait for a turn *before* their deadlines start.
 *
 * The signal is loop lag: a probe timer (every 10 ms, running only while
 * gated fan-outs exist) measures how late it fires, i.e. how long a ready
 * event waited behind others. The limit on fan-outs in flight grows by one
 * per probe while it binds and lag stays under the target, and shrinks by a
 * quarter (at most every 100 ms) when lag is over it: additive increase,
 * multiplicative decrease, as TCP does with delay. Slow suppliers therefore
 * do not cap throughput (waiting costs no lag) while fast ones cannot
 * overload the core. A waiter that is not admitted before its give-up time is
 * told so (the search answers "busy", HTTP 429 with Retry-After). One gate per
 * worker, used from its loop thread only. Reservations and bookings are never
 * gated (hm.fanout without `gate`). */
#ifndef HM_FANOUT_GATE_H
#define HM_FANOUT_GATE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct hm_gate_waiter_s hm_gate_waiter_t;
/* admitted = 1: the waiter holds a slot (hm_fanout_gate_leave when done);
 * 0: it gave up. The waiter is off the queue when this runs. */
typedef void (*hm_gate_cb)(hm_gate_waiter_t *w, int admitted);

struct hm_gate_waiter_s {
    hm_gate_waiter_t *prev, *next;
    uint64_t give_up_at;       /* loop time, ms */
    hm_gate_cb cb;
    int queued;
};

typedef struct {
    uv_timer_t probe;
    uint64_t probe_due;        /* loop time the probe should fire at */
    uint64_t last_decrease;
    double limit;              /* fan-outs in flight allowed */
    int inflight;
    size_t queued;
    hm_gate_waiter_t *head, *tail;
    int worker;
    int probing;
    int admitting;             /* inside admit_waiting (callbacks may leave) */
} hm_fanout_gate_t;

#define HM_GATE_PROBE_MS 10
#define HM_GATE_LAG_TARGET_MS 20
#define HM_GATE_LIMIT_INITIAL 8
#define HM_GATE_LIMIT_MIN 2
#define HM_GATE_LIMIT_MAX 100000

int hm_fanout_gate_init(hm_fanout_gate_t *g, uv_loop_t *loop, int worker);
/* Stops the probe and closes its handle (cb may be NULL). Queued waiters
 * must have been cancelled (their tasks aborted) before. */
void hm_fanout_gate_close(hm_fanout_gate_t *g, uv_close_cb cb);

/* 1: admitted now. 0: queued; cb runs later from the loop (admitted or, after
 * max_wait_ms, given up). max_wait_ms = 0 never queues: 1 or -1 (refused). */
int hm_fanout_gate_enter(hm_fanout_gate_t *g, hm_gate_waiter_t *w, uint64_t max_wait_ms, hm_gate_cb cb);
/* Take a queued waiter off (its task went away); no callback. */
void hm_fanout_gate_cancel(hm_fanout_gate_t *g, hm_gate_waiter_t *w);
/* An admitted fan-out finished: free its slot, admit the next. */
void hm_fanout_gate_leave(hm_fanout_gate_t *g);

#endif
