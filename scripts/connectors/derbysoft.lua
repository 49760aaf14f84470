-- connectors/derbysoft.lua -- DerbySoft GO distributor API v4 (ShoppingEngine
-- for search, BookingUSB for live check / prebook / book / detail / cancel),
-- see /work/shared/SUPPLIERS.md section 4 and docs/connectors.md.
--
-- Wire facts (verified against the real GO v4 Choice and BTS v1.2 Hilton captures):
--  * every call is POST JSON; ShoppingEngine .../api/go/shoppingengine/v4/shopping/multihotels,
--    BookingUSB .../api/go/bookingusb/v4/{availability, reservation/book, reservation/detail,
--    reservation/cancel}; every body and answer carries header{supplierId, distributorId,
--    version, token} where token is an echo id (UUID), not the access key;
--  * room rates: amountBeforeTax[] / amountAfterTax[] are ARRAYS (numbers), inventory =
--    rooms left, mealPlan RO/BB/HB..., fees[{dateRange, fee{name, type "Exclusive",
--    amount, amountType Percent|Fix, chargeType PerRoomPerNight}}];
--  * "Exclusive" fees are exclusive of amountBeforeTax. Some hotels put them inside
--    amountAfterTax (Choice AW007: 193.5 + 28.5 % + 3.5 = 252.15; Hilton RUHSK:
--    564.2 + 15.75 % + 5 % = 681.27), others answer after == before with a 20 % fee
--    (Choice GB113): there the fee is on top, and the reservation total (detail capture:
--    total.amountAfterTax 183.75) shows DerbySoft does not charge it -> paid at the hotel;
--  * cancelPolicy.cancelPenalties[] deadlines are RELATIVE to arrival
--    ({offsetTimeDropType BeforeArrival, offsetTimeUnit D, offsetTimeValue 1, deadline "4PM"};
--    the detail answer spells it "dealineTime"); penaltyCharge {chargeBase FullStay, percent}
--    or {chargeBase NightBase, nights};
--  * book answers reservationIds{distributorResId, derbyResId, supplierResId}; detail answers
--    reservations[{status Confirmed|Cancelled, result, reservationIds, total, roomRates}];
--  * throttling: APISIX X-RateLimit-Limit/-Remaining/-Reset (seconds) headers, 429 when over.
-- UNVERIFIED (SUPPLIERS.md section 8) and chosen here, marked below: "Bearer " before the
-- token on BookingUSB, the error-body layout, the prebook/book request bodies, whether amounts
-- are per room (we assume per room per night, one array element per night), and the hotel's
-- time zone for "4PM" deadlines (config hotel_utc_offset, default "+00:00").
local c = require("lib.connector")
local money = hm.money

local M = {
  id = "derbysoft",
  features = { webhooks = false, content = false },
  limits = { timeout_ms = 2000, qps = 15 },   -- 15 req/s quoted by DerbySoft docs [DS10]
}

local SHOPPING = "/api/go/shoppingengine/v4"
local BOOKING = "/api/go/bookingusb/v4"
local MAX_HOTELS = 20                         -- multihotels: at most 20 hotels per query [DS5]

---------------------------------------------------------------------------
-- transport

local function root(ctx)
  local b = ctx.config.base_url or "https://go.derbysoftsec.com"
  if b:sub(1, 1) == "/" and hm.self_url then b = hm.self_url() .. b end   -- "/sim/derbysoft": this server
  return (b:gsub("/+$", ""))
end

-- ShoppingEngine and BookingUSB have separate hosts in production [DS1]:
-- config.shopping_url / booking_url override base_url .. "/api/go/<api>/v4".
local function endpoint(ctx, api, path)
  if api == "shopping" then return (ctx.config.shopping_url or root(ctx) .. SHOPPING) .. path end
  return (ctx.config.booking_url or root(ctx) .. BOOKING) .. path
end

local function body_header(ctx)
  return { supplierId = ctx.config.supplier_id, distributorId = ctx.config.distributor_id,
           version = "v4", token = hm.crypto.uuid() }
end

-- DerbySoft error codes [DS8][DS9] -> typed error kinds.
local CODE_KIND = {
  HotelNotFound = "not_found", RoomTypeNotFound = "not_found", RatePlanNotFound = "not_found",
  ReservationNotFound = "not_found", DuplicateReservation = "duplicate",
  Unauthorized = "auth", AuthenticationFailed = "auth", InvalidToken = "auth",
  TooManyRequests = "throttled",
  ExceedAdultCount = "bad_request", ExceedChildCount = "bad_request", ExceedRoomCount = "bad_request",
  IncorrectCheckinDate = "bad_request", InvalidField = "bad_request", InvalidCorporateID = "bad_request",
  ChannelNotFound = "bad_request", SupplierNotFound = "bad_request",
}
-- the supplier's own "no longer sellable" answers
local SOLD_OUT = { NoAllotment = true, RoomRateNotAvailable = true }

-- Error body layout is UNVERIFIED: we read {"errorCode","errorMessage"} (GO docs style),
-- and also {"error":{"code","message"}}, {"error":"Key not authorised"} (ping [DS1]) and
-- APISIX's {"error_msg": ...}.
local function error_of(doc)
  local code, msg = c.val(doc.errorCode), c.val(doc.errorMessage)
  local e = c.val(doc.error)
  if type(e) == "table" then code, msg = code or c.val(e.code), msg or c.val(e.message)
  elseif type(e) == "string" then msg = msg or e end
  msg = msg or c.val(doc.error_msg)
  if code == nil and msg == nil then return nil end
  return tostring(code or ""), tostring(msg or "")
end

local function classify(code, msg, res)
  local kind = CODE_KIND[code] or "supplier"
  local extra = { code = code ~= "" and code or nil, status = res.status }
  if kind == "throttled" then extra.retry_after = c.retry_after(res) or 1 end
  return c.err(kind, "derbysoft: " .. code .. " " .. msg, extra)
end

-- POST one operation; returns the decoded answer or nil, typed error.
local function call(ctx, api, path, body)
  body.header = body_header(ctx)
  if ctx.config.iata and body.iata == nil then body.iata = ctx.config.iata end
  local res, err = c.http(ctx, {
    method = "POST",
    timeout_ms = tonumber(ctx.config.timeout_ms) or M.limits.timeout_ms,
    url = endpoint(ctx, api, path),
    headers = {
      -- "Bearer <key>" as on the ShoppingEngine/BTS pages; GO BookingUSB pages show the bare
      -- key -- UNVERIFIED which one BookingUSB needs; Bearer is what DerbySoft's gateway accepts
      -- on both in the captured traffic's docs [DS1][DS3].
      ["Authorization"] = "Bearer " .. tostring(ctx.config.token or ""),
      ["Content-Type"] = "application/json;charset=utf-8",
      ["Accept"] = "application/json",
      -- Accept-Encoding (gzip, deflate) is sent and inflated by hm.http itself
    },
    body = hm.json.encode(body),
  })
  if not res then return nil, err end
  if res.status == 429 or res.status == 401 or res.status == 403 then return nil, c.check_http(res) end
  local ok, doc = pcall(hm.json.decode, res.body or "")
  if ok and type(doc) == "table" then
    local code, msg = error_of(doc)
    if code then return nil, classify(code, msg, res) end
  end
  if res.status >= 300 then return nil, c.check_http(res) end
  if not ok or type(doc) ~= "table" then
    return nil, c.err("bad_response", "derbysoft: body is not JSON: " .. (res.body or ""):sub(1, 80))
  end
  return doc
end

---------------------------------------------------------------------------
-- request pieces

-- roomCriteria: one occupancy for all rooms; adultCount/childCount are PER ROOM
-- (supplier docs: "childCount are per room"). Uneven rooms: the largest room.
local function criteria(rooms)
  rooms = (rooms and #rooms > 0) and rooms or { { adults = 2 } }
  local adults, ages = 1, {}
  for _, r in ipairs(rooms) do
    adults = math.max(adults, r.adults or 2)
    if #(r.children or {}) > #ages then ages = r.children end
  end
  return { roomCount = #rooms, adultCount = adults, childCount = #ages,
           childAges = #ages > 0 and ages or nil }   -- cjson cannot encode an empty array
end

local function encode_key(t) return "ds1." .. hm.crypto.base64url_encode(hm.json.encode(t)) end

local function decode_key(key)
  local b = type(key) == "string" and key:match("^ds1%.(.+)$")
  local raw = b and hm.crypto.base64url_decode(b)
  local ok, t = pcall(hm.json.decode, raw or "")
  if not ok or type(t) ~= "table" or not t.h or not t.r or not t.p then return nil end
  return t
end

---------------------------------------------------------------------------
-- money pieces

local function m(x) return money.norm(c.val(x) or 0) or "0" end

local function sum(list, n)
  local t = "0"
  for i, v in ipairs(list) do
    if n and i > n then break end
    t = money.add(t, v)
  end
  return t
end

-- amountBeforeTax / amountAfterTax: arrays of per-night amounts (a bare number is tolerated).
local function amounts(x)
  x = c.val(x)
  if type(x) ~= "table" then return x ~= nil and { m(x) } or {} end
  local out = {}
  for i, v in ipairs(x) do out[i] = m(v) end
  return out
end

local BOARDS = {
  RO = "Room only", BB = "Bed and breakfast", HB = "Half board", FB = "Full board",
  AI = "All inclusive", CB = "Continental breakfast",
}

local function board_of(plan)
  plan = tostring(c.val(plan) or "RO"):upper()
  return { id = BOARDS[plan] and plan or "RO", name = BOARDS[plan] or plan }
end

local function tax_type(name)
  local n = tostring(name or ""):lower()
  if n:find("city") then return "CITY_TAX"
  elseif n:find("tourism") or n:find("dirham") then return "TOURISM_FEE"
  elseif n:find("vat") then return "VAT"
  elseif n:find("service") then return "SERVICE_CHARGE" end
  return "OTHER"
end

-- How many stay nights a fee's dateRange covers (inclusive dates), and their amountBeforeTax.
local function fee_nights(f, stay, before)
  local dr = c.val(f.dateRange) or {}
  local from, to = c.day(c.val(dr.startDate) or stay.check_in), c.day(c.val(dr.endDate) or stay.check_out)
  local ci, n, base = c.day(stay.check_in), 0, "0"
  for i = 0, stay.nights - 1 do
    if ci + i >= from and ci + i <= to then
      n = n + 1
      -- one element per night (UNVERIFIED, all captures are 1-night stays); else the total
      base = money.add(base, #before == stay.nights and before[i + 1] or "0")
    end
  end
  if #before ~= stay.nights then base = money.mul(sum(before), money.div(tostring(n), tostring(stay.nights))) end
  return n, base
end

-- One fee for all rooms, unrounded.
local function fee_amount(fee, n, base, stay)
  local amount, kind = m(fee.amount), tostring(c.val(fee.chargeType) or "PerRoomPerNight")
  local per_stay = kind:find("Stay") ~= nil
  local v
  if tostring(c.val(fee.amountType)) == "Percent" then
    v = money.mul(base, money.div(amount, "100"))          -- base already covers the nights
  else
    v = money.mul(amount, per_stay and (n > 0 and 1 or 0) or n)
  end
  if kind:find("Person") then v = money.mul(v, stay.adults) end
  return money.mul(v, stay.rooms)
end

-- Taxes of one rate. diff = after - before (all rooms): > 0 means the fees are inside
-- amountAfterTax (included); = 0 means they come on top, paid at the hotel.
-- Rounded fee amounts are nudged by cents so included fees add up to diff exactly.
local function taxes_of(rr, stay, before, after, cur)
  local diff = money.mul(money.sub(sum(after), sum(before)), stay.rooms)
  local included = money.cmp(diff, "0") > 0
  local out, raw = {}, {}
  for _, item in ipairs(c.val(rr.fees) or {}) do
    local fee = c.val(item.fee) or {}
    local n, base = fee_nights(item, stay, before)
    local v = fee_amount(fee, n, base, stay)
    raw[#raw + 1] = v
    out[#out + 1] = { type = tax_type(c.val(fee.name)), name = c.val(fee.name), amount = money.round(v, 2),
                      currency = cur, included = included, pay_at_hotel = not included }
  end
  if not included then return out end
  local rounded = {}
  for i, x in ipairs(out) do rounded[i] = x.amount end
  local residue = money.sub(diff, sum(rounded))
  if money.is_zero(residue) then return out end
  if money.cmp(money.mul(residue, residue), money.mul("0.0001", #out * #out)) <= 0 and #out > 0 then
    local step = money.cmp(residue, "0") > 0 and "0.01" or "-0.01"
    while not money.is_zero(residue) do
      -- the fee rounded furthest the other way absorbs one cent
      local best, bestv
      for i, x in ipairs(out) do
        local d = money.sub(raw[i], x.amount)
        if step == "-0.01" then d = money.sub("0", d) end
        if not bestv or money.cmp(d, bestv) > 0 then best, bestv = i, d end
      end
      out[best].amount = money.add(out[best].amount, step)
      residue = money.sub(residue, step)
    end
    return out
  end
  -- the listed fees do not explain the difference: report the difference itself
  return { { type = "OTHER", name = "Taxes and fees", amount = money.round(diff, 2), currency = cur,
             included = true, pay_at_hotel = false } }
end

---------------------------------------------------------------------------
-- cancellation: relative-to-arrival rules -> absolute {until, fee}

-- "+04:00" -> seconds; the hotel's offset (config hotel_utc_offsets[hotel] or hotel_utc_offset).
local function utc_offset(cfg, hotel)
  local s = (type(cfg.hotel_utc_offsets) == "table" and cfg.hotel_utc_offsets[hotel]) or cfg.hotel_utc_offset
  local sign, h, mi = tostring(s or "+00:00"):match("([+-]?)(%d%d?):?(%d%d)")
  if not sign then return 0 end
  local v = tonumber(h) * 3600 + tonumber(mi) * 60
  return sign == "-" and -v or v
end

-- "4PM" / "16:00" / "11:59 AM" -> "HH:MM"; nil when absent; false for "any date time".
local function clock(s)
  if s == nil then return nil end
  s = tostring(s):upper()
  local h, mi, ap = s:match("^%s*(%d%d?):?(%d?%d?)%s*([AP]M)%s*$")
  if h then
    h = tonumber(h) % 12 + (ap == "PM" and 12 or 0)
    return string.format("%02d:%02d", h, tonumber(mi ~= "" and mi or 0))
  end
  h, mi = s:match("^%s*(%d%d?):(%d%d)")
  if h then return string.format("%02d:%02d", tonumber(h), tonumber(mi)) end
  return false
end

-- Absolute UTC epoch of a cancelDeadline, or nil when the charge applies at any time.
-- No time of day: 00:00 hotel time of that day (the earliest reading). Hours count back
-- from 00:00 of the arrival day (check-in hour unknown).
local function deadline_epoch(dl, stay)
  local value = tonumber(c.val(dl.offsetTimeValue))
  local tod = clock(c.val(dl.deadline) or c.val(dl.dealineTime) or c.val(dl.deadlineTime))
  if not value or value >= 365 or tod == false then return nil end   -- 999 D / "any date time"
  local unit = tostring(c.val(dl.offsetTimeUnit) or "D"):upper()
  local local_t
  if unit == "H" then local_t = c.epoch(stay.check_in) - value * 3600
  elseif unit == "M" then local_t = c.epoch(stay.check_in) - value * 60
  else local_t = c.epoch(c.add_days(stay.check_in, -value), tod or "00:00") end
  if tostring(c.val(dl.offsetTimeDropType) or "BeforeArrival") == "AfterBooking" then return nil end
  return local_t - stay.offset
end

-- The penalty of one penaltyCharge for all rooms, capped at the price.
local function penalty(pc, net, nightly, stay)
  local base, v = tostring(c.val(pc.chargeBase) or "FullStay"), net
  if c.val(pc.percent) ~= nil then
    local of = net
    if base == "NightBase" and c.val(pc.nights) and #nightly > 0 then of = sum(nightly, tonumber(pc.nights)) end
    v = money.mul(of, money.div(m(pc.percent), "100"))
  elseif c.val(pc.nights) ~= nil then
    local n = tonumber(c.val(pc.nights)) or 1
    if #nightly > 0 then v = sum(nightly, n)
    else v = money.mul(net, money.div(tostring(n), tostring(stay.nights))) end
  elseif c.val(pc.amount) ~= nil then
    v = money.mul(m(pc.amount), stay.rooms)
  end
  v = money.round(v, 2)
  return money.cmp(v, net) > 0 and net or v
end

local function cancel_fees(policy, net, nightly, cur, stay)
  policy = c.val(policy)
  if type(policy) ~= "table" then return {} end       -- no policy: treat as non-refundable
  local tiers, always = {}, nil
  for _, p in ipairs(c.val(policy.cancelPenalties) or {}) do
    if c.val(p.noShow) ~= true then
      local fee = penalty(c.val(p.penaltyCharge) or {}, net, nightly, stay)
      local t = c.val(p.cancellable) ~= false and type(c.val(p.cancelDeadline)) == "table"
        and deadline_epoch(p.cancelDeadline, stay) or nil
      if t then tiers[#tiers + 1] = { t = t, fee = fee }
      elseif not always or money.cmp(fee, always) > 0 then always = fee end
    end
  end
  c.sort_by(tiers, "t")
  local out, prev = {}, always or "0.00"
  for _, tier in ipairs(tiers) do
    out[#out + 1] = { ["until"] = c.iso(tier.t), fee = { amount = prev, currency = cur } }
    if money.cmp(tier.fee, prev) > 0 then prev = tier.fee end
  end
  -- the last charge holds until the end of the arrival day; after that, no-show: the whole price
  local arrival_end = c.epoch(stay.check_in, "23:59:59") - stay.offset
  if money.cmp(prev, net) < 0 and (#tiers == 0 or tiers[#tiers].t < arrival_end) then
    out[#out + 1] = { ["until"] = c.iso(arrival_end), fee = { amount = prev, currency = cur } }
  end
  return out
end

local function fee_now(fees, net)
  local now = hm.time.now()
  for _, f in ipairs(fees) do
    if c.parse_time(f["until"]) >= now then return f.fee.amount end
  end
  return net
end

---------------------------------------------------------------------------
-- response mapping (GO v4 and BTS v1.2 answers have the same room-rate shape)

-- stay: { hotel, check_in, check_out, nights, rooms, adults, ages, offset, supplier }
local function map_rate(rr, stay)
  local cur = c.val(rr.currency)
  local crit = c.val(rr.roomCriteria)            -- multihotels repeats roomCriteria per rate
  if type(crit) == "table" and tonumber(crit.roomCount) then
    stay = setmetatable({ rooms = tonumber(crit.roomCount) }, { __index = stay })
  end
  local before, after = amounts(rr.amountBeforeTax), amounts(rr.amountAfterTax)
  local net = money.round(money.mul(sum(after), stay.rooms), 2)
  local nightly = {}
  if #after == stay.nights then
    for i, v in ipairs(after) do nightly[i] = money.round(money.mul(v, stay.rooms), 2) end
  end
  local cf = cancel_fees(rr.cancelPolicy, net, nightly, cur, stay)
  local policy = c.val(rr.cancelPolicy) or {}
  local room_id, rate_id = tostring(c.val(rr.roomId)), tostring(c.val(rr.rateId))
  local cfk = {}
  for i, f in ipairs(cf) do cfk[i] = { f["until"], f.fee.amount } end
  return {
    key = encode_key({ h = stay.hotel, s = stay.supplier, r = room_id, p = rate_id, ci = stay.check_in,
      co = stay.check_out, n = stay.rooms, a = stay.adults, c = stay.ages, cur = cur, net = net,
      b = before, t = after, mp = c.val(rr.mealPlan), cf = cfk }),
    rate_id = rate_id,
    board = board_of(rr.mealPlan),
    refundable = c.refundable_now(cf, net),
    cancel_fees = cf,
    price = { currency = cur, net = net, binding = false, taxes = taxes_of(rr, stay, before, after, cur) },
    allotment = tonumber(c.val(rr.inventory)),
    comment = c.val(policy.description),
    nightly = #nightly > 0 and nightly or nil,
  }
end

-- No names on the wire: DerbySoft ARI carries codes only (names come from its content feed).
local function map_hotel(hotel_id, room_rates, stay)
  local hotel, by_room = { id = hotel_id, rooms = {} }, {}
  for _, rr in ipairs(room_rates or {}) do
    local rid = tostring(c.val(rr.roomId))
    local room = by_room[rid]
    if not room then
      room = { id = rid, rates = {} }
      by_room[rid] = room
      hotel.rooms[#hotel.rooms + 1] = room
    end
    room.rates[#room.rates + 1] = map_rate(rr, stay)
  end
  return hotel
end

-- The stay the answer is about: its stayRange / roomCriteria win over the query's.
local function stay_of(ctx, q, doc, hotel)
  local sr, rc = c.val(doc.stayRange) or {}, c.val(doc.roomCriteria) or {}
  local ci, co = c.val(sr.checkin) or q.check_in, c.val(sr.checkout) or q.check_out
  local crit = criteria(q.rooms)
  return { hotel = hotel, supplier = q.supplier_id or ctx.config.supplier_id,
    check_in = ci, check_out = co, nights = c.nights(ci, co),
    rooms = tonumber(c.val(rc.roomCount)) or crit.roomCount, adults = tonumber(c.val(rc.adultCount)) or crit.adultCount,
    ages = crit.childAges, offset = utc_offset(ctx.config, hotel) }
end

---------------------------------------------------------------------------
-- operations

-- Hotels of a multihotels answer (availHotels[]) or of a single-hotel availability
-- answer (hotelId + roomRates[], BookingUSB / BTS).
local function hotels_of(ctx, q, doc)
  local out = {}
  if type(c.val(doc.availHotels)) == "table" then
    for _, ah in ipairs(doc.availHotels) do
      local id = tostring(c.val(ah.hotelId))
      local rates = c.val(ah.availRoomRates) or {}
      if #rates > 0 then
        local stay = stay_of(ctx, q, ah.stayRange and ah or doc, id)
        out[#out + 1] = map_hotel(id, rates, stay)
      end
    end
  elseif c.val(doc.hotelId) ~= nil then
    local id = tostring(c.val(doc.hotelId))
    local rates = c.val(doc.roomRates) or {}
    if #rates > 0 then out[1] = map_hotel(id, rates, stay_of(ctx, q, doc, id)) end
  else
    return nil, c.err("bad_response", "derbysoft: answer has neither availHotels nor roomRates")
  end
  return out
end

function M.search(ctx, q)
  local ids = q.hotel_ids or {}
  local hotels = {}
  for first = 1, #ids, MAX_HOTELS do
    local list = {}
    for i = first, math.min(first + MAX_HOTELS - 1, #ids) do
      list[#list + 1] = { supplierId = ctx.config.supplier_id, hotelId = tostring(ids[i]) }
    end
    local doc, err = call(ctx, "shopping", "/shopping/multihotels", {
      hotels = list, stayRange = { checkin = q.check_in, checkout = q.check_out }, roomCriteria = criteria(q.rooms),
    })
    if not doc then return nil, err end
    local found, herr = hotels_of(ctx, q, doc)
    if not found then return nil, herr end
    for _, h in ipairs(found) do hotels[#hotels + 1] = h end
  end
  return { hotels = hotels }
end

local function stay_body(k)
  return { hotelId = k.h, stayRange = { checkin = k.ci, checkout = k.co },
    roomCriteria = { roomCount = k.n, adultCount = k.a, childCount = #(k.c or {}),
                     childAges = #(k.c or {}) > 0 and k.c or nil } }
end

local function query_of(k)
  local rooms = {}
  for i = 1, k.n do rooms[i] = { adults = k.a, children = k.c } end
  return { check_in = k.ci, check_out = k.co, rooms = rooms, supplier_id = k.s }
end

-- Live check (BookingUSB /availability with productCandidate): the rate is sold out when
-- DerbySoft answers NoAllotment / RoomRateNotAvailable, leaves the product out, or has
-- fewer rooms than asked; price_changed when amountAfterTax moved.
function M.check_avail(ctx, rate)
  local k = decode_key(rate.key)
  if not k then return nil, c.err("bad_request", "derbysoft: not a derbysoft rate key") end
  local body = stay_body(k)
  body.productCandidate = { roomId = k.r, rateId = k.p }
  local sold_out = { status = "sold_out", hotel = { id = k.h }, room = { id = k.r } }
  local doc, err = call(ctx, "booking", "/availability", body)
  if not doc then
    if SOLD_OUT[err.code] then return sold_out end
    return nil, err
  end
  local found
  for _, rr in ipairs(c.val(doc.roomRates) or {}) do
    if tostring(c.val(rr.roomId)) == k.r and tostring(c.val(rr.rateId)) == k.p then found = rr end
  end
  if not found or (tonumber(c.val(found.inventory)) or k.n) < k.n then return sold_out end
  local fresh = map_rate(found, stay_of(ctx, query_of(k), doc, k.h))
  local expected = (rate.price and rate.price.net) or k.net
  local status = "available"
  if expected and money.cmp(money.norm(expected) or "0", fresh.price.net) ~= 0 then status = "price_changed" end
  return { status = status, rate = fresh, hotel = { id = k.h }, room = { id = k.r } }
end

-- Prebook/book request body: UNVERIFIED beyond header, reservationIds.distributorResId,
-- hotelId, stayRange, roomCriteria (GO Book page [DS2][DS4]); the rest follows the answer
-- shapes (roomRates[] as in live check, total{amountBeforeTax, amountAfterTax}).
local function numbers(list)
  local t = {}
  for i, v in ipairs(list or {}) do t[i] = tonumber(v) end
  return t
end

local function book_body(order, k)
  local b = stay_body(k)
  b.reservationIds = { distributorResId = order.customer_ref or "" }
  b.roomRates = { { roomId = k.r, rateId = k.p, currency = k.cur, mealPlan = k.mp,
                    amountBeforeTax = numbers(k.b), amountAfterTax = numbers(k.t) } }
  local before = money.round(money.mul(sum(k.b or {}), k.n), 2)
  b.total = { amountBeforeTax = tonumber(before), amountAfterTax = tonumber(k.net) }
  local h = order.holder or {}
  b.contactPerson = { firstName = h.first_name, lastName = h.last_name, email = h.email, phone = h.phone }
  local guests = {}
  for _, g in ipairs(order.guests or {}) do
    guests[#guests + 1] = { firstName = g.first_name, lastName = g.last_name, index = g.room_index or 1,
                            type = g.is_child and "Child" or "Adult", age = g.is_child and g.age or nil }
  end
  if #guests == 0 then guests[1] = { firstName = h.first_name, lastName = h.last_name, index = 1, type = "Adult" } end
  b.guests = guests
  if order.remarks then b.comments = { order.remarks } end
  return b
end

local function fees_from_key(k)
  local out = {}
  for i, f in ipairs(k.cf or {}) do out[i] = { ["until"] = f[1], fee = { amount = f[2], currency = k.cur } } end
  return out
end

local STATUS = { Confirmed = "confirmed", Cancelled = "cancelled", Canceled = "cancelled",
                 Pending = "pending", Failed = "failed" }

-- reservation/detail: the first reservation, {} when DerbySoft knows none, nil, err on failure.
-- A body without "reservations" at all yields false (not a detail answer).
local function detail(ctx, order)
  if not order.customer_ref and not order.supplier_ref then
    return nil, c.err("bad_request", "derbysoft: need customer_ref or supplier_ref")
  end
  local doc, err = call(ctx, "booking", "/reservation/detail", { reservationIds = {
    distributorResId = order.customer_ref or "", derbyResId = order.supplier_ref } })
  if not doc then
    if err.kind == "not_found" then return {} end
    return nil, err
  end
  local list = c.val(doc.reservations)
  if type(list) ~= "table" then return false end
  return list[1] or {}
end

local function order_of(r)
  if not r.reservationIds then return { status = "not_found" } end
  local ids, total = c.val(r.reservationIds) or {}, c.val(r.total) or {}
  local rr = (c.val(r.roomRates) or {})[1] or {}
  local st = STATUS[tostring(c.val(r.status))] or "pending"
  if c.val(r.result) == "Failed" then st = "failed" end
  return { status = st, supplier_ref = c.val(ids.derbyResId), hotel_confirm_no = c.val(ids.supplierResId),
    customer_ref = c.val(ids.distributorResId), cancellation_id = c.val(r.cancellationId),
    price = total.amountAfterTax ~= nil and { currency = c.val(rr.currency), net = money.round(m(total.amountAfterTax), 2) } or nil }
end

function M.book(ctx, order)
  local k = decode_key(order.key)
  if not k then return nil, c.err("bad_request", "derbysoft: not a derbysoft rate key") end
  local expected = type(order.price) == "table" and order.price.net or order.price
  if expected and money.cmp(money.norm(expected) or k.net, k.net) ~= 0 then
    return { status = "failed", reason = "price_changed", price = { currency = k.cur, net = k.net } }
  end
  local body = book_body(order, k)
  -- prebook: DerbySoft's mandatory final check before book [DS4]; answer body not used
  local ok, err = call(ctx, "booking", "/reservation/prebook", body)
  if ok then ok, err = call(ctx, "booking", "/reservation/book", book_body(order, k)) end
  if not ok then
    if SOLD_OUT[err.code] then return { status = "failed", reason = "sold_out" } end
    if err.kind == "duplicate" and order.customer_ref then    -- this distributorResId exists: that booking
      local r = detail(ctx, { customer_ref = order.customer_ref })
      if r and r.reservationIds then return order_of(r) end
    end
    return nil, err
  end
  local ids = c.val(ok.reservationIds)
  if type(ids) ~= "table" or not c.val(ids.derbyResId) then
    return nil, c.err("bad_response", "derbysoft: book answer without reservationIds.derbyResId")
  end
  -- a book answer is an instant confirmation (no status field on the wire)
  return { status = "confirmed", supplier_ref = c.val(ids.derbyResId), hotel_confirm_no = c.val(ids.supplierResId),
           customer_ref = c.val(ids.distributorResId), price = { currency = k.cur, net = k.net },
           cancel_fees = fees_from_key(k) }
end

function M.query_order(ctx, order)
  local r, err = detail(ctx, order)
  if not r then
    if r == false then return nil, c.err("bad_response", "derbysoft: detail answer without reservations") end
    return nil, err
  end
  return order_of(r)
end

-- The cancellation fee from a detail answer's policy, as it applies now.
local function fee_of(ctx, r)
  local rr = (c.val(r.roomRates) or {})[1]
  local sr, rc, total = c.val(r.stayRange) or {}, c.val(r.roomCriteria) or {}, c.val(r.total) or {}
  if not rr or not sr.checkin or total.amountAfterTax == nil then return nil end
  local hotel = tostring(c.val(r.hotelId))
  local stay = { hotel = hotel, check_in = sr.checkin, check_out = sr.checkout, nights = c.nights(sr.checkin, sr.checkout),
    rooms = tonumber(c.val(rc.roomCount)) or 1, adults = tonumber(c.val(rc.adultCount)) or 2,
    offset = utc_offset(ctx.config, hotel) }
  local net = money.round(m(total.amountAfterTax), 2)
  local nightly, after = {}, amounts(rr.amountAfterTax)
  if #after == stay.nights then
    for i, v in ipairs(after) do nightly[i] = money.round(money.mul(v, stay.rooms), 2) end
  end
  return { amount = fee_now(cancel_fees(rr.cancelPolicy, net, nightly, c.val(rr.currency), stay), net),
           currency = c.val(rr.currency) }
end

-- Cancel: detail first (full reservationIds -- multi-room cancels need derbyResId and
-- supplierResId [DS2] -- current status, and the policy to price the cancellation: the
-- cancel answer carries no fee), then reservation/cancel.
function M.cancel(ctx, order)
  local r, err = detail(ctx, order)
  if r == nil then return nil, err end
  if r ~= false and not r.reservationIds then
    return nil, c.err("not_found", "derbysoft: no reservation " .. tostring(order.customer_ref or order.supplier_ref))
  end
  r = r or {}                                  -- false: no usable detail, cancel with what we have
  local ids = c.val(r.reservationIds)
  local fee = r.reservationIds and fee_of(ctx, r) or nil
  if type(ids) ~= "table" then
    ids = { distributorResId = order.customer_ref or "", derbyResId = order.supplier_ref,
            supplierResId = order.hotel_confirm_no }
  end
  if r.reservationIds and STATUS[tostring(c.val(r.status))] == "cancelled" then
    return { status = "cancelled", supplier_ref = c.val(ids.derbyResId), cancellation_id = c.val(r.cancellationId),
             fee = fee, already = true }
  end
  local doc
  doc, err = call(ctx, "booking", "/reservation/cancel", { reservationIds = ids })
  if not doc then return nil, err end
  if not c.val(doc.cancellationId) then
    return nil, c.err("bad_response", "derbysoft: cancel answer without cancellationId")
  end
  return { status = "cancelled", supplier_ref = c.val(ids.derbyResId), cancellation_id = tostring(c.val(doc.cancellationId)),
           fee = fee }
end

return M
