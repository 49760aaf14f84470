/* replay.h -- `hotelmux replay`: a connector operation against a saved
 * supplier answer, offline (see docs/connectors.md). */
#ifndef HM_REPLAY_H
#define HM_REPLAY_H
/* argv: the arguments after "replay". Returns the process exit code:
 * 0 the connector returned (a result or a typed error), 1 it raised, 2 usage. */
int hm_replay_main(int argc, char **argv);

#include <stddef.h>

/* One replay from memory (what hm_replay_main runs once the files are read;
 * the fuzz driver calls it directly). input and config may be NULL, supplier
 * NULL means the connector's own id. */
typedef struct {
    const char *connector;            /* path of the connector script */
    const char *op;
    const char *response;
    size_t response_len;
    const char *input;                /* JSON object text, or NULL */
    size_t input_len;
    const char *config;               /* config file text, or NULL */
    size_t config_len;
    const char *supplier;
} hm_replay_t;

/* Returns 0 the connector returned, 1 it raised, 2 setup failed (message on
 * stderr). *out gets the JSON printed by `hotelmux replay` (malloc'd, caller
 * frees) or NULL. */
int hm_replay_run(const hm_replay_t *r, char **out, size_t *out_len);
#endif
