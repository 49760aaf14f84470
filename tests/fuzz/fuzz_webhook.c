/* fuzz_webhook.c -- POST /webhooks/{supplier}: scripts/api/webhooks.lua and
 * the connectors' webhook() through scripts/lib/webhook.lua (signature and
 * replay-window check, JSON events, cache invalidation), on fuzzed bodies and
 * headers.
 *
 * The vm is a real one (hm_vm_new on a config that loads api/webhooks.lua,
 * with webhook secrets for hotelbeds, agoda and dida), without a worker; the
 * route comes from its router and gets the req table hm_lua_push_request
 * builds, as a worker would give it.
 *
 * Input: byte 0 picks the supplier (% 5: hotelbeds, agoda, dida, expedia (no
 * webhooks), "nope" (unknown)); byte 1 the X-Timestamp (% 6: now, 299 s ago,
 * 400 s ago, "12ab", missing, "+<now>"); byte 2 the X-Signature (% 4: right,
 * right in upper case, one hex digit off, missing); the rest is the body. The
 * driver signs like a supplier (HMAC-SHA256 over "ts.body"), so the fuzzer
 * reaches the JSON events with a valid signature. Checked:
 *   - the handler answers a table {status, headers, body} with a JSON
 *     envelope body, never raises;
 *   - unknown supplier or one without webhooks: 404;
 *   - any bad, missing or stale timestamp/signature: 401 (nothing looked at);
 *   - signed and fresh: 200 or 400 (a body we cannot read), never 500. */
#include "fuzz_main.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <unistd.h>

#include "hotelmux/cache.h"
#include "hotelmux/clock.h"
#include "hotelmux/common.h"
#include "hotelmux/lua_handler.h"
#include "hotelmux/lua_vm.h"
#include "hotelmux/lua_xml.h"
#include "hotelmux/metrics.h"
#include "hotelmux/shdict.h"

#ifndef HM_SOURCE_DIR
#error "HM_SOURCE_DIR must name the source tree"
#endif

static const char *const suppliers[] = { "hotelbeds", "agoda", "dida", "expedia", "nope" };
static const char *const secrets[] = { "hb-secret", "ag-secret", "dd-secret" };
static hm_vm_t *vm;

/* At exit: LuaJIT's own allocator hides what the state points to (cjson's
 * buffers) from LeakSanitizer, so close the state. */
static void teardown(void)
{
    hm_vm_release(vm);
    vm = NULL;
}

static void setup(void)
{
    /* what main() sets up before any vm */
    hm_lua_xml_global_init();
    FUZZ_ASSERT(hm_metrics_init() == HM_OK && hm_shdict_init(0) == HM_OK && hm_cache_init(0) == HM_OK);
    char path[] = "/tmp/hm-fuzz-webhook-XXXXXX";
    int fd = mkstemp(path);
    FUZZ_ASSERT(fd >= 0);
    FILE *f = fdopen(fd, "w");
    FUZZ_ASSERT(f != NULL);
    fprintf(f,
            "return { log_level = 'error', lua_path = { '%s/scripts' },\n"
            "  scripts = { '%s/scripts/api/webhooks.lua' },\n"
            "  suppliers = {\n"
            "    hotelbeds = { connector = 'connectors.hotelbeds', webhook_secret = '%s' },\n"
            "    agoda = { connector = 'connectors.agoda', webhook_secret = '%s' },\n"
            "    dida = { connector = 'connectors.dida', webhook_secret = '%s' },\n"
            "    expedia = { connector = 'connectors.expedia' } } }\n",
            HM_SOURCE_DIR, HM_SOURCE_DIR, secrets[0], secrets[1], secrets[2]);
    FUZZ_ASSERT(fclose(f) == 0);
    char err[1024];
    int rc = hm_vm_new(path, NULL, 1, &vm, NULL, err, sizeof(err));
    unlink(path);
    if (rc != HM_OK)
        fprintf(stderr, "webhook vm: %s\n", err);
    FUZZ_ASSERT(rc == HM_OK);
    atexit(teardown);
}

static void hex(const unsigned char *in, size_t n, char *out, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[i * 2] = digits[in[i] >> 4];
        out[i * 2 + 1] = digits[in[i] & 15];
    }
    out[n * 2] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (vm == NULL)
        setup();
    if (size < 3)
        return 0;
    unsigned sup = data[0] % 5, tsmode = data[1] % 6, sigmode = data[2] % 4;
    const char *body = (const char *)data + 3;
    size_t blen = size - 3;

    char ts[32];
    long long now = (long long)floor(hm_clock_now());
    switch (tsmode) {
    case 0: snprintf(ts, sizeof(ts), "%lld", now); break;
    case 1: snprintf(ts, sizeof(ts), "%lld", now - 299); break;
    case 2: snprintf(ts, sizeof(ts), "%lld", now - 400); break;
    case 3: snprintf(ts, sizeof(ts), "12ab"); break;
    case 4: ts[0] = '\0'; break;
    default: snprintf(ts, sizeof(ts), "+%lld", now); break;
    }
    /* the supplier's side: hex HMAC-SHA256(secret, ts "." body) */
    char sig[EVP_MAX_MD_SIZE * 2 + 1];
    {
        const char *secret = sup < 3 ? secrets[sup] : "x";
        size_t tl = strlen(ts);
        unsigned char *msg = malloc(tl + 1 + blen + 1);
        FUZZ_ASSERT(msg != NULL);
        memcpy(msg, ts, tl);
        msg[tl] = '.';
        if (blen)
            memcpy(msg + tl + 1, body, blen);
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mlen = 0;
        FUZZ_ASSERT(HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tl + 1 + blen, mac,
                         &mlen) != NULL);
        free(msg);
        hex(mac, mlen, sig, sigmode == 1);
        if (sigmode == 2)
            sig[5] = sig[5] == '0' ? '1' : '0';
    }

    char path[64];
    snprintf(path, sizeof(path), "/webhooks/%s", suppliers[sup]);
    hm_header_t hdrs[4];
    size_t nh = 0;
    hdrs[nh++] = (hm_header_t){ "content-type", "application/json" };
    if (tsmode != 4)
        hdrs[nh++] = (hm_header_t){ "x-timestamp", ts };
    if (sigmode != 3)
        hdrs[nh++] = (hm_header_t){ "x-signature", sig };
    hm_request_t req = { .method = "POST", .method_len = 4, .path = path,
                         .path_len = strlen(path), .query = "", .headers = hdrs, .nheaders = nh,
                         .body = body, .body_len = blen, .http_minor = 1, .id = "fuzz-1" };

    hm_route_match_t m;
    FUZZ_ASSERT(hm_router_match(vm->router, "POST", 4, path, req.path_len, &m, NULL, 0) == HM_OK);
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, m.handler);
    hm_lua_push_request(L, &req, &m);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        fprintf(stderr, "webhook handler raised: %s\n", lua_tostring(L, -1));
        FUZZ_ASSERT(0);
    }
    FUZZ_ASSERT(lua_istable(L, -1));
    lua_getfield(L, -1, "status");
    int status = (int)lua_tointeger(L, -1);
    lua_getfield(L, -2, "body");
    size_t rlen;
    const char *rbody = lua_tolstring(L, -1, &rlen);
    FUZZ_ASSERT(rbody != NULL && rlen >= 2 && rbody[0] == '{' && rbody[rlen - 1] == '}');
    int signed_ok = (tsmode == 0 || tsmode == 1) && (sigmode == 0 || sigmode == 1);
    if (sup >= 3) {
        FUZZ_ASSERT(status == 404);
    } else if (!signed_ok) {
        FUZZ_ASSERT(status == 401);
    } else {
        if (status != 200 && status != 400)
            fprintf(stderr, "signed webhook answered %d: %.*s\n", status, (int)rlen, rbody);
        FUZZ_ASSERT(status == 200 || status == 400);
    }
    lua_settop(L, top);
    return 0;
}
