/* redis.h -- a Redis connection on a worker's loop (hiredis async + libuv).
 *
 * Never blocks the loop: commands are queued on the async context and their
 * replies come back through callbacks. hiredis 0.14 has no command timeout,
 * so each command has our own timer: a slow Redis is a miss, not a stall
 * (the callback runs once, with reply NULL and err "timeout"; the late reply
 * is dropped). A lost connection fails every pending command (err
 * "disconnected") and is re-established in the background with backoff.
 *
 * A subscriber connection (hm_redis_new with on_message) SUBSCRIBEs to its
 * channels (space-separated, at most 8) and calls on_message for each message; it reconnects and
 * resubscribes by itself. */
#ifndef HM_REDIS_H
#define HM_REDIS_H

#include <stddef.h>
#include <uv.h>

struct redisReply;
typedef struct hm_redis_s hm_redis_t;
typedef struct hm_redis_op_s hm_redis_op_t;

/* reply is NULL on failure (err says why); both are valid only during the call. */
typedef void (*hm_redis_cb)(void *data, struct redisReply *reply, const char *err);
typedef void (*hm_redis_message_cb)(void *data, const char *channel, const char *payload, size_t len);

hm_redis_t *hm_redis_new(uv_loop_t *loop, const char *host, int port, int worker,
                         const char *channel, hm_redis_message_cb on_message, void *msg_data);

/* Returns HM_OK (cb will run exactly once, never inside this call),
 * HM_EIO when not connected, HM_ENOMEM. op_out (optional) is for cancel. */
int hm_redis_command(hm_redis_t *r, unsigned timeout_ms, hm_redis_cb cb, void *data,
                     hm_redis_op_t **op_out, int argc, const char **argv, const size_t *argvlen);
/* The callback will not run. */
void hm_redis_cancel(hm_redis_op_t *op);

int hm_redis_connected(const hm_redis_t *r);
/* Disconnect and free (after the loop closes the handles). */
void hm_redis_close(hm_redis_t *r);

#endif
