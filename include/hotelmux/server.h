/* server.h -- the control thread: starts the workers, handles signals
 * (SIGHUP reload, SIGTERM/SIGINT graceful stop), builds new script
 * generations and keeps the status that /admin/status shows.
 *
 * Reload follows Varnish and Envoy, not nginx: every worker's new Lua state is
 * built and self-checked before any worker switches; if one fails, nothing
 * changes and the error is reported. */
#ifndef HM_SERVER_H
#define HM_SERVER_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "hotelmux/buf.h"
#include "hotelmux/config.h"
#include "hotelmux/worker.h"

typedef struct hm_reload_req_s {
    int worker;
    uint64_t ticket;
    struct hm_reload_req_s *next;
} hm_reload_req_t;

typedef struct hm_server_s {
    char *config_path;
    hm_config_t cfg;
    int nworkers;
    hm_worker_t *workers;
    uv_loop_t loop;
    uv_signal_t sig_hup, sig_term, sig_int;
    uv_async_t wakeup;
    atomic_size_t nconns;

    uv_mutex_t mu;                 /* guards everything below */
    hm_reload_req_t *reloads;
    uint64_t generation;
    double loaded_at;
    double started_at;
    char last_error[2048];
    double last_error_at;
    uint64_t reloads_ok, reloads_failed;
    int stopping;
} hm_server_t;

/* Load the config (+ every script, once per worker), bind the listeners. */
int hm_server_init(hm_server_t *s, const char *config_path, const char *listen_override,
                   char *err, size_t errlen);
/* Run until SIGTERM/SIGINT, then drain and stop the workers. Returns the exit code. */
int hm_server_run(hm_server_t *s);
void hm_server_destroy(hm_server_t *s);

/* Connection count across workers after adding d (max_connections). */
size_t hm_server_conn_delta(hm_server_t *s, int d);
/* From a worker: reload, then answer `ticket` on that worker with RELOAD_DONE. */
void hm_server_request_reload(hm_server_t *s, int worker, uint64_t ticket);
/* The /admin/status document. */
int hm_server_status_json(hm_server_t *s, hm_buf_t *out);

/* Load and check a config and its scripts without serving (hotelmux -t). */
int hm_server_check(const char *config_path, char *err, size_t errlen);

#endif
