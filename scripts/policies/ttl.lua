-- policies/ttl.lua -- how long a supplier's search answer may be reused
-- (browse data only: checkAvail and booking are always live, and the core
-- clamps whatever this returns: <= 300 s, <= 60 s for a supplier without
-- webhooks, and an error / nil / NaN / <= 0 means "do not cache").
--
-- The seed's table, by how far away check-in is:
--   < 1 day 30 s, 1-3 days 60 s, 3-7 days 120 s, 7-14 days 180 s, > 14 days 300 s
-- shortened for hot hotels (up to -60 %) and for weekend / holiday stays.
local c = require("lib.connector")

local M = {}

local BANDS = { { 1, 30 }, { 3, 60 }, { 7, 120 }, { 14, 180 } }

-- Holidays when Dubai prices move fast (extend per market).
M.holidays = { ["12-24"] = true, ["12-25"] = true, ["12-31"] = true, ["01-01"] = true }

local function base_ttl(days_away)
  for _, b in ipairs(BANDS) do
    if days_away < b[1] then return b[2] end
  end
  return 300
end

-- ctx = { now = epoch seconds }; q = { supplier, hotel_id, check_in, nights,
-- hotness (0..1: share of recent searches that asked for this hotel), webhooks }
function M.ttl(ctx, q)
  local day = c.day(q.check_in)
  if not day then return nil end
  local days_away = (day * 86400 - ctx.now) / 86400
  local ttl = base_ttl(days_away)
  local hot = math.max(0, math.min(1, tonumber(q.hotness) or 0))
  ttl = ttl * (1 - 0.6 * hot)
  -- a stay touching a Friday/Saturday night or a holiday: prices change more
  local nights = tonumber(q.nights) or 1
  for i = 0, nights - 1 do
    local d = day + i
    local dow = (d + 4) % 7           -- 0 = Sunday (1970-01-01 was a Thursday)
    if dow == 5 or dow == 6 or M.holidays[c.date(d):sub(6)] then
      ttl = ttl * 0.8
      break
    end
  end
  return math.floor(ttl)
end

function M.self_check()
  local now = c.day("2026-12-01") * 86400
  local t = M.ttl({ now = now }, { check_in = "2026-12-30", nights = 1, hotness = 0 })
  return t == 300, "expected 300 s for a weekday stay a month away, got " .. tostring(t)
end

return M
