-- api/webhooks.lua -- POST /webhooks/{supplier}: a supplier pushes inventory
-- and price changes (DESIGN §5 rule 4).
--
-- The supplier's connector verifies the signature and decodes the events
-- (connector.webhook(ctx, req) -> { {type, hotel_id, room_id?} } | nil, err).
--   ROOM_SOLD_OUT, PRICE_CHANGED -> hm.cache.invalidate("hotel:<supplier>:<hotel_id>")
--       (L1 here, L2, and every node's L1 through Redis pub/sub) BEFORE we answer.
--       Search entries are per hotel, so the hotel tag covers a room's rates too.
--   NEW_AVAILABILITY             -> nothing: the entries expire by their TTL.
--   anything else                -> logged, ignored (still 200).
-- Answers: 200 {"code":0,"data":{received, invalidated, events:[...]}};
-- 401 bad/missing signature or stale timestamp (nothing invalidated);
-- 404 unknown supplier or one without webhooks; 400 unreadable body;
-- 502 when Redis is configured but the invalidation could not be published
-- (so the supplier retries: other nodes may still hold the entries).
-- Deliveries are not de-duplicated: invalidation is idempotent, and the same
-- event can legitimately come twice in one second (sold out, restocked, sold
-- out); a replayed delivery can only drop entries again within the window.
local A = require("api.common")

local M = {}

local INVALIDATES = { ROOM_SOLD_OUT = true, PRICE_CHANGED = true }

local function handle(req)
  local sup = req.params and req.params.supplier or ""
  local sc = (hm.config.suppliers or {})[sup]
  local conn = sc and A.connector(sup)
  if not conn or type(conn.webhook) ~= "function" then
    return A.fail(req, A.CODE.not_found, "no webhook endpoint for supplier " .. sup)
  end
  local ctx = A.ctx(sup, req)
  local ok, events, err = pcall(conn.webhook, ctx, req)
  if not ok then
    hm.log.error("webhook connector failed", { supplier = sup, err = tostring(events) })
    return A.fail(req, A.CODE.internal, "webhook could not be processed")
  end
  if not events then
    local kind = type(err) == "table" and err.kind or "bad_request"
    local msg = type(err) == "table" and (err.message or err.kind) or tostring(err)
    hm.log.warn("webhook refused", { supplier = sup, why = msg })
    if kind == "auth" then return A.fail(req, A.CODE.auth, "webhook refused: " .. msg) end
    return A.fail(req, A.CODE.param, "webhook refused: " .. msg)
  end
  local out, dropped, unpublished = {}, 0, nil
  for _, e in ipairs(events) do
    local r = { type = e.type, hotelId = e.hotel_id, roomId = e.room_id }
    -- a cache tag is 1..256 bytes without tabs (hm.cache.invalidate raises otherwise)
    local tag = not e.invalid and "hotel:" .. sup .. ":" .. e.hotel_id
    if tag and (#tag > 256 or tag:find("[\t\31]")) then e.invalid = "bad hotel id" end
    if e.invalid then
      r.action = "ignored"; r.reason = e.invalid
      hm.log.warn("webhook event ignored", { supplier = sup, type = e.type, why = e.invalid })
    elseif INVALIDATES[e.type] then
      local t0 = hm.time.monotonic()
      local n, info = hm.cache.invalidate(tag)
      info = info or {}
      r.action, r.dropped, r.published = "invalidated", n, info.published == true
      r.l2Deleted, r.receivers = info.l2_deleted, info.receivers
      -- other nodes that confirmed dropping their entries before we answer
      r.nodesExpected, r.nodesAcked = info.nodes_expected, info.nodes_acked
      r.ms = math.floor((hm.time.monotonic() - t0) * 1e6) / 1000
      dropped = dropped + (n or 0)
      if hm.config.redis and not info.published then unpublished = info.error or "not published" end
      hm.shared.incr("cache:stat:invalidations:" .. e.type, 1, 0)
      hm.metrics.counter("hotelmux_invalidations_total", { supplier = sup, type = e.type })
      hm.metrics.observe("hotelmux_invalidation_seconds", { supplier = sup }, hm.time.monotonic() - t0)
    elseif e.type == "NEW_AVAILABILITY" then
      r.action = "none"   -- waits for expiry
    else
      r.action = "ignored"
      hm.log.warn("webhook event of unknown type ignored", { supplier = sup, type = e.type, hotel = e.hotel_id })
    end
    out[#out + 1] = r
  end
  if unpublished then
    hm.log.error("webhook invalidation not published to other nodes", { supplier = sup, err = unpublished })
    return A.fail(req, A.CODE.dependency, "invalidation not published to other nodes (" .. unpublished .. "): retry")
  end
  return A.ok(req, { received = #events, invalidated = dropped, events = A.arr(out) })
end

hm.route("POST", "/webhooks/{supplier}", function(req)
  req._t0 = hm.time.monotonic()
  local ok, res = pcall(handle, req)
  if ok then return res end
  hm.log.error("webhook handler failed", { path = req.path, err = tostring(res) })
  return A.fail(req, A.CODE.internal, "internal error")
end)

return M
