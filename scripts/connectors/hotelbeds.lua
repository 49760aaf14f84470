-- connectors/hotelbeds.lua -- Hotelbeds APItude Booking API (hotel-api), JSON.
--
-- Wire format: shared/SUPPLIERS.md §1 and the real v1.2 captures in
-- shared/fixtures/hotelbeds/. Flow:
--   search      POST {base}/hotel-api/{ver}/hotels
--   check_avail POST .../checkrates            (mandatory for rateType RECHECK; we always call it: ARI is live)
--   book        POST .../bookings
--   query_order GET  .../bookings/{reference}  (or GET .../bookings?clientReference=... when only our ref is known)
--   cancel      DELETE .../bookings/{reference}?cancellationFlag=CANCELLATION
-- Auth: headers Api-key + X-Signature = hex SHA-256(apiKey .. secret .. unix seconds).
--
-- Config (config.suppliers.hotelbeds): base_url ("https://api.test.hotelbeds.com" or
-- ".../hotel-api"), api_key, secret, version ("1.0" by default; real 2026 traffic uses
-- "1.2"), optional tolerance (booking price tolerance in %, sent as is).
local c = require("lib.connector")

local M = {
  id = "hotelbeds",
  features = { webhooks = true, content = false },   -- webhook(): lib/webhook.lua
  limits = { timeout_ms = 300, qps = 50 },
}

local money = function(x) return hm.money.norm(x) end
local val = c.val

---------------------------------------------------------------------------
-- Transport: URL, signature, error mapping
---------------------------------------------------------------------------

local function url(ctx, path)
  local base = tostring(ctx.config.base_url or "https://api.test.hotelbeds.com"):gsub("/+$", "")
  if not base:match("/hotel%-api$") then base = base .. "/hotel-api" end
  return base .. "/" .. (ctx.config.version or "1.0") .. path
end

-- The signature covers the current second; Hotelbeds allows a few minutes of
-- clock skew (rejects the rest with 403 "Not Authorized").
function M.signature(api_key, secret, ts)
  return hm.crypto.sha256_hex(api_key .. secret .. string.format("%d", ts))
end

local function headers(ctx, with_body)
  local cfg = ctx.config
  local h = {
    ["Api-key"] = tostring(cfg.api_key or ""),
    ["X-Signature"] = M.signature(tostring(cfg.api_key or ""), tostring(cfg.secret or ""),
      math.floor(hm.time.now())),
    ["Accept"] = "application/json",
    -- Accept-Encoding is left to curl (it offers and decodes gzip itself).
  }
  if with_body then h["Content-Type"] = "application/json" end
  return h
end

-- Throttling is a 403 from the Mashery gateway in front of the API, told apart
-- from auth failures only by X-Mashery-Error-Code (body is text/xml "<h1>...</h1>").
--   ERR_403_DEVELOPER_OVER_QPS   per-second limit   -> throttled, retry after 1 s
--   ERR_403_DEVELOPER_OVER_RATE  daily quota        -> throttled, retry at X-Ratelimit-Reset
--   ERR_403_NOT_AUTHORIZED / ERR_403_DEVELOPER_INACTIVE / 401 -> auth
local function gateway_error(res)
  local h = res.headers or {}
  local code = h["x-mashery-error-code"] or ""
  local body = res.body or ""
  local detail = h["x-error-detail-header"] or body:match("<h1>(.-)</h1>") or ""
  if code:match("OVER_QPS") or code:match("OVER_RATE") or detail:lower():match("over qps")
     or detail:lower():match("over rate") then
    local retry = c.retry_after(res)
    if code:match("OVER_QPS") or detail:lower():match("qps") then retry = tonumber(h["retry-after"]) or 1 end
    return c.err("throttled", "hotelbeds throttled: " .. (code ~= "" and code or detail),
      { status = res.status, retry_after = retry, code = code ~= "" and code or nil })
  end
  if res.status == 401 or res.status == 403 then
    return c.err("auth", "hotelbeds refused credentials: HTTP " .. res.status .. " " .. code .. " " .. detail,
      { status = res.status, code = code ~= "" and code or nil })
  end
  return nil
end

-- Product messages that mean "this rate cannot be sold any more" / "the price moved".
local SOLD_OUT = { "insufficient allotment", "allotment exceeded", "stop sales", "not available",
                   "no availability", "sold out" }
local PRICE = { "price has changed", "price has increased" }

local function matches(msg, list)
  msg = (msg or ""):lower()
  for _, p in ipairs(list) do if msg:find(p, 1, true) then return true end end
  return false
end

-- The JSON error envelope {auditData, error{code, message}} -> typed error.
-- Hotelbeds puts product errors on several HTTP statuses (4xx and 5xx seen), so the
-- body code decides, not the status.
local function body_error(res, doc)
  local e = type(doc) == "table" and val(doc.error)
  if type(e) ~= "table" then return nil end
  local code, msg = tostring(val(e.code) or ""), tostring(val(e.message) or "")
  local extra = { status = res.status, code = code }
  if msg:lower():find("does not exist", 1, true) or res.status == 404 then
    return c.err("not_found", "hotelbeds: " .. msg, extra)
  elseif matches(msg, SOLD_OUT) then
    extra.signal = "sold_out"
    return c.err("supplier", "hotelbeds: " .. msg, extra)
  elseif matches(msg, PRICE) then
    extra.signal = "price_changed"
    return c.err("supplier", "hotelbeds: " .. msg, extra)
  elseif code == "INVALID_REQUEST" or code == "INVALID_DATA" then
    return c.err("bad_request", "hotelbeds " .. code .. ": " .. msg, extra)
  end
  return c.err("supplier", "hotelbeds " .. code .. ": " .. msg, extra)
end

-- One call: returns the decoded JSON document, or nil + typed error.
local function call(ctx, method, path, payload)
  local res, err = c.http(ctx, { method = method, url = url(ctx, path), headers = headers(ctx, payload ~= nil),
                                 body = payload and hm.json.encode(payload) or nil })
  if not res then return nil, err end
  local gw = gateway_error(res)
  if gw then return nil, gw end
  local ok, doc = pcall(hm.json.decode, res.body or "")
  if ok and type(doc) == "table" then
    local be = body_error(res, doc)
    if be then return nil, be end
  end
  local herr = c.check_http(res)
  if herr then return nil, herr end
  if not ok or type(doc) ~= "table" then
    return nil, c.err("bad_response", "hotelbeds: body is not JSON: " .. (res.body or ""):sub(1, 80),
      { status = res.status })
  end
  return doc
end

---------------------------------------------------------------------------
-- Mapping to the unified model
---------------------------------------------------------------------------

-- Hotelbeds board codes -> HotelByte BoardId (codes not listed pass through).
local BOARDS = { RO = "RO", SC = "RO", BB = "BB", CB = "BB", AB = "BB", DB = "BB", BI = "BI",
                 HB = "HB", MB = "HB", FB = "FB", AI = "AI", TI = "TI", AS = "AI" }

local function tax_type(t)
  local s = ((val(t.subType) or "") .. " " .. (val(t.type) or "")):lower()
  if s:find("city") then return "CITY_TAX"
  elseif s:find("vat") or s:find("iva") then return "VAT"
  elseif s:find("service") then return "SERVICE_CHARGE"
  elseif s:find("touris") then return "TOURISM_FEE" end
  return "OTHER"
end

-- taxes{taxes[{included, amount, currency, type TAX|FEE, clientAmount, clientCurrency, subType}]}
-- included=false means payable at the hotel (e.g. Dubai city tax, in AED).
local function map_taxes(taxes)
  local list = type(taxes) == "table" and val(taxes.taxes)
  if type(list) ~= "table" then return nil end
  local out = {}
  for _, t in ipairs(list) do
    local included = val(t.included) == true
    out[#out + 1] = {
      type = tax_type(t), name = val(t.subType) or val(t.type) or "Tax",
      amount = money(val(t.amount) or 0), currency = val(t.currency),
      included = included, pay_at_hotel = not included,
      client_amount = val(t.clientAmount) and money(t.clientAmount) or nil,
      client_currency = val(t.clientCurrency),
    }
  end
  return out
end

-- Hotelbeds: cancellationPolicies[{amount, from}] = "cancelling at/after `from` costs
-- `amount`". Unified (HotelByte): "cancelling at/before `until` costs `fee`; after the
-- last until the whole price is due". Policies from several rates (rooms) add up
-- per `from`.
local function cancel_fees(policy_lists, net, currency, check_in)
  local by_from, froms = {}, {}
  for _, list in ipairs(policy_lists) do
    for _, p in ipairs(type(list) == "table" and list or {}) do
      local t = c.parse_time(val(p.from))
      if t then
        if not by_from[t] then by_from[t] = "0"; froms[#froms + 1] = t end
        by_from[t] = hm.money.add(by_from[t], money(val(p.amount) or 0))
      end
    end
  end
  if #froms == 0 then return nil end
  table.sort(froms)
  local out, fee = {}, "0.00"
  for _, t in ipairs(froms) do
    out[#out + 1] = { ["until"] = c.iso(t), fee = { amount = money(fee), currency = currency } }
    fee = by_from[t]
  end
  -- The last Hotelbeds step is not the full price: it holds until arrival. Arrival
  -- time is not in the answer; 12:00 UTC on the check-in day (docs/connectors.md example).
  if net and hm.money.cmp(fee, net) < 0 and check_in then
    local arrival = c.epoch(check_in, "12:00:00")
    if arrival > froms[#froms] then
      out[#out + 1] = { ["until"] = c.iso(arrival), fee = { amount = money(fee), currency = currency } }
    end
  end
  return out
end

-- One Hotelbeds rate -> unified rate. `net` is the rate line's total for its
-- `rooms` rooms and the whole stay (the docs say so; whether `net` multiplies
-- `rooms` is UNVERIFIED in the captures, which are all rooms=1).
local function map_rate(r, currency, check_in)
  local net = money(val(r.net) or 0)
  local price = {
    currency = currency, net = net,
    gross = val(r.sellingRate) and money(r.sellingRate) or nil,
    -- net model: sellingRate must be respected when hotelMandatory is true
    binding = val(r.hotelMandatory) == true,
    taxes = map_taxes(val(r.taxes)),
  }
  local board = tostring(val(r.boardCode) or "RO")
  return {
    key = val(r.rateKey),                 -- passed back verbatim: checkrates and bookings need only it
    board = { id = BOARDS[board] or board, name = val(r.boardName), code = board },
    -- rateClass NRF = non-refundable; NOR rates are free to cancel until the first policy `from`
    refundable = val(r.rateClass) == "NRF" and "no" or "full",
    cancel_fees = cancel_fees({ val(r.cancellationPolicies) }, net, currency, check_in),
    price = price,
    allotment = tonumber(val(r.allotment)),
    comment = val(r.rateComments),
    rate_type = val(r.rateType),          -- BOOKABLE | RECHECK (RECHECK must go through checkrates)
    payment_type = val(r.paymentType),    -- AT_WEB | AT_HOTEL
    rooms = tonumber(val(r.rooms)),
  }
end

local function map_hotel(h, check_in)
  local currency = val(h.currency)
  local out = { id = tostring(val(h.code)), name = val(h.name), rooms = {} }
  for _, room in ipairs(val(h.rooms) or {}) do
    local rates = {}
    for _, r in ipairs(val(room.rates) or {}) do rates[#rates + 1] = map_rate(r, currency, check_in) end
    out.rooms[#out.rooms + 1] = { id = val(room.code), name = val(room.name), rates = rates }
  end
  return out
end

---------------------------------------------------------------------------
-- search
---------------------------------------------------------------------------

-- Identical rooms go into one occupancy {rooms = n}; Hotelbeds then prices the n
-- rooms together in each rate line. Children: paxes {type CH, age} for every
-- room of the group (docs example lists all paxes of the occupancy).
local function occupancies(rooms)
  local groups, order = {}, {}
  for _, r in ipairs(rooms or { { adults = 2 } }) do
    local ages = {}
    for _, a in ipairs(r.children or {}) do ages[#ages + 1] = tonumber(a) end
    local sig = (r.adults or 2) .. "|" .. table.concat(ages, ",")
    if not groups[sig] then
      groups[sig] = { rooms = 0, adults = tonumber(r.adults) or 2, children = #ages, ages = ages }
      order[#order + 1] = sig
    end
    groups[sig].rooms = groups[sig].rooms + 1
  end
  local out = {}
  for _, sig in ipairs(order) do
    local g = groups[sig]
    local occ = { rooms = g.rooms, adults = g.adults, children = g.children }
    if g.children > 0 then
      occ.paxes = {}
      for _ = 1, g.rooms do
        for _, a in ipairs(g.ages) do occ.paxes[#occ.paxes + 1] = { type = "CH", age = a } end
      end
    end
    out[#out + 1] = occ
  end
  return out
end

function M.search(ctx, q)
  local occ = occupancies(q.rooms)
  if #occ > 1 then
    -- Mixed occupancies come back as separate rate lines per occupancy that would
    -- have to be combined into one bookable offer; not supported (yet).
    return nil, c.err("bad_request", "hotelbeds connector: rooms with different occupancies are not supported")
  end
  local codes = {}
  for _, id in ipairs(q.hotel_ids or {}) do codes[#codes + 1] = tonumber(id) or id end
  local body = {
    stay = { checkIn = q.check_in, checkOut = q.check_out },
    occupancies = occ,
    hotels = { hotel = codes },
  }
  -- sourceMarket drives market-specific pricing (nationality of the guest)
  if q.nationality then body.sourceMarket = q.nationality end
  local doc, err = call(ctx, "POST", "/hotels", body)
  if not doc then return nil, err end
  local hs = val(doc.hotels)
  if type(hs) ~= "table" then return nil, c.err("bad_response", "hotelbeds: availability without hotels") end
  local out = { hotels = {} }
  for _, h in ipairs(val(hs.hotels) or {}) do
    out.hotels[#out.hotels + 1] = map_hotel(h, q.check_in or val(hs.checkIn))
  end
  return out
end

---------------------------------------------------------------------------
-- check_avail (CheckRate)
---------------------------------------------------------------------------

local function expected_net(rate)
  local p = rate.price
  if type(p) == "table" then return p.net end
  return p
end

function M.check_avail(ctx, rate)
  local doc, err = call(ctx, "POST", "/checkrates", { rooms = { { rateKey = rate.key } } })
  if not doc then
    -- Hotelbeds answers a gone rate with a product error ("Insufficient allotment",
    -- "Stop sales", "Hotel not Available") and a moved price with "Price has changed".
    if err.signal == "sold_out" then return { status = "sold_out", reason = err.message } end
    if err.signal == "price_changed" then return { status = "price_changed", reason = err.message } end
    return nil, err
  end
  local h = val(doc.hotel)
  if type(h) ~= "table" then return nil, c.err("bad_response", "hotelbeds: checkrates without hotel") end
  local check_in = rate.check_in or val(h.checkIn)
  -- the asked rateKey; RECHECK may hand back a new key: then the first rate of the asked room
  local found, found_room
  for _, room in ipairs(val(h.rooms) or {}) do
    for _, r in ipairs(val(room.rates) or {}) do
      if val(r.rateKey) == rate.key then found, found_room = r, room end
    end
  end
  if not found then
    for _, room in ipairs(val(h.rooms) or {}) do
      local r = (val(room.rates) or {})[1]
      if r and not found and (rate.room_id == nil or val(room.code) == rate.room_id) then found, found_room = r, room end
    end
  end
  local hotel = { id = tostring(val(h.code)), name = val(h.name) }
  if not found then return { status = "sold_out", hotel = hotel } end
  local fresh = map_rate(found, val(h.currency), check_in)
  local room = { id = val(found_room.code), name = val(found_room.name) }
  local status = "available"
  if fresh.allotment ~= nil and fresh.allotment <= 0 then
    status = "sold_out"
  else
    local want = expected_net(rate)
    if want and hm.money.cmp(money(want), fresh.price.net) ~= 0 then status = "price_changed" end
  end
  return { status = status, rate = fresh, hotel = hotel, room = room }
end

---------------------------------------------------------------------------
-- book / query_order / cancel
---------------------------------------------------------------------------

-- paxes for every room of the booking: named guests where given, the holder as
-- the first adult of a room without named adults (Hotelbeds wants one name per room).
local function paxes(order)
  local rooms = order.rooms or { { adults = 2 } }
  local out = {}
  for i, room in ipairs(rooms) do
    local adults, kids = {}, {}
    for _, g in ipairs(order.guests or {}) do
      if (tonumber(g.room_index) or 1) == i then
        local p = { roomId = i, type = g.is_child and "CH" or "AD", name = g.first_name, surname = g.last_name }
        if g.is_child then p.age = tonumber(g.age); kids[#kids + 1] = p else adults[#adults + 1] = p end
      end
    end
    local holder = order.holder or {}
    if #adults == 0 then adults[1] = { roomId = i, type = "AD", name = holder.first_name, surname = holder.last_name } end
    for _ = #adults + 1, tonumber(room.adults) or 1 do adults[#adults + 1] = { roomId = i, type = "AD" } end
    local ages = room.children or {}
    for k = #kids + 1, #ages do kids[k] = { roomId = i, type = "CH", age = tonumber(ages[k]) } end
    for _, p in ipairs(adults) do out[#out + 1] = p end
    for _, p in ipairs(kids) do out[#out + 1] = p end
  end
  return out
end

local STATUS = { CONFIRMED = "confirmed", CANCELLED = "cancelled", NEW = "pending", PRECONFIRMED = "pending",
                 TO_BE_UPDATED = "pending", TO_BE_CANCELLED = "pending" }

-- booking{reference, clientReference, status, hotel{rooms[{rates[]}], totalNet, currency}, totalNet, currency}
-- Note booking.totalNet is a number while hotel.totalNet is a string in real traffic.
local function map_booking(b)
  local hotel = val(b.hotel) or {}
  local currency = val(b.currency) or val(hotel.currency)
  local net = val(b.totalNet) or val(hotel.totalNet)
  local policies, confirm = {}, nil
  for _, room in ipairs(val(hotel.rooms) or {}) do
    for _, r in ipairs(val(room.rates) or {}) do
      policies[#policies + 1] = val(r.cancellationPolicies)
      confirm = confirm or val(r.hotelConfirmationNumber)   -- not in the captures; taken when present
    end
  end
  local net_s = net ~= nil and money(net) or nil
  return {
    status = STATUS[tostring(val(b.status))] or "pending",
    supplier_ref = val(b.reference),
    client_ref = val(b.clientReference),
    hotel_confirm_no = confirm,
    price = net_s and { currency = currency, net = net_s } or nil,
    cancel_fees = cancel_fees(policies, net_s, currency, val(hotel.checkIn)),
    hotel = { id = val(hotel.code) and tostring(hotel.code), name = val(hotel.name) },
  }
end

function M.book(ctx, order)
  local body = {
    holder = { name = order.holder and order.holder.first_name, surname = order.holder and order.holder.last_name },
    rooms = { { rateKey = order.key, paxes = paxes(order) } },
    clientReference = order.customer_ref,     -- our idempotency handle (Hotelbeds caps it at 20 chars: UNVERIFIED)
    remark = order.remarks,
    tolerance = ctx.config.tolerance and tonumber(ctx.config.tolerance) or nil,
  }
  local doc, err = call(ctx, "POST", "/bookings", body)
  if not doc then
    -- A product error on booking is a definite "no": nothing was booked.
    if err.signal then return { status = "failed", reason = err.message, signal = err.signal } end
    return nil, err
  end
  if type(val(doc.booking)) ~= "table" then return nil, c.err("bad_response", "hotelbeds: booking answer without booking") end
  return map_booking(doc.booking)
end

-- By reference when we have it; otherwise look the client reference up in the
-- booking list (filterType CREATION around today: an uncertain booking is recent).
function M.query_order(ctx, order)
  local doc, err
  if order.supplier_ref then
    doc, err = call(ctx, "GET", "/bookings/" .. order.supplier_ref)
    if not doc then
      if err.kind == "not_found" then return { status = "not_found", supplier_ref = order.supplier_ref } end
      return nil, err
    end
    if type(val(doc.booking)) ~= "table" then return nil, c.err("bad_response", "hotelbeds: detail without booking") end
    return map_booking(doc.booking)
  end
  local today = math.floor(hm.time.now() / 86400)
  local path = string.format("/bookings?start=%s&end=%s&filterType=CREATION&from=1&to=25&clientReference=%s",
    c.date(today - 2), c.date(today + 1), c.urlencode(order.customer_ref or ""))
  doc, err = call(ctx, "GET", path)
  if not doc then
    if err.kind == "not_found" then return { status = "not_found" } end
    return nil, err
  end
  local list = val(doc.bookings)
  list = type(list) == "table" and val(list.bookings) or nil
  for _, b in ipairs(list or {}) do
    if val(b.clientReference) == order.customer_ref then return map_booking(b) end
  end
  return { status = "not_found" }
end

-- DELETE with cancellationFlag=CANCELLATION (SIMULATION would only quote the fee).
-- The fee charged is hotel.cancellationAmount (0 in the capture, a test booking).
function M.cancel(ctx, order)
  if not order.supplier_ref then return nil, c.err("bad_request", "hotelbeds cancel needs supplier_ref") end
  local doc, err = call(ctx, "DELETE", "/bookings/" .. order.supplier_ref .. "?cancellationFlag=CANCELLATION")
  if not doc then return nil, err end
  local b = val(doc.booking)
  if type(b) ~= "table" then return nil, c.err("bad_response", "hotelbeds: cancel answer without booking") end
  local hotel = val(b.hotel) or {}
  if val(b.status) ~= "CANCELLED" then
    return nil, c.err("supplier", "hotelbeds: booking not cancelled, status " .. tostring(val(b.status)))
  end
  local fee = val(hotel.cancellationAmount) or val(b.totalNet) or 0
  return { status = "cancelled", supplier_ref = val(b.reference), cancellation_ref = val(b.cancellationReference),
           fee = { amount = money(fee), currency = val(b.currency) or val(hotel.currency) } }
end

-- webhook(ctx, req): an inventory/price push. APItude has no public ARI push
-- spec (SUPPLIERS.md), so the body is UNVERIFIED, in APItude's naming:
-- {"events":[{"type":"ROOM_SOLD_OUT"|"PRICE_CHANGED"|"NEW_AVAILABILITY",
-- "hotelCode":731321,"roomCode":"DBL.ST"}]}; signature headers: see
-- lib/webhook.lua (X-Timestamp + X-Signature, HMAC-SHA256 with webhook_secret;
-- not APItude's request X-Signature, which is SHA-256(key+secret+ts) without a body).
function M.webhook(ctx, req)
  return require("lib.webhook").events(ctx, req, function(doc) return doc.events end, function(ev)
    return { type = ev.type, hotel_id = ev.hotelCode, room_id = ev.roomCode }
  end)
end

return M
