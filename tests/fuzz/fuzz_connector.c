/* fuzz_connector.c -- the five supplier connectors (scripts/connectors/NAME.lua)
 * parsing supplier answers, through the replay entry point (core/replay.c,
 * hm_replay_run: what `hotelmux replay` runs), on fuzzed bodies.
 *
 * Input: byte 0 picks the connector (% 5: hotelbeds, expedia, agoda,
 * derbysoft, dida), byte 1 the operation (% 3: search, check_avail, book).
 * Then, for check_avail and book, one line holding the rate key (keys are
 * the connector's own encoding, so seeds carry a real one); the rest is the
 * supplier's answer: a raw JSON/XML body or a MockServer/wire-log JSON with
 * httpResponse{statusCode, headers, body} (as in the captures).
 *
 * The connector runs with the demo's supplier settings (examples/demo.lua)
 * and a fixed query. A Lua error from bad input is fine (replay exit 1);
 * checked: replay never fails to set up (exit 2), always prints one JSON
 * object with "result", "error" or "requests", and the Lua state is closed
 * every time (ASan/LeakSanitizer see the rest; libFuzzer's -timeout and
 * -rss_limit_mb catch hangs and runaway memory). */
#include "fuzz_main.h"

#include <string.h>

#include "hotelmux/replay.h"

#ifndef HM_SOURCE_DIR
#error "HM_SOURCE_DIR must name the source tree"
#endif

static const char *const connectors[] = { "hotelbeds", "expedia", "agoda", "derbysoft", "dida" };
static const char *const ops[] = { "search", "check_avail", "book" };

static char *config_text;
static size_t config_len;

static const char query_fmt[] =
    "{\"hotel_ids\":[\"156652\",\"GB113\",\"10399\",\"16017\",\"1\"],"
    "\"check_in\":\"2027-03-01\",\"check_out\":\"2027-03-03\",\"nights\":2,"
    "\"rooms\":[{\"adults\":2,\"children\":[]}],\"currency\":\"USD\",\"nationality\":\"US\","
    "\"residency\":\"US\",\"customer_ref\":\"HM-FUZZ-1\",\"supplier_ref\":\"1-1\","
    "\"holder\":{\"first_name\":\"Ann\",\"last_name\":\"Lee\",\"email\":\"ann@example.com\"},"
    "\"guests\":[{\"room_index\":1,\"first_name\":\"Ann\",\"last_name\":\"Lee\"}],"
    "\"key\":";

static void load_config(void)
{
    FILE *f = fopen(HM_SOURCE_DIR "/examples/demo.lua", "rb");
    FUZZ_ASSERT(f != NULL);
    size_t cap = 1 << 16;
    config_text = malloc(cap);
    FUZZ_ASSERT(config_text != NULL);
    size_t n;
    while ((n = fread(config_text + config_len, 1, cap - config_len, f)) > 0) {
        config_len += n;
        if (config_len == cap) {
            config_text = realloc(config_text, cap *= 2);
            FUZZ_ASSERT(config_text != NULL);
        }
    }
    fclose(f);
}

/* s as a JSON string literal (the key line is arbitrary bytes). */
static size_t json_str(char *out, const char *s, size_t n)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            o += (size_t)sprintf(out + o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (config_text == NULL)
        load_config();
    if (size < 2)
        return 0;
    const char *name = connectors[data[0] % 5];
    const char *op = ops[data[1] % 3];
    const char *p = (const char *)data + 2;
    size_t len = size - 2;

    const char *key = "k";
    size_t klen = 1;
    if (data[1] % 3 != 0) {
        const char *nl = memchr(p, '\n', len);
        key = p;
        klen = nl ? (size_t)(nl - p) : len;
        p += nl ? klen + 1 : len;
        len -= nl ? klen + 1 : len;
    }
    char *input = malloc(sizeof(query_fmt) + klen * 6 + 8);
    FUZZ_ASSERT(input != NULL);
    size_t ilen = sizeof(query_fmt) - 1;
    memcpy(input, query_fmt, ilen);
    ilen += json_str(input + ilen, key, klen);
    input[ilen++] = '}';

    char path[512];
    snprintf(path, sizeof(path), "%s/scripts/connectors/%s.lua", HM_SOURCE_DIR, name);
    hm_replay_t r = { .connector = path, .op = op, .response = p, .response_len = len,
                      .input = input, .input_len = ilen, .config = config_text,
                      .config_len = config_len, .supplier = name };
    char *out = NULL;
    size_t olen = 0;
    int code = hm_replay_run(&r, &out, &olen);
    if (code == 2)
        fprintf(stderr, "replay %s %s could not run\n", name, op);
    FUZZ_ASSERT(code == 0 || code == 1);
    FUZZ_ASSERT(out != NULL && olen >= 2 && out[0] == '{' && out[olen - 1] == '}');
    FUZZ_ASSERT(strlen(out) == olen);
    FUZZ_ASSERT(strstr(out, "\"result\"") || strstr(out, "\"error\""));
    free(out);
    free(input);
    return 0;
}
