-- lib/connector.lua -- what every connector needs: typed errors, HTTP bounded
-- by the request's deadline, HTTP status -> typed error, tolerant JSON, dates.
-- See docs/connectors.md for the contract.
local M = {}

-- A typed error: { kind, message, status?, retry_after?, code? }.
function M.err(kind, message, extra)
  local e = { kind = kind, message = message }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- Milliseconds left before ctx.deadline (nil deadline: the connector default).
function M.remaining_ms(ctx)
  if not ctx.deadline then return ctx.config and ctx.config.timeout_ms or 300 end
  return math.floor((ctx.deadline - hm.time.monotonic()) * 1000)
end

-- hm.http.request with timeout_ms capped by the deadline; transport failures
-- become typed errors.
function M.http(ctx, req)
  local left = M.remaining_ms(ctx)
  if left <= 0 then return nil, M.err("timeout", "deadline passed before the call") end
  -- the caller's, else the supplier's configured timeout, never past the deadline
  local want = req.timeout_ms or (ctx.config and tonumber(ctx.config.timeout_ms)) or left
  req.timeout_ms = math.min(want, left)
  local res, e = hm.http.request(req)
  if not res then
    if e == "timeout" then return nil, M.err("timeout", "no answer within " .. req.timeout_ms .. " ms") end
    return nil, M.err("network", tostring(e))
  end
  return res
end

-- Seconds to wait from Retry-After (seconds or HTTP date) or an
-- X-RateLimit-Reset epoch; nil when the answer does not say.
function M.retry_after(res)
  local h = res.headers or {}
  local ra = tonumber(h["retry-after"])
  if ra then return ra end
  local reset = tonumber(h["x-ratelimit-reset"] or h["ratelimit-reset"])
  if reset then
    if reset > 1e9 then return math.max(0, reset - hm.time.now()) end
    return reset
  end
  return nil
end

-- nil for 2xx; otherwise the typed error the status means. Suppliers with
-- odder signals (Hotelbeds' 403 over QPS) check those first.
function M.check_http(res)
  local s = res.status
  if s >= 200 and s < 300 then return nil end
  local h = res.headers or {}
  local remaining = h["x-ratelimit-remaining"] or h["rate-limit-minute-remaining"]
  local extra = { status = s, retry_after = M.retry_after(res) }
  local body = (res.body or ""):sub(1, 200)
  if s == 429 or (remaining == "0" and s >= 400) then
    return M.err("throttled", "supplier throttled: HTTP " .. s, extra)
  elseif s == 401 or s == 403 then
    return M.err("auth", "supplier refused credentials: HTTP " .. s .. " " .. body, extra)
  elseif s == 404 then
    return M.err("not_found", "HTTP 404 " .. body, extra)
  elseif s == 409 then
    return M.err("duplicate", "HTTP 409 " .. body, extra)
  elseif s >= 400 and s < 500 then
    return M.err("bad_request", "HTTP " .. s .. " " .. body, extra)
  end
  return M.err("supplier", "HTTP " .. s .. " " .. body, extra)
end

-- Decode a JSON body; garbage becomes a bad_response error.
function M.json(res)
  local ok, v = pcall(hm.json.decode, res.body or "")
  if not ok or type(v) ~= "table" then
    return nil, M.err("bad_response", "body is not JSON: " .. (res.body or ""):sub(1, 80))
  end
  return v
end

-- Parse an XML body (hm.xml.parse); garbage becomes a bad_response error.
function M.xml(res)
  local ok, v = pcall(hm.xml.parse, res.body or "")
  if not ok or not v then
    return nil, M.err("bad_response", "body is not XML: " .. (res.body or ""):sub(1, 80))
  end
  return v
end

-- JSON null (cjson.null) and missing both read as nil.
function M.val(x) if x == hm.json.null then return nil end return x end

-- Percent-encode a query value (RFC 3986: all but unreserved characters).
local function pct(ch) return string.format("%%%02X", ch:byte()) end
function M.urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", pct))
end

-- Sort a list of tables by one field, ascending; returns the list.
-- One comparator per field name, made once: a closure created on every call
-- (table.sort(l, function(a, b) ... end)) stops LuaJIT from compiling the
-- code around it ("NYI: bytecode 51"), and mapping code runs once per rate.
local by_field = setmetatable({}, { __index = function(t, k)
  local f = function(a, b) return a[k] < b[k] end
  t[k] = f
  return f
end })
function M.sort_by(list, field)
  table.sort(list, by_field[field])
  return list
end

-- "2026-12-01" <-> days since epoch (UTC), for date arithmetic without os.time.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp + (mp < 10 and 3 or -9)
  return m <= 2 and y + 1 or y, m, d
end

-- Dates are parsed and formatted with string patterns and string.format
-- (which the JIT does not compile), and a search sees the same few values
-- many times (every rate's cancellation windows, sort comparators): the pure
-- date functions below keep their results per worker, by argument (a string
-- or number), the memo emptied when it reaches MEMO_MAX entries.
local MEMO_MAX = 4096
local function memoised(fn)
  local memo, n = {}, 0
  return function(x)
    local v = memo[x]
    if v ~= nil then return v end
    v = fn(x)
    local t = type(x)
    if v ~= nil and (t == "string" or (t == "number" and x == x)) then
      if n >= MEMO_MAX then memo, n = {}, 0 end
      memo[x], n = v, n + 1
    end
    return v
  end
end

M.day = memoised(function(date)
  local y, m, d = tostring(date):match("^(%d%d%d%d)-?(%d%d)-?(%d%d)")
  if not y then return nil end
  return days_from_civil(tonumber(y), tonumber(m), tonumber(d))
end)

function M.date(days)
  local y, m, d = civil_from_days(days)
  return string.format("%04d-%02d-%02d", y, m, d)
end

function M.add_days(date, n) return M.date(M.day(date) + n) end
function M.nights(check_in, check_out) return M.day(check_out) - M.day(check_in) end

-- Epoch seconds of a UTC date (and optional "HH:MM[:SS]") and back to ISO 8601.
function M.epoch(date, time)
  local h, mi, s = tostring(time or "00:00:00"):match("(%d+):(%d+):?(%d*)")
  return M.day(date) * 86400 + tonumber(h or 0) * 3600 + tonumber(mi or 0) * 60 + (tonumber(s) or 0)
end

M.iso = memoised(function(epoch)
  local days = math.floor(epoch / 86400)
  local rem = epoch - days * 86400
  return string.format("%sT%02d:%02d:%02dZ", M.date(days), math.floor(rem / 3600),
    math.floor(rem % 3600 / 60), math.floor(rem % 60))
end)

-- Parse "2026-12-01T12:00:00+04:00" / "...Z" / "2026-12-01 12:00:00" to epoch (UTC).
M.parse_time = memoised(function(s)
  if type(s) ~= "string" then return nil end
  local date, hh, mm, ss, rest = s:match("^(%d%d%d%d%-%d%d%-%d%d)[T ]?(%d?%d?):?(%d?%d?):?(%d?%d?)(.*)$")
  if not date then return nil end
  local t = M.epoch(date, string.format("%s:%s:%s", hh ~= "" and hh or "0", mm ~= "" and mm or "0",
    ss ~= "" and ss or "0"))
  local sign, oh, om = rest:match("([+-])(%d%d):?(%d%d)")
  if sign then
    local off = tonumber(oh) * 3600 + tonumber(om) * 60
    t = sign == "+" and t - off or t + off
  end
  return t
end)

-- Refundability of a rate from its unified cancellation fees ({until, fee}
-- tiers, ascending), judged on the fee that applies now: free -> "full", less
-- than the net price -> "partial", else (or no tier left) "no".
function M.refundable_now(fees, net)
  local now = hm.time.now()
  for _, f in ipairs(fees) do
    if M.parse_time(f["until"]) >= now then
      if hm.money.is_zero(f.fee.amount) then return "full" end
      return hm.money.cmp(f.fee.amount, net) < 0 and "partial" or "no"
    end
  end
  return "no"
end

return M
