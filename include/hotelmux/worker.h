/* worker.h -- one worker thread: its own libuv loop, listening socket
 * (SO_REUSEPORT), outbound HTTP client and current script generation.
 *
 * The control thread talks to a worker only through its inbox (a mutex-guarded
 * message list plus a uv_async wake-up); everything else in this struct is
 * touched by the worker thread alone. */
#ifndef HM_WORKER_H
#define HM_WORKER_H

#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "hotelmux/client.h"
#include "hotelmux/config.h"
#include "hotelmux/fanout_gate.h"
#include "hotelmux/http_conn.h"
#include "hotelmux/lua_vm.h"
#include "hotelmux/singleflight.h"

struct hm_server_s;
struct hm_conn_s;
struct hm_task_s;

typedef enum { HM_MSG_NEW_VM, HM_MSG_STOP, HM_MSG_RELOAD_DONE } hm_msg_type_t;

typedef struct hm_msg_s {
    hm_msg_type_t type;
    hm_vm_t *vm;           /* NEW_VM: ownership passes to the worker */
    uint64_t ticket;       /* RELOAD_DONE: which admin request asked */
    int status;            /* RELOAD_DONE: HTTP status */
    char *body;            /* RELOAD_DONE: JSON body (owned by the message) */
    struct hm_msg_s *next;
} hm_msg_t;

typedef struct hm_worker_s {
    int id;
    struct hm_server_s *server;
    const hm_config_t *cfg;      /* startup settings, read-only */
    uv_loop_t loop;
    uv_thread_t thread;
    uv_tcp_t listener;
    int listening;
    uv_async_t wakeup;
    hm_sf_mailbox_t sf_mail;     /* singleflight wake-ups for this loop's tasks */
    uv_timer_t tick;             /* 1 s housekeeping: gauges */
    uv_timer_t drain_timer;
    hm_client_t *client;
    hm_fanout_gate_t gate;       /* searches' fan-outs admitted by loop lag */
    struct hm_sset_s *static_set;   /* static.c: this worker's reference to the published set */
    unsigned static_gen;            /* ... and which publish it is */
    struct hm_redis_s *redis;        /* commands (L2 cache); NULL without Redis */
    struct hm_redis_s *redis_sub;    /* worker 0: invalidation subscriber */
    hm_vm_t *vm;                 /* current generation (one reference held) */

    uv_mutex_t inbox_mu;
    hm_msg_t *inbox, *inbox_tail;

    struct hm_conn_s *conns;     /* every open connection */
    size_t nconns;
    struct hm_timer_s *timers;   /* pending hm.timer.at timers */
    struct hm_task_s *tasks;     /* every live task */
    size_t ntasks;
    int draining;
    int loop_ok;                 /* loop and handles initialised */

    uint64_t next_request;
    char id_label[24];           /* worker="N", for per-worker gauges */
    char id_prefix[16];
    char date[40];               /* cached IMF-fixdate for the Date header */
    time_t date_sec;
} hm_worker_t;

/* Create (bind + listen with SO_REUSEPORT) on the control thread; the vm is the
 * first generation, owned by the worker from here on. */
int hm_worker_init(hm_worker_t *w, struct hm_server_s *s, int id, const hm_config_t *cfg,
                   hm_vm_t *vm, char *err, size_t errlen);
int hm_worker_start(hm_worker_t *w);
void hm_worker_join(hm_worker_t *w);
void hm_worker_destroy(hm_worker_t *w);

/* From any thread: queue a message (takes ownership) and wake the worker. */
int hm_worker_post(hm_worker_t *w, hm_msg_t *m);

/* Worker thread: a request is ready on c. */
void hm_worker_dispatch(hm_worker_t *w, struct hm_conn_s *c, const hm_request_t *req);
/* Worker thread: a connection is gone (for drain accounting). */
void hm_worker_conn_closed(hm_worker_t *w);

const char *hm_worker_date(hm_worker_t *w);

#endif
