/* replay.c -- `hotelmux replay`: run one connector operation against a saved
 * supplier answer, with no network, and print the unified model as JSON.
 *
 * The connector runs in an offline Lua state (sandboxed like a worker's)
 * whose hm.http.request/multi return the saved answer and record what the
 * connector sent, so a connector author sees both sides of the exchange. */
#include "hotelmux/replay.h"

#include <errno.h>
#include <lauxlib.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotelmux/common.h"
#include "hotelmux/lua_vm.h"

/* The driver: arguments are connector path, op, response text, input text
 * (or nil), config text (or nil), supplier name (or nil). Returns the JSON
 * to print and whether the connector raised. */
static const char driver[] =
    "local path, op, response, input, config_text, supplier = ...\n"
    "local function fail(msg) return hm.json.encode({ error = { kind = 'usage', message = msg } }), true end\n"
    "-- The saved answer: a raw body, or MockServer {httpResponse{statusCode,headers,body}}\n"
    "local res = { status = 200, headers = {}, body = response }\n"
    "local ok, doc = pcall(hm.json.decode, response)\n"
    "-- (anything else, such as a JSON array of numbers, is a raw body: never raise on it)\n"
    "if ok and type(doc) == 'table' and type(doc[1]) == 'table' and doc[1].httpResponse then doc = doc[1] end\n"
    "-- a wire log {request, response{statusCode,headers,body}} reads the same way\n"
    "if ok and type(doc) == 'table' and type(doc.httpResponse) ~= 'table' and type(doc.response) == 'table'\n"
    "   and doc.response.statusCode then doc = { httpResponse = doc.response } end\n"
    "if ok and type(doc) == 'table' and type(doc.httpResponse) == 'table' then\n"
    "  local r = doc.httpResponse\n"
    "  res.status = tonumber(r.statusCode) or 200\n"
    "  for k, v in pairs(type(r.headers) == 'table' and r.headers or {}) do\n"
    "    if type(v) == 'table' then\n"
    "      local parts = {}\n"
    "      for _, x in ipairs(v) do parts[#parts + 1] = tostring(x) end\n"
    "      v = table.concat(parts, ', ')\n"
    "    end\n"
    "    res.headers[tostring(k):lower()] = tostring(v)\n"
    "  end\n"
    "  local b = r.body\n"
    "  if type(b) == 'table' then\n"
    "    if b.type == 'JSON' and b.json ~= nil then b = b.json\n"
    "    elseif b.type == 'STRING' then b = b.string\n"
    "    elseif b.type == 'XML' then b = b.xml end\n"
    "    if type(b) == 'table' then\n"
    "      local oke, s = pcall(hm.json.encode, b)\n"
    "      if not oke then return fail('response body: ' .. tostring(s)) end\n"
    "      b = s\n"
    "    end\n"
    "  end\n"
    "  res.body = b == nil and '' or tostring(b)\n"
    "end\n"
    "local requests = {}\n"
    "local function answer(req)\n"
    "  requests[#requests + 1] = { method = req.method or 'GET', url = req.url, headers = req.headers or {},\n"
    "                              body = req.body }\n"
    "  local h = {}\n"
    "  for k, v in pairs(res.headers) do h[k] = v end\n"
    "  return { status = res.status, headers = h, body = res.body }\n"
    "end\n"
    "hm.http.request = answer\n"
    "hm.http.multi = function(list) local out = {} for i, r in ipairs(list) do out[i] = answer(r) end return out end\n"
    "local cfg = {}\n"
    "if config_text then\n"
    "  local chunk, err = load(config_text, '=config')\n"
    "  if not chunk then return fail('config: ' .. err) end\n"
    "  local okc, c = pcall(chunk)\n"
    "  if not okc or type(c) ~= 'table' then return fail('config: ' .. tostring(c)) end\n"
    "  cfg = c\n"
    "end\n"
    "local chunk, err = loadfile(path)\n"
    "if not chunk then return fail(err) end\n"
    "local okl, conn = pcall(chunk)\n"
    "if not okl then return hm.json.encode({ error = { kind = 'script', message = tostring(conn) } }), true end\n"
    "if type(conn) ~= 'table' or type(conn[op]) ~= 'function' then\n"
    "  return fail('connector has no function ' .. op)\n"
    "end\n"
    "supplier = supplier or conn.id\n"
    "local sc = {}\n"
    "for k, v in pairs((cfg.suppliers or {})[supplier] or {}) do sc[k] = v end\n"
    "sc.base_url = sc.base_url or ('https://replay.invalid/' .. tostring(supplier))\n"
    "if sc.base_url:sub(1, 1) == '/' then sc.base_url = 'http://replay.invalid' .. sc.base_url end\n"
    "local q = {}\n"
    "if input then\n"
    "  local oki, v = pcall(hm.json.decode, input)\n"
    "  if not oki or type(v) ~= 'table' then return fail('--input is not a JSON object') end\n"
    "  q = v\n"
    "end\n"
    "local ctx = { supplier = supplier, config = sc, deadline = hm.time.monotonic() + 30,\n"
    "              request_id = 'replay' }\n"
    "local okr, result, e = xpcall(conn[op], debug.traceback, ctx, q)\n"
    "if not okr then\n"
    "  return hm.json.encode({ error = { kind = 'script', message = result }, requests = requests }), true\n"
    "end\n"
    "local out = { requests = requests }\n"
    "if result ~= nil then out.result = result else out.error = e end\n"
    "local oke, s = pcall(hm.json.encode, out)\n"
    "if not oke then\n"
    "  return hm.json.encode({ error = { kind = 'script', message = 'the result is not JSON: ' .. tostring(s) } }), true\n"
    "end\n"
    "return s, false\n";

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 131072;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r < 65536)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: hotelmux replay --connector FILE --op OP --response FILE\n"
                 "                       [--input JSON_FILE] [--config CONFIG [--supplier NAME]]\n"
                 "  Runs connector OP (search, check_avail, book, query_order, cancel, webhook)\n"
                 "  with hm.http answering the saved response (raw body or MockServer JSON)\n"
                 "  and prints {\"result\"|\"error\", \"requests\"} as JSON.\n");
}

int hm_replay_run(const hm_replay_t *r, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    char abs[PATH_MAX];
    if (realpath(r->connector, abs) == NULL) {
        fprintf(stderr, "hotelmux replay: %s: %s\n", r->connector, strerror(errno));
        return 2;
    }
    /* The connector's folder and its parent (scripts/, for require("lib.x")). */
    char tmp[PATH_MAX], d1[PATH_MAX], d2[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", abs);
    snprintf(d1, sizeof(d1), "%s", dirname(tmp));   /* dirname may write into tmp */
    snprintf(tmp, sizeof(tmp), "%s", d1);
    snprintf(d2, sizeof(d2), "%s", dirname(tmp));
    char *dirs[] = { d2, d1 };
    char err[1024];
    hm_vm_t *vm = NULL;
    if (hm_vm_new_offline(dirs, 2, &vm, err, sizeof(err)) != HM_OK) {
        fprintf(stderr, "hotelmux replay: %s\n", err);
        return 2;
    }
    int code = 2;
    lua_State *L = vm->L;
    if (luaL_loadbuffer(L, driver, sizeof(driver) - 1, "=replay") != 0) {
        fprintf(stderr, "hotelmux replay: %s\n", lua_tostring(L, -1));
        goto out;
    }
    lua_pushstring(L, abs);
    lua_pushstring(L, r->op);
    lua_pushlstring(L, r->response, r->response_len);
    r->input ? (void)lua_pushlstring(L, r->input, r->input_len) : lua_pushnil(L);
    r->config ? (void)lua_pushlstring(L, r->config, r->config_len) : lua_pushnil(L);
    r->supplier ? (void)lua_pushstring(L, r->supplier) : lua_pushnil(L);
    if (lua_pcall(L, 6, 2, 0) != 0) {
        fprintf(stderr, "hotelmux replay: %s\n", lua_tostring(L, -1));
        code = 1;
        goto out;
    }
    size_t olen;
    const char *json = lua_tolstring(L, -2, &olen);
    if (json == NULL || (*out = malloc(olen + 1)) == NULL) {
        fprintf(stderr, "hotelmux replay: %s\n", json ? "out of memory" : "no output");
        goto out;
    }
    memcpy(*out, json, olen);
    (*out)[olen] = '\0';
    *out_len = olen;
    code = lua_toboolean(L, -1) ? 1 : 0;
out:
    hm_vm_release(vm);
    return code;
}

int hm_replay_main(int argc, char **argv)
{
    const char *connector = NULL, *op = NULL, *response = NULL, *input = NULL, *config = NULL,
               *supplier = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--connector") == 0 ? &connector
                            : strcmp(a, "--op") == 0       ? &op
                            : strcmp(a, "--response") == 0 ? &response
                            : strcmp(a, "--input") == 0    ? &input
                            : strcmp(a, "--config") == 0   ? &config
                            : strcmp(a, "--supplier") == 0 ? &supplier
                                                           : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "hotelmux replay: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        *slot = argv[++i];
    }
    if (!connector || !op || !response) {
        usage(stderr);
        return 2;
    }
    hm_replay_t r = { .connector = connector, .op = op, .supplier = supplier };
    char *rtext = read_file(response, &r.response_len);
    char *itext = input ? read_file(input, &r.input_len) : NULL;
    char *ctext = config ? read_file(config, &r.config_len) : NULL;
    int code = 2;
    if (!rtext || (input && !itext) || (config && !ctext)) {
        fprintf(stderr, "hotelmux replay: cannot read %s\n",
                !rtext ? response : (input && !itext) ? input : config);
        goto out;
    }
    r.response = rtext;
    r.input = itext;
    r.config = ctext;
    char *json;
    size_t olen;
    code = hm_replay_run(&r, &json, &olen);
    if (json) {
        fwrite(json, 1, olen, stdout);
        fputc('\n', stdout);
        free(json);
    }
out:
    free(rtext);
    free(itext);
    free(ctext);
    return code;
}
