-- connectors/dida.lua -- Dida Travel hotel API (JSON flavour), see
-- /work/shared/SUPPLIERS.md section 5 and docs/connectors.md.
--
-- Wire facts (verified against the real PriceSearch capture and Dida's docs):
--  * every call is POST <base>/api/<area>/<Op>?$format=json with a JSON body;
--  * auth is Header{ClientID, LicenseKey} inside every body; HotelByte also
--    sends "Authorization: Basic base64(ClientID:LicenseKey)" and so do we;
--  * PriceSearch prices are for ONE room; PriceConfirm prices are for ALL rooms;
--  * RatePlanCancellationPolicyList[{FromDate, Amount}] = "from FromDate on,
--    cancelling costs Amount"; FromDate is Beijing time (+08:00) when it has
--    no offset (the docs example has none, the real capture says +08:00);
--  * TotalPrice includes IncludedFeeList; ExcludedFeeList is paid at the hotel.
-- Unverified (SUPPLIERS.md section 8 gaps), chosen forms are marked UNVERIFIED below.
local c = require("lib.connector")
local money = hm.money

local M = {
  id = "dida",
  features = { webhooks = true, content = false },   -- webhook(): lib/webhook.lua
  limits = { timeout_ms = 2000, qps = 30 },   -- Dida default QPS 30 (test id: 10) [DD1]
}

---------------------------------------------------------------------------
-- transport

local function base_url(ctx)
  local b = ctx.config.base_url or "https://apiint.didatravel.com"
  -- "/sim/dida" in the demo config means "this server"
  if b:sub(1, 1) == "/" and hm.self_url then b = hm.self_url() .. b end
  return (b:gsub("/+$", ""))
end

local function auth_header(ctx)
  return { ClientID = ctx.config.client_id, LicenseKey = ctx.config.license_key }
end

-- Dida answers errors as {"Error":{"Code","Message"}} (UNVERIFIED layout; the
-- code names such as 2024:IncorrectRealTimeAndOccupancy are real [DD10]).
-- The full code list is not public, so classify by code name / message words.
local function classify(code, msg)
  local m = (tostring(code or "") .. " " .. tostring(msg or "")):lower()
  local extra = { code = code }
  if m:find("qps") or m:find("frequen") or m:find("too many") or m:find("rate limit") then
    extra.retry_after = 1
    return c.err("throttled", "dida: " .. m, extra)
  elseif m:find("licensekey") or m:find("clientid") or m:find("unauthori") or m:find("whitelist") then
    return c.err("auth", "dida: " .. m, extra)
  elseif m:find("not found") or m:find("notfound") or m:find("not exist") or m:find("notexist") then
    return c.err("not_found", "dida: " .. m, extra)
  elseif m:find("duplicate") then
    return c.err("duplicate", "dida: " .. m, extra)
  elseif m:find("incorrect") or m:find("invalid") or m:find("param") or m:find("required") then
    return c.err("bad_request", "dida: " .. m, extra)
  end
  return c.err("supplier", "dida: " .. m, extra)
end

-- POST one operation; returns the decoded "Success" object or nil, err.
local function call(ctx, path, body)
  body.Header = auth_header(ctx)
  local cred = (ctx.config.client_id or "") .. ":" .. (ctx.config.license_key or "")
  local res, err = c.http(ctx, {
    method = "POST",
    timeout_ms = tonumber(ctx.config.timeout_ms) or M.limits.timeout_ms,
    url = base_url(ctx) .. path .. "?$format=json",
    headers = {
      ["Content-Type"] = "application/json; charset=utf-8",
      ["Accept"] = "application/json",
      ["Authorization"] = "Basic " .. hm.crypto.base64_encode(cred),
    },
    body = hm.json.encode(body),
  })
  if not res then return nil, err end
  local doc = nil
  if res.status >= 400 then
    doc = c.json(res)                     -- an error body, when there is one
    if doc and type(c.val(doc.Error)) == "table" and res.status ~= 429 then
      return nil, classify(c.val(doc.Error.Code), c.val(doc.Error.Message))
    end
    return nil, c.check_http(res)
  end
  local derr
  doc, derr = c.json(res)
  if not doc then return nil, derr end
  local e = c.val(doc.Error)
  if type(e) == "table" then return nil, classify(c.val(e.Code), c.val(e.Message)) end
  local ok = c.val(doc.Success)
  if type(ok) ~= "table" then
    return nil, c.err("bad_response", "dida: answer has neither Success nor Error")
  end
  return ok
end

---------------------------------------------------------------------------
-- request pieces

-- Dida takes ONE occupancy for all rooms (same RatePlanID for every room) and
-- advises sending the largest adult/child counts when rooms differ [DD9].
local function occupancy(rooms)
  local adults, ages = 1, {}
  for _, r in ipairs(rooms or { { adults = 2 } }) do
    adults = math.max(adults, r.adults or 2)
    if #(r.children or {}) > #ages then ages = r.children end
  end
  return adults, ages
end

local function opaque_key(t) return "v1." .. hm.crypto.base64url_encode(hm.json.encode(t)) end

local function parse_key(key)
  local b = type(key) == "string" and key:match("^v1%.(.+)$")
  local raw = b and hm.crypto.base64url_decode(b)
  local ok, t = pcall(hm.json.decode, raw or "")
  if not ok or type(t) ~= "table" then return nil end
  return t
end

---------------------------------------------------------------------------
-- response mapping

-- MealType -> HotelByte board. 4 -> FB is what HotelByte shows for the same
-- Dida rates (hotelbyte fixture: ratePkgId ...-7512310342609318687 = FB);
-- 1 with MealAmount 0 is room only in the capture. 2/3/5 are UNVERIFIED guesses.
local BOARDS = {
  [1] = { id = "RO", name = "Room only" }, [2] = { id = "BB", name = "Bed and breakfast" },
  [3] = { id = "HB", name = "Half board" }, [4] = { id = "FB", name = "Full board" },
  [5] = { id = "AI", name = "All inclusive" },
}

local function board_of(rp)
  local first = (c.val(rp.PriceList) or {})[1] or {}
  local mt, amount = tonumber(c.val(first.MealType)), tonumber(c.val(first.MealAmount))
  if amount == 0 or not mt then return BOARDS[1] end
  return BOARDS[mt] or { id = "RO", name = "Room only" }
end

local function tax_type(name)
  local n = tostring(name or ""):lower()
  if n:find("city") then return "CITY_TAX"
  elseif n:find("tourism") or n:find("dirham") then return "TOURISM_FEE"
  elseif n:find("tax") or n:find("vat") then return "VAT"
  elseif n:find("service") then return "SERVICE_CHARGE" end
  return "OTHER"
end

local function fees(list, included, mult, out)
  for _, f in ipairs(c.val(list) or {}) do
    out[#out + 1] = { type = tax_type(c.val(f.FeeTypeName)), name = c.val(f.FeeTypeName),
      amount = money.round(money.mul(money.norm(c.val(f.Amount)) or "0", mult), 2),
      currency = c.val(f.Currency), included = included, pay_at_hotel = not included }
  end
end

-- "2026-02-15T00:00:00+08:00" or "2021-09-11 00:00:00" (no offset: Beijing time) -> epoch.
local function dida_time(s)
  if type(s) ~= "string" then return nil end
  if not s:match("[Zz]$") and not s:match("[+-]%d%d:?%d%d$") then s = s .. "+08:00" end
  return c.parse_time(s)
end

-- Dida "from FromDate on the fee is Amount" -> HotelByte "at or before
-- `until` the fee is `fee`": each step's free/lower window ends one second
-- before the next FromDate. After the last FromDate whole price is due, which
-- is what HotelByte assumes after the last `until`; if the last Amount is
-- below the price, that amount holds until check-in day 00:00 UTC.
local function cancel_fees(policies, total, currency, mult, check_in)
  local steps = {}
  for _, p in ipairs(c.val(policies) or {}) do
    local t = dida_time(c.val(p.FromDate))
    if t then steps[#steps + 1] = { t = t, amount = money.round(money.mul(money.norm(c.val(p.Amount)) or "0", mult), 2) } end
  end
  c.sort_by(steps, "t")
  local out, prev = {}, "0.00"
  for _, s in ipairs(steps) do
    out[#out + 1] = { ["until"] = c.iso(s.t - 1), fee = { amount = prev, currency = currency } }
    prev = s.amount
  end
  if #steps > 0 and money.cmp(prev, total) < 0 and check_in then
    out[#out + 1] = { ["until"] = c.iso(c.epoch(check_in)), fee = { amount = prev, currency = currency } }
  end
  return out
end

-- One RatePlan -> unified rate. mult = rooms for PriceSearch (per-room
-- prices), 1 for PriceConfirm (already the total for all rooms).
local function map_rate(rp, hotel_id, stay, mult, ref)
  local cur = c.val(rp.Currency) or stay.currency
  local net = money.round(money.mul(money.norm(c.val(rp.TotalPrice)) or "0", mult), 2)
  local taxes = {}
  fees(rp.IncludedFeeList, true, mult, taxes)
  fees(rp.ExcludedFeeList, false, mult, taxes)
  local nightly = {}
  for _, d in ipairs(c.val(rp.PriceList) or {}) do
    nightly[#nightly + 1] = money.round(money.mul(money.norm(c.val(d.Price)) or "0", mult), 2)
  end
  local cf = cancel_fees(rp.RatePlanCancellationPolicyList, net, cur, mult, stay.check_in)
  local rate = {
    key = opaque_key({ h = hotel_id, rp = tostring(c.val(rp.RatePlanID)), ci = stay.check_in,
      co = stay.check_out, n = stay.nrooms, a = stay.adults, c = stay.ages,
      nat = stay.nationality, cur = stay.currency, ref = ref }),
    rate_plan_id = tostring(c.val(rp.RatePlanID)),
    name = c.val(rp.RatePlanName),
    board = board_of(rp),
    refundable = c.refundable_now(cf, net),
    cancel_fees = cf,
    price = { currency = cur, net = net, binding = false, taxes = taxes },
    allotment = tonumber(c.val(rp.InventoryCount)),
    nightly = nightly,
  }
  if c.val(rp.IsOnRequest) == true then
    rate.on_request = true
    rate.comment = "On request: Dida confirms within 120 minutes"
  end
  return rate
end

-- Some real rate plans come without RoomTypeID/RoomName: keep them as their own room.
local function room_of(rp)
  local id = c.val(rp.RoomTypeID)
  if id then return tostring(id), c.val(rp.RoomName) or c.val(rp.RatePlanName) end
  return "rateplan:" .. tostring(c.val(rp.RatePlanID)), c.val(rp.RatePlanName)
end

local function map_hotels(details, stay, mult, ref)
  local hotels = {}
  for _, h in ipairs(c.val(details.HotelList) or {}) do
    local hid = tostring(c.val(h.HotelID))
    local hotel = { id = hid, name = c.val(h.HotelName), rooms = {} }
    local by_room = {}
    for _, rp in ipairs(c.val(h.RatePlanList) or {}) do
      local rid, rname = room_of(rp)
      local room = by_room[rid]
      if not room then
        room = { id = rid, name = rname, rates = {} }
        by_room[rid] = room
        hotel.rooms[#hotel.rooms + 1] = room
      end
      room.rates[#room.rates + 1] = map_rate(rp, hid, stay, mult, ref)
    end
    hotels[#hotels + 1] = hotel
  end
  return hotels
end

local function stay_of(q)
  local adults, ages = occupancy(q.rooms)
  return { check_in = q.check_in, check_out = q.check_out, nrooms = math.max(1, #(q.rooms or {})),
    adults = adults, ages = ages, nationality = q.nationality or "GB", currency = q.currency or "USD" }
end

---------------------------------------------------------------------------
-- operations

function M.search(ctx, q)
  local stay = stay_of(q)
  local ids = {}
  for i, id in ipairs(q.hotel_ids or {}) do
    if i > 50 then break end                                  -- Dida: at most 50 ids
    ids[#ids + 1] = tonumber(id) or id
  end
  -- Cached prices only work for 1 room / 2 adults / no children (error 2024
  -- otherwise [DD10]); live prices are what a gateway needs anyway.
  local ok, err = call(ctx, "/api/rate/PriceSearch", {
    HotelIDList = ids, CheckInDate = q.check_in, CheckOutDate = q.check_out,
    IsRealTime = { Value = true, RoomCount = stay.nrooms },
    RealTimeOccupancy = { AdultCount = stay.adults, ChildCount = #stay.ages,
      ChildAgeDetails = #stay.ages > 0 and stay.ages or hm.json.null },
    Currency = stay.currency, Nationality = stay.nationality, IsNeedOnRequest = false,
  })
  if not ok then return nil, err end
  local details = c.val(ok.PriceDetails)
  if details == nil then return { hotels = {} } end          -- no availability
  if type(details) ~= "table" then return nil, c.err("bad_response", "dida: PriceDetails is not an object") end
  return { hotels = map_hotels(details, stay, stay.nrooms) }
end

-- PriceConfirm with PreBook=true: holds the price and returns ReferenceNo.
local function price_confirm(ctx, k)
  local occ = {}
  for i = 1, k.n do
    occ[i] = { RoomNum = i, AdultCount = k.a, ChildCount = #(k.c or {}),
               ChildAgeDetails = #(k.c or {}) > 0 and k.c or hm.json.null }
  end
  return call(ctx, "/api/rate/PriceConfirm", {
    PreBook = true, HotelID = tonumber(k.h) or k.h, RatePlanID = k.rp,
    CheckInDate = k.ci, CheckOutDate = k.co, NumOfRooms = k.n, OccupancyDetails = occ,
    Currency = k.cur, Nationality = k.nat, IsNeedOnRequest = false,
  })
end

-- The confirmed rate plan in a PriceConfirm answer, or nil when Dida no
-- longer offers it (its sold-out signal: no HotelList / no RatePlan).
local function confirmed_plan(ok, k)
  local d = c.val(ok.PriceDetails)
  if type(d) ~= "table" then return nil end
  for _, h in ipairs(c.val(d.HotelList) or {}) do
    for _, rp in ipairs(c.val(h.RatePlanList) or {}) do
      if tostring(c.val(rp.RatePlanID)) == tostring(k.rp) then return rp, h, d end
    end
  end
  return nil
end

local SOLD_OUT_WORDS = { "soldout", "sold out", "noavailab", "no availab", "not available" }

local function is_sold_out_error(e)
  local m = (tostring(e.code or "") .. " " .. tostring(e.message or "")):lower()
  for _, w in ipairs(SOLD_OUT_WORDS) do if m:find(w, 1, true) then return true end end
  return false
end

function M.check_avail(ctx, rate)
  local k = parse_key(rate.key)
  if not k then return nil, c.err("bad_request", "dida: not a dida rate key") end
  local ok, err = price_confirm(ctx, k)
  if not ok then
    if is_sold_out_error(err) then return { status = "sold_out", hotel = { id = k.h }, room = { id = rate.room_id } } end
    return nil, err
  end
  local rp, h, d = confirmed_plan(ok, k)
  if not rp then return { status = "sold_out", hotel = { id = k.h }, room = { id = rate.room_id } } end
  local stay = { check_in = k.ci, check_out = k.co, nrooms = k.n, adults = k.a, ages = k.c,
                 nationality = k.nat, currency = k.cur }
  -- PriceConfirm prices are already for all rooms (mult 1); the result wins over PriceSearch [DD3].
  local fresh = map_rate(rp, tostring(c.val(h.HotelID)), stay, 1, c.val(d.ReferenceNo))
  local rid, rname = room_of(rp)
  local status = "available"
  local expected = rate.price and rate.price.net
  if expected and money.cmp(money.norm(expected) or "0", fresh.price.net) ~= 0 then status = "price_changed" end
  return { status = status, rate = fresh, hotel = { id = tostring(c.val(h.HotelID)), name = c.val(h.HotelName) },
           room = { id = rid, name = rname } }
end

-- Dida booking status [DD5]: 2 Confirmed, 3 Canceled, 4 Failed are final.
local STATUS = { [0] = "pending", [1] = "pending", [2] = "confirmed", [3] = "cancelled", [4] = "failed",
                 [5] = "pending", [6] = "pending" }

-- HotelBookingConfirm / HotelBookingSearch answer layout is UNVERIFIED (not in
-- the indexed docs): we read Success.BookingDetails (or the first of
-- Success.BookingDetailsList) with BookingID, Status, TotalPrice, Currency,
-- HotelConfirmationNo, ClientReference.
local function booking_of(ok)
  local b = c.val(ok.BookingDetails)
  if type(b) ~= "table" then b = (c.val(ok.BookingDetailsList) or {})[1] end
  return type(b) == "table" and b or nil
end

local function order_of(b)
  return { status = STATUS[tonumber(c.val(b.Status))] or "pending", supplier_ref = tostring(c.val(b.BookingID)),
    hotel_confirm_no = c.val(b.HotelConfirmationNo),
    price = c.val(b.TotalPrice) and { currency = c.val(b.Currency), net = money.round(money.norm(c.val(b.TotalPrice)), 2) } or nil }
end

local function guest_list(order, nrooms)
  local list = {}
  for i = 1, nrooms do list[i] = { RoomNum = i, GuestInfo = {} } end
  for _, g in ipairs(order.guests or {}) do
    local room = list[math.min(math.max(g.room_index or 1, 1), nrooms)]
    local gi = { Name = { First = g.first_name, Last = g.last_name }, IsAdult = not g.is_child }
    if g.is_child then gi.Age = g.age end
    room.GuestInfo[#room.GuestInfo + 1] = gi
  end
  for i = 1, nrooms do      -- every room needs a named guest: default to the holder
    if #list[i].GuestInfo == 0 and order.holder then
      list[i].GuestInfo[1] = { Name = { First = order.holder.first_name, Last = order.holder.last_name }, IsAdult = true }
    end
  end
  return list
end

function M.book(ctx, order)
  local k = parse_key(order.key)
  if not k then return nil, c.err("bad_request", "dida: not a dida rate key") end
  local ref, fresh = k.ref, nil
  if not ref then                 -- a search key: PreBook first to get ReferenceNo
    local ok, err = price_confirm(ctx, k)
    if not ok then
      if is_sold_out_error(err) then return { status = "failed", reason = "sold_out" } end
      return nil, err
    end
    local rp, _, d = confirmed_plan(ok, k)
    if not rp or not c.val(d.ReferenceNo) then return { status = "failed", reason = "sold_out" } end
    fresh = money.round(money.norm(c.val(rp.TotalPrice)), 2)
    if order.price and money.cmp(money.norm(order.price) or "0", fresh) ~= 0 then
      return { status = "failed", reason = "price_changed", price = { currency = c.val(rp.Currency), net = fresh } }
    end
    ref = tostring(c.val(d.ReferenceNo))
  end
  local h = order.holder or {}
  local ok, err = call(ctx, "/api/booking/HotelBookingConfirm", {   -- path UNVERIFIED [DD4]
    ReferenceNo = ref, CheckInDate = k.ci, CheckOutDate = k.co, NumOfRooms = k.n,
    GuestList = guest_list(order, k.n),
    Contact = { Name = { First = h.first_name, Last = h.last_name }, Email = h.email, Phone = h.phone },
    ClientReference = order.customer_ref,
  })
  if not ok then
    if is_sold_out_error(err) then return { status = "failed", reason = "sold_out" } end
    return nil, err
  end
  local b = booking_of(ok)
  if not b or c.val(b.BookingID) == nil then return nil, c.err("bad_response", "dida: booking answer without BookingID") end
  local out = order_of(b)
  out.price = out.price or (fresh and { currency = k.cur, net = fresh })
  return out
end

function M.query_order(ctx, order)
  local by
  if order.supplier_ref then by = { BookingID = tostring(order.supplier_ref) }
  elseif order.customer_ref then by = { BookingInfo = { ClientReference = order.customer_ref } }
  else return nil, c.err("bad_request", "dida: need supplier_ref or customer_ref") end
  local ok, err = call(ctx, "/api/booking/HotelBookingSearch", { SearchBy = by })
  if not ok then
    if err.kind == "not_found" then return { status = "not_found" } end
    return nil, err
  end
  local b = booking_of(ok)
  if not b then return { status = "not_found" } end
  return order_of(b)
end

-- Cancel: NOT in the indexed Dida docs (SUPPLIERS.md section 8). Chosen form,
-- following the other booking operations: POST /api/booking/HotelBookingCancel
-- {Header, BookingID} -> {"Success":{"BookingID","Status":3,"Amount","Currency"}}
-- where Amount is the cancellation penalty. UNVERIFIED.
function M.cancel(ctx, order)
  local id = order.supplier_ref
  if not id then
    local q, err = M.query_order(ctx, order)
    if not q then return nil, err end
    if q.status == "not_found" then return nil, c.err("not_found", "dida: no booking for " .. tostring(order.customer_ref)) end
    id = q.supplier_ref
  end
  local ok, err = call(ctx, "/api/booking/HotelBookingCancel", { BookingID = tostring(id) })
  if not ok then return nil, err end
  local st = STATUS[tonumber(c.val(ok.Status))]
  if st and st ~= "cancelled" then return nil, c.err("supplier", "dida: cancel answered status " .. st) end
  return { status = "cancelled", supplier_ref = tostring(c.val(ok.BookingID) or id),
           fee = { amount = money.round(money.norm(c.val(ok.Amount) or 0), 2), currency = c.val(ok.Currency) } }
end

-- webhook(ctx, req): Dida's inventory/price push. Dida publishes no push
-- spec (SUPPLIERS.md), so the body follows Dida's own PascalCase style and is
-- UNVERIFIED: {"Events":[{"Type":"ROOM_SOLD_OUT"|"PRICE_CHANGED"|"NEW_AVAILABILITY",
-- "HotelID":15588,"RoomTypeID":401,"RatePlanID":"..."}]}; signature headers:
-- see lib/webhook.lua (X-Timestamp + X-Signature, HMAC-SHA256 with webhook_secret).
function M.webhook(ctx, req)
  return require("lib.webhook").events(ctx, req, function(doc) return doc.Events end, function(ev)
    return { type = ev.Type, hotel_id = ev.HotelID, room_id = ev.RoomTypeID, rate_id = ev.RatePlanID }
  end)
end

return M
