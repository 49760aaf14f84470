/* main.c -- command line: serve, check a config (-t), help, version. */
#include "hotelmux/cache.h"
#include "hotelmux/client.h"
#include "hotelmux/clock.h"
#include "hotelmux/common.h"
#include "hotelmux/log.h"
#include "hotelmux/mapcmd.h"
#include "hotelmux/lua_xml.h"
#include "hotelmux/metrics.h"
#include "hotelmux/replay.h"
#include "hotelmux/server.h"
#include "hotelmux/shdict.h"
#include "hotelmux/singleflight.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "hotelmux %s -- hotel supplier aggregation engine\n"
            "\n"
            "usage: hotelmux -c CONFIG [--listen HOST:PORT]   serve\n"
            "       hotelmux -t -c CONFIG                     check the config and its scripts\n"
            "       hotelmux replay --connector FILE --op OP --response FILE [...]\n"
            "                                                 run a connector on a saved answer\n"
            "       hotelmux map \"ROOM A\" \"ROOM B\" | --best QUERIES CANDIDATES | --bench\n"
            "                                                 explain / batch-match room names\n"
            "       hotelmux --help | --version\n"
            "\n"
            "  -c, --config FILE     Lua config file (returns a table)\n"
            "  -l, --listen ADDR     override the config's listen address (HOST:PORT)\n"
            "  -t, --test            load and self-check everything, then exit 0 (ok) or 1\n"
            "\n"
            "signals: SIGHUP reloads scripts; SIGTERM/SIGINT drain and stop.\n"
            "environment: HOTELMUX_CLOCK_OFFSET=SECONDS shifts hm.time.now() (tests).\n",
            HM_VERSION);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *listen = NULL;
    int test = 0;
    if (argc > 1 && strcmp(argv[1], "replay") == 0) {
        hm_lua_xml_global_init();
        if (hm_shdict_init(0) != HM_OK)
            return 1;
        int rc = hm_replay_main(argc - 2, argv + 2);
        hm_shdict_shutdown();
        return rc;
    }
    if (argc > 1 && strcmp(argv[1], "map") == 0)
        return hm_mapcmd_main(argc - 2, argv + 2);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            printf("hotelmux %s\n", HM_VERSION);
            return 0;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--test") == 0) {
            test = 1;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if ((strcmp(a, "-l") == 0 || strcmp(a, "--listen") == 0) && i + 1 < argc) {
            listen = argv[++i];
        } else {
            fprintf(stderr, "hotelmux: unknown or incomplete argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (config == NULL) {
        fprintf(stderr, "hotelmux: no config given (-c FILE)\n\n");
        usage(stderr);
        return 2;
    }
    const char *offset = getenv("HOTELMUX_CLOCK_OFFSET");
    if (offset)
        hm_clock_set_offset(strtod(offset, NULL));

    signal(SIGPIPE, SIG_IGN);
    hm_lua_xml_global_init();
    if (hm_client_global_init() != 0 || hm_metrics_init() != HM_OK || hm_shdict_init(0) != HM_OK ||
        hm_cache_init(0) != HM_OK) {
        fprintf(stderr, "hotelmux: cannot initialise libraries\n");
        return 1;
    }
    char err[4096];
    if (test) {
        int rc = hm_server_check(config, err, sizeof(err));
        if (rc != HM_OK)
            fprintf(stderr, "hotelmux: %s\nhotelmux: configuration test failed\n", err);
        else
            printf("hotelmux: configuration %s is ok\n", config);
        hm_client_global_cleanup();
        hm_metrics_shutdown();
        hm_shdict_shutdown();
        hm_cache_shutdown();
        hm_sf_shutdown();
        return rc == HM_OK ? 0 : 1;
    }
    hm_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return 1;
    int code = 1;
    if (hm_server_init(s, config, listen, err, sizeof(err)) != HM_OK)
        hm_log(HM_LOG_ERROR, "cannot start: %s", err);
    else
        code = hm_server_run(s);
    hm_server_destroy(s);
    free(s);
    hm_client_global_cleanup();
    hm_metrics_shutdown();
    hm_shdict_shutdown();
    hm_cache_shutdown();
    hm_sf_shutdown();
    return code;
}
