-- lib/webhook.lua -- what the connectors' webhook(ctx, req) functions share:
-- signature verification with a replay window, and the event types.
--
-- None of our suppliers documents an inventory/price push with a signature
-- scheme in shared/SUPPLIERS.md (Hotelbeds, Agoda and Dida have no public ARI
-- webhook spec), so the headers are our own choice, the same for all three:
--   X-Timestamp: <unix seconds>
--   X-Signature: hex HMAC-SHA256(webhook_secret, X-Timestamp .. "." .. raw body)
-- The MAC covers the raw body AND the timestamp (signing the body alone would
-- let anyone replay a captured body with a fresh timestamp). The timestamp must
-- be within REPLAY_WINDOW seconds of our clock. The secret is
-- config.suppliers[NAME].webhook_secret (ctx.config.webhook_secret).
local c = require("lib.connector")

local M = {}

M.REPLAY_WINDOW = 300
M.TYPES = { ROOM_SOLD_OUT = true, PRICE_CHANGED = true, NEW_AVAILABILITY = true }

function M.sign(secret, ts, body)
  return hm.crypto.hmac_sha256_hex(secret, tostring(ts) .. "." .. (body or ""))
end

-- Headers a sender (our simulators, a test) puts on a webhook.
function M.headers(secret, body, now)
  local ts = tostring(math.floor(now or hm.time.now()))
  return { ["Content-Type"] = "application/json", ["X-Timestamp"] = ts, ["X-Signature"] = M.sign(secret, ts, body) }
end

-- true, or nil + typed "auth" error.
function M.verify(ctx, req)
  local secret = ctx.config and ctx.config.webhook_secret
  if type(secret) ~= "string" or secret == "" then
    return nil, c.err("auth", "webhook_secret is not configured for " .. tostring(ctx.supplier))
  end
  local h = req.headers or {}
  local ts, sig = h["x-timestamp"], h["x-signature"]
  if not ts or not sig then return nil, c.err("auth", "missing X-Timestamp or X-Signature") end
  local t = tonumber(ts)
  if not t or not ts:match("^%d+$") then return nil, c.err("auth", "bad X-Timestamp") end
  -- whole seconds on both sides: the header carries no fraction, so a delivery
  -- stamped 300 s ago is inside the window for the whole of that second
  if math.abs(math.floor(hm.time.now()) - t) > M.REPLAY_WINDOW then
    return nil, c.err("auth", "X-Timestamp outside the " .. M.REPLAY_WINDOW .. " s replay window")
  end
  if not hm.crypto.equal(M.sign(secret, ts, req.body or ""), tostring(sig):lower()) then
    return nil, c.err("auth", "bad signature")
  end
  return true
end

-- Verify, decode the JSON body, and map each raw event with `map(ev)` ->
-- { type, hotel_id, room_id? }. Returns events or nil, typed error.
function M.events(ctx, req, list_of, map)
  local ok, err = M.verify(ctx, req)
  if not ok then return nil, err end
  local okj, doc = pcall(hm.json.decode, req.body or "")
  if not okj or type(doc) ~= "table" then return nil, c.err("bad_request", "webhook body is not JSON") end
  local list = list_of(doc)
  if list ~= nil and type(list) ~= "table" then
    return nil, c.err("bad_request", "webhook events are not a list")
  end
  local out = {}
  for _, ev in ipairs(list or {}) do
    if type(ev) == "table" then
      local e = map(ev)
      if e and e.hotel_id ~= nil and e.hotel_id ~= hm.json.null then
        e.hotel_id = tostring(e.hotel_id)
        if e.room_id == hm.json.null then e.room_id = nil end
        if e.room_id ~= nil then e.room_id = tostring(e.room_id) end
        e.type = tostring(e.type or "")
        out[#out + 1] = e
      elseif e then
        out[#out + 1] = { type = tostring(e.type or ""), invalid = "no hotel id" }
      end
    end
  end
  return out
end

return M
