-- api/common.lua -- what the HotelByte-compatible client API shares: the
-- {"code","msg","data"} envelope, HotelByte error codes with their HTTP
-- statuses, JSON bodies, JWT tickets, supplier connectors and their ctx.
local M = {}

M.CODE = {
  ok = 0, param = 100000400, auth = 100000401, forbidden = 100000403, not_found = 100000404,
  rate_limit = 100000429, internal = 100000500, timeout = 100000504, duplicate = 100001003,
  dependency = 100001004, page_size = 100001005, not_implemented = 100001006, expired = 100001007,
  not_matched = 100001008, ari_changed = 100001111, credit_limit = 100001112,
}
local HTTP = {
  [100000400] = 400, [100000401] = 401, [100000403] = 403, [100000404] = 404, [100000429] = 429,
  [100000500] = 500, [100000504] = 504, [100001003] = 409, [100001004] = 502, [100001005] = 400,
  [100001006] = 501, [100001007] = 404, [100001008] = 404, [100001111] = 200, [100001112] = 200,
}

-- Numeric supplier ids for originalRoomNaming.supplier (HotelByte sends a
-- number there; Dida is 6 in the real capture). The name goes in supplierName.
M.SUPPLIER_NUM = { hotelbeds = 1, expedia = 2, agoda = 3, derbysoft = 4, dida = 6 }

local function headers(req, extra)
  local h = { ["Content-Type"] = "application/json", ["Request-Id"] = req and req.id or nil }
  if req and req._t0 then
    local total = hm.time.monotonic() - req._t0
    h["Server-Cost-Milliseconds"] = tostring(math.floor(total * 1000))
    -- W3C Server-Timing: time spent waiting on suppliers (first call to last
    -- answer) and the gateway's own time around it
    local up = hm.http.span()
    if up then
      h["Server-Timing"] = string.format("upstream;dur=%.2f, gateway;dur=%.2f", up * 1000,
                                         math.max(0, total - up) * 1000)
    end
  end
  if extra then for k, v in pairs(extra) do h[k] = v end end
  return h
end

-- cjson encodes an empty table as {}; arrays that may be empty go through
-- M.arr and come out as [].
local EMPTY = "\1hm-empty-array\1"
function M.arr(t) if t == nil or next(t) == nil then return EMPTY end return t end

local EMPTY_JSON = '"\\u0001hm-empty-array\\u0001"'   -- how cjson writes EMPTY
local function encode(env)
  local s = hm.json.encode(env)
  local at = s:find(EMPTY_JSON, 1, true)
  if not at then return s end
  -- plain find, not gsub: a pattern scan of a big answer costs more than encoding it
  local parts, from = {}, 1
  while at do
    parts[#parts + 1] = s:sub(from, at - 1)
    parts[#parts + 1] = "[]"
    from = at + #EMPTY_JSON
    at = s:find(EMPTY_JSON, from, true)
  end
  parts[#parts + 1] = s:sub(from)
  return table.concat(parts)
end

-- A JSON text with the envelope's empty-array markers turned into [].
M.encode = encode

-- A success answer whose body was made in C (hm.cache.answer/render).
function M.ok_body(req, body, extra_headers)
  return { status = 200, headers = headers(req, extra_headers), body = body }
end

-- The start of a success envelope whose data object the core completes:
-- '{"code":0,"msg":"success","data":{"<field>":<value as JSON>,'
function M.ok_prefix(field, value)
  return '{"code":0,"msg":"success","data":{"' .. field .. '":' .. encode(value) .. ","
end

function M.ok(req, data, extra_headers)
  return { status = 200, headers = headers(req, extra_headers),
           body = encode({ code = 0, msg = "success", data = data == nil and hm.json.null or data }) }
end

-- An error envelope; data (optional) rides along (e.g. the new rate on ARI changed).
function M.fail(req, code, msg, data)
  return { status = HTTP[code] or 400, headers = headers(req),
           body = encode({ code = code, msg = msg, data = data == nil and hm.json.null or data }) }
end

-- A raised {api_error = true, code, msg} becomes an error answer (see M.handler).
function M.raise(code, msg, headers) error({ api_error = true, code = code, msg = msg, headers = headers }, 0) end
function M.param(field, why) M.raise(M.CODE.param, "invalid parameter " .. field .. ": " .. why) end
-- The gateway itself is at capacity (hm.fanout's gate gave up): a 429, as
-- for a rate limit, so clients back off the way they already do.
function M.raise_busy(why)
  M.raise(M.CODE.rate_limit, "server busy: " .. tostring(why or "at capacity") .. "; retry after 1 s",
          { ["Retry-After"] = "1" })
end

-- Wrap a handler: check the ticket and the app's limits (unless public),
-- parse the JSON body, turn raised api errors into envelopes and script
-- errors into 500s. opts.before_body(req), when given, runs before the body
-- is decoded and may answer (a repeated search served from its memo);
-- opts.public skips the ticket.
local function run(fn, opts, req)
  if not opts.public then
    req.app = M.authenticate(req)
    local limited = M.rate_limit(req)
    if limited then return limited end
  end
  if opts.before_body then
    local res = opts.before_body(req)
    if res then return res end
  end
  local body = {}
  if req.body and req.body:match("%S") then
    local okj, b = pcall(hm.json.decode, req.body)
    if not okj or type(b) ~= "table" then M.raise(M.CODE.param, "invalid parameter body: not a JSON object") end
    body = b
  end
  return fn(req, body)
end

function M.handler(fn, opts)
  opts = opts or {}
  return function(req)
    req._t0 = hm.time.monotonic()
    local ok, res = pcall(run, fn, opts, req)   -- no closure per request: it would stop the JIT
    if ok then return res end
    if type(res) == "table" and res.api_error then
      local r = M.fail(req, res.code, res.msg)
      for k, v in pairs(res.headers or {}) do r.headers[k] = v end
      return r
    end
    hm.log.error("api handler failed", { path = req.path, err = tostring(res) })
    return M.fail(req, M.CODE.internal, "internal error")
  end
end

-- Per-appKey limits (HotelByte's model): an overall QPS, lower ones for
-- checkAvail/book and queryOrders, and a daily quota. config.apps[key].limits
-- overrides { qps, ari_qps, orders_qps, daily }. Cluster-wide through Redis
-- when configured (hm.limit), else per node. The daily quota is a GCRA of
-- daily/86400 per second with a burst of the whole day's allowance.
local DEFAULT_LIMITS = { qps = 100, ari_qps = 10, orders_qps = 50, daily = 1000000 }
local function class_of(path)
  if path == "/api/search/checkAvail" or path == "/api/trade/book" then return "ari_qps" end
  if path == "/api/trade/queryOrders" then return "orders_qps" end
  return nil
end

-- An app's checks, built once per app: { all, day[, class] } each as
-- { name, bucket key, rate, burst }.
local app_checks = {}
local function checks_of(app)
  local c = app_checks[app]
  if c then return c end
  local lim = setmetatable({}, { __index = DEFAULT_LIMITS })
  for k, v in pairs(((hm.config.apps or {})[app] or {}).limits or {}) do lim[k] = v end
  local function check(name, rate, burst) return { name, "app:" .. app .. ":" .. name, rate, burst } end
  c = { all = check("all", lim.qps, lim.qps), day = check("day", lim.daily / 86400, lim.daily) }
  for _, class in ipairs({ "ari_qps", "orders_qps" }) do c[class] = check(class, lim[class], lim[class]) end
  -- what the core's answer memo takes for a repeated search (a path of no class)
  c.memo = { { c.all[2], c.all[3], c.all[4] }, { c.day[2], c.day[3], c.day[4] } }
  app_checks[app] = c
  return c
end

local function take(c, req)
  local ok, retry = hm.limit.take(c[2], c[3], c[4])
  if ok then return nil end
  local wait = math.max(1, math.ceil(retry))
  local r = M.fail(req, M.CODE.rate_limit, "rate limit exceeded (" .. c[1] .. "): retry after " .. wait .. " s")
  r.headers["Retry-After"] = tostring(wait)
  return r
end

function M.rate_limit(req)
  local c = checks_of(req.app)
  local class = class_of(req.path)
  return take(c.all, req) or take(c.day, req) or (class and take(c[class], req)) or nil
end

-- JSON null / missing -> nil
function M.val(x) if x == hm.json.null then return nil end return x end

-- Field checks that name the field on failure.
function M.str(body, field, required)
  local v = M.val(body[field])
  if v == nil or v == "" then
    if required then M.param(field, "required") end
    return nil
  end
  if type(v) == "number" then v = tostring(v) end
  if type(v) ~= "string" then M.param(field, "must be a string") end
  return v
end

function M.int(body, field, default, lo, hi)
  local v = M.val(body[field])
  if v == nil then return default end
  if type(v) ~= "number" or v ~= math.floor(v) then M.param(field, "must be an integer") end
  if (lo and v < lo) or (hi and v > hi) then M.param(field, "out of range") end
  return v
end

function M.list(body, field)
  local v = M.val(body[field])
  if v == nil then return {} end
  if type(v) ~= "table" then M.param(field, "must be an array") end
  return v
end

-- Dates: "2026-01-01", "20260101", 20260101, "now()+7" -> "2026-01-01".
local C = require("lib.connector")
function M.date(body, field, required)
  local v = M.val(body[field])
  if v == nil or v == "" then
    if required then M.param(field, "required") end
    return nil
  end
  local s = tostring(v)
  if type(v) == "number" then s = string.format("%d", v) end
  local n = s:match("^now%(%)%s*%+%s*(%d+)$")
  if n then return C.add_days(C.date(math.floor(hm.time.now() / 86400)), tonumber(n)) end
  local y, m, d = s:match("^(%d%d%d%d)-?(%d%d)-?(%d%d)$")
  if not y or tonumber(m) < 1 or tonumber(m) > 12 or tonumber(d) < 1 or tonumber(d) > 31 then
    M.param(field, "must be a date (YYYY-MM-DD)")
  end
  return string.format("%s-%s-%s", y, m, d)
end

---------------------------------------------------------------------------
-- Tickets: JWT HS256 {sub = appKey, iat, exp}.
-- Made once per Lua state (every ratePkgId is signed with it): a reload
-- starts a new state, so a changed secret or admin_token applies.
local secret
local function jwt_secret()
  if not secret then
    local c = hm.config
    secret = c.jwt_secret or hm.crypto.sha256_hex("hotelmux-jwt:" .. tostring(c.admin_token or "hotelmux"))
  end
  return secret
end

local function b64(s) return hm.crypto.base64url_encode(s) end

function M.jwt_sign(claims)
  local head = b64(hm.json.encode({ alg = "HS256", typ = "JWT" }))
  local body = b64(hm.json.encode(claims))
  local sig = b64(hm.crypto.hmac_sha256(jwt_secret(), head .. "." .. body))
  return head .. "." .. body .. "." .. sig
end

-- The claims of a valid, unexpired ticket; nil, why otherwise.
function M.jwt_verify(token)
  local h, b, s = tostring(token):match("^([%w_%-]+)%.([%w_%-]+)%.([%w_%-]+)$")
  if not h then return nil, "malformed ticket" end
  local want = b64(hm.crypto.hmac_sha256(jwt_secret(), h .. "." .. b))
  if not hm.crypto.equal(want, s) then return nil, "bad ticket signature" end
  local okh, head = pcall(hm.json.decode, hm.crypto.base64url_decode(h) or "")
  if not okh or type(head) ~= "table" or head.alg ~= "HS256" then return nil, "bad ticket header" end
  local ok, claims = pcall(hm.json.decode, hm.crypto.base64url_decode(b) or "")
  if not ok or type(claims) ~= "table" then return nil, "bad ticket body" end
  if type(claims.exp) ~= "number" or claims.exp <= hm.time.now() then return nil, "ticket expired" end
  local apps = hm.config.apps or {}
  if not apps[claims.sub] then return nil, "unknown app" end
  return claims
end

-- Tickets verified by this worker, by the exact Authorization header that
-- carried them: verifying one (an HMAC, two base64 and two JSON decodes) and
-- even matching the header's pattern (1.5 us over a 200-byte ticket) cost
-- more than serving a cached search. Its expiry is still checked on every
-- use; the table is emptied when full. A reload starts a new Lua state, so
-- config changes (an app removed, a new secret) always apply.
local verified, nverified, VERIFIED_MAX = {}, 0, 4096

-- The appKey of the request's valid Bearer ticket; raises 401 otherwise.
function M.authenticate(req)
  local h = req.headers and req.headers["authorization"] or ""
  local known = verified[h]
  if known and known.exp > hm.time.now() then return known.sub end
  local tok = h:match("^[Bb]earer%s+(%S+)$")
  if not tok then M.raise(M.CODE.auth, "authentication required: Authorization: Bearer <ticket>") end
  local claims, why = M.jwt_verify(tok)
  if not claims then M.raise(M.CODE.auth, "authentication failed: " .. why) end
  if nverified >= VERIFIED_MAX then verified, nverified = {}, 0 end
  if not known then nverified = nverified + 1 end
  verified[h] = { sub = claims.sub, exp = claims.exp }
  -- the core answers a memoised search with this ticket itself (lua_memo.h),
  -- taking the limits every path takes
  hm.memo.ticket(h, claims.exp, checks_of(claims.sub).memo)
  return claims.sub
end

---------------------------------------------------------------------------
-- Suppliers: connector modules (missing ones are skipped and logged once).
local connectors, missing = {}, {}
function M.connector(id)
  if connectors[id] then return connectors[id] end
  if missing[id] then return nil, missing[id] end
  local sc = (hm.config.suppliers or {})[id]
  if not sc then return nil, "unknown supplier" end
  local ok, mod = pcall(require, sc.connector or ("connectors." .. id))
  if not ok or type(mod) ~= "table" then
    missing[id] = "connector not loadable: " .. tostring(mod):match("^[^\n]*")
    hm.log.warn("supplier skipped", { supplier = id, err = missing[id] })
    return nil, missing[id]
  end
  connectors[id] = mod
  return mod
end

-- Supplier ids in a stable order.
function M.supplier_ids()
  local ids = {}
  for id in pairs(hm.config.suppliers or {}) do ids[#ids + 1] = id end
  table.sort(ids)
  return ids
end

function M.timeout_ms(id, conn)
  local sc = (hm.config.suppliers or {})[id] or {}
  return tonumber(sc.timeout_ms) or (conn and conn.limits and conn.limits.timeout_ms) or 300
end

-- The connector's ctx: config with base_url "/..." resolved to this server.
local cfg_cache = {}
function M.ctx(id, req, timeout_ms)
  local cfg = cfg_cache[id]
  if not cfg then
    cfg = {}
    for k, v in pairs((hm.config.suppliers or {})[id] or {}) do cfg[k] = v end
    if type(cfg.base_url) == "string" and cfg.base_url:sub(1, 1) == "/" then
      cfg.base_url = hm.self_url() .. cfg.base_url
    end
    cfg_cache[id] = cfg
  end
  -- ARI calls (book, cancel, query) get longer than a search: the per-call
  -- timeout is the connector's view of config.timeout_ms too.
  if timeout_ms and tonumber(cfg.timeout_ms) ~= timeout_ms then
    local c2 = {}
    for k, v in pairs(cfg) do c2[k] = v end
    c2.timeout_ms = timeout_ms
    cfg = c2
  end
  return { supplier = id, config = cfg, request_id = req and req.id or hm.crypto.uuid(),
           deadline = hm.time.monotonic() + (timeout_ms or M.timeout_ms(id)) / 1000, log = hm.log }
end

-- A fanout job for one supplier call; op (search, check_avail, book,
-- query_order, cancel) labels its outcome in hotelmux_supplier_requests_total.
function M.job(id, op, timeout_ms, fn)
  local sc = (hm.config.suppliers or {})[id] or {}
  return { name = id, supplier = id, op = op, timeout_ms = timeout_ms, qps = tonumber(sc.qps) or 0,
           breaker_min_calls = sc.breaker_min_calls, breaker_open_seconds = sc.breaker_open_seconds,
           breaker_failure_ratio = sc.breaker_failure_ratio, fn = fn }
end

-- One live supplier call (ARI paths) through the same guard as searches:
-- returns value or nil, err (typed), status.
function M.call(id, op, timeout_ms, fn)
  local r = hm.fanout({ M.job(id, op, timeout_ms, fn) }, { deadline_ms = timeout_ms })[1]
  if r.status == "ok" then return r.value, nil, "ok" end
  local err = r.err
  if type(err) ~= "table" then err = { kind = r.status == "error" and "supplier" or r.status, message = tostring(err) } end
  return nil, err, r.status
end

-- ratePkgId = supplier~base64url(json).mac: opaque to clients, and signed
-- (HMAC with the ticket secret, 128 bits) so a client cannot edit the
-- expected price or the supplier's rate key inside it.
local function id_mac(body) return hm.crypto.hmac_sha256_hex(jwt_secret(), "ratepkg:" .. body):sub(1, 32) end
function M.encode_id(supplier, t)
  local body = supplier .. "~" .. b64(hm.json.encode(t))
  return body .. "." .. id_mac(body)
end
function M.decode_id(s)
  if type(s) ~= "string" then return nil end
  local body, mac = s:match("^([%w_]+~[%w_%-]+)%.(%x+)$")
  if not body or not hm.crypto.equal(mac, id_mac(body)) then return nil end
  local sup, rest = body:match("^([%w_]+)~([%w_%-]+)$")
  local raw = hm.crypto.base64url_decode(rest)
  if not raw then return nil end
  local ok, t = pcall(hm.json.decode, raw)
  if not ok or type(t) ~= "table" then return nil end
  return sup, t
end

return M
