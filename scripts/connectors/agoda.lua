-- connectors/agoda.lua -- Agoda Demand (affiliate) JSON APIs: Search, Precheck,
-- Book, Booking Details, Cancel (preview + confirm).
--
-- Sources: shared/SUPPLIERS.md §3 and shared/fixtures/agoda/ (docs examples only,
-- no real traffic). What is documented [AG1..AG5]:
--   * auth: header `Authorization: <siteId>:<apiKey>` on every request, JSON bodies;
--   * the Search request body (docs_search_request.json) and its criteria fields;
--   * Precheck answers by status code: 200 OK, 501 price changed, 502/503 room
--     unavailable (stop); anything else (timeouts, other errors) -> go on and book;
--   * Book answers the booking id and `processing` (true = still being processed);
--   * Booking Details request {"bookingIds": [...]} (max 40); statuses
--     BookingConfirmed / BookingCharged;
--   * Cancel preview request {"bookingId": n} -> cancellationSummary{bookingId,
--     reference, cancellationPolicy[], paymentRate[], refundRate[]}; then Confirm
--     Cancel with the reference and the refund amount.
--   * Affiliate Lite (meta-search, not bookable): POST .../affiliateservice/lt_v1,
--     criteria{checkInDate, checkOutDate, hotelId[], additional{...}} ->
--     results[{hotelId, hotelName, dailyRate, crossedOutRate, currency, includeBreakfast}].
-- UNVERIFIED (SUPPLIERS.md §8: hosts/paths and most response schemas are issued to
-- partners only) -- the documented-most-likely forms chosen here are marked
-- "UNVERIFIED" where they are used: endpoint paths (PATHS), the Search response
-- (properties[].rooms[] offers with blockId, rate/totalPayment{inclusive, exclusive,
-- tax, fees}, surcharges[], cancellationPolicy.date[] in ICT), the Precheck/Book/
-- Booking Details/Confirm Cancel bodies, the error body and the throttle signal.
--
-- Config (config.suppliers.agoda): base_url, site_id, api_key, optional language
-- ("en-us"), user_country (fallback for q.nationality), wait_time (s), paths = {...}
-- to override PATHS, product = "lite" to search the Affiliate Lite API instead.
local c = require("lib.connector")

local M = {
  id = "agoda",
  -- query_by_customer_ref = false: Booking Details takes Agoda booking ids only
  -- (see query_order for an order whose book answer was lost)
  features = { webhooks = true, content = false, query_by_customer_ref = false },   -- webhook(): lib/webhook.lua
  limits = { timeout_ms = 300, qps = 50 },
}

local val = c.val
local function money(x) return hm.money.norm(x) end

-- UNVERIFIED: the Demand API paths are not public; these follow the V4 request
-- schema names in the docs (BookingDetailRequestV4, CancellationRequestV4).
-- The Lite path is documented [AG6].
M.PATHS = {
  search = "/api/v4/property/availability",
  precheck = "/api/v4/prebooking/precheck",
  book = "/api/v4/booking/book",
  details = "/api/v4/booking/details",
  cancel = "/api/v4/postBooking/cancel",
  confirm_cancel = "/api/v4/postBooking/confirmCancel",
  lite = "/affiliateservice/lt_v1",
}

---------------------------------------------------------------------------
-- Transport: URL, auth header, error mapping
---------------------------------------------------------------------------

local function url(ctx, op)
  local base = tostring(ctx.config.base_url or ""):gsub("/+$", "")
  -- "/sim/agoda" means this server (demo config)
  if base:sub(1, 1) == "/" and hm.self_url then
    local ok, self = pcall(hm.self_url)
    if ok then base = self .. base end
  end
  local paths = ctx.config.paths or {}
  return base .. (paths[op] or M.PATHS[op])
end

-- The whole credential is "siteId:apiKey", sent verbatim (no scheme word).
function M.auth_header(cfg)
  return tostring(cfg.site_id or "") .. ":" .. tostring(cfg.api_key or "")
end

local function headers(ctx)
  return {
    ["Authorization"] = M.auth_header(ctx.config),
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
    -- Accept-Encoding gzip,deflate (documented for Lite) is offered and decoded by curl.
  }
end

-- The error text of a body, tolerant of the shapes seen in docs of both products.
-- UNVERIFIED: {"error": {"id", "message"}}; also {"errors": [{code, message}]} and {"message"}.
local function error_text(res)
  local ok, doc = pcall(hm.json.decode, res.body or "")
  if not ok or type(doc) ~= "table" then return (res.body or ""):sub(1, 200), nil end
  local e = val(doc.error)
  if type(e) ~= "table" then
    local list = val(doc.errors)
    e = type(list) == "table" and list[1] or doc
  end
  if type(e) ~= "table" then return tostring(e), nil end
  return tostring(val(e.message) or val(e.description) or ""), val(e.id) or val(e.code)
end

-- HTTP answer -> nil (2xx) or typed error. Agoda signals:
--   401 bad siteId/apiKey; 403 quota/limit exceeded (documented for Lite: "403 quota")
--   -> throttled; 429 -> throttled too (generic). 501/502/503 carry precheck meaning;
--   callers that care look at err.status before this generic mapping.
local function http_error(res)
  local s = res.status
  if s >= 200 and s < 300 then return nil end
  local msg, code = error_text(res)
  local extra = { status = s, code = code, retry_after = c.retry_after(res) }
  if s == 429 or (s == 403 and (msg:lower():find("quota") or msg:lower():find("limit"))) then
    extra.retry_after = extra.retry_after or 1
    return c.err("throttled", "agoda throttled: HTTP " .. s .. " " .. msg, extra)
  end
  if s == 401 or s == 403 then
    return c.err("auth", "agoda refused credentials: HTTP " .. s .. " " .. msg, extra)
  end
  local e = c.check_http(res)
  e.message = "agoda: HTTP " .. s .. " " .. msg
  e.code = code
  return e
end

-- One POST: the decoded JSON document, or nil + typed error (err.status kept).
local function call(ctx, op, payload)
  local res, err = c.http(ctx, { method = "POST", url = url(ctx, op), headers = headers(ctx),
                                 body = hm.json.encode(payload) })
  if not res then return nil, err end
  local herr = http_error(res)
  if herr then return nil, herr end
  if res.status == 204 then return {} end          -- Lite: 204 = no result
  local doc, jerr = c.json(res)
  if not doc then jerr.status = res.status; return nil, jerr end
  return doc
end

---------------------------------------------------------------------------
-- Rate key: everything precheck and book need, opaque to the core
---------------------------------------------------------------------------

local KEY_PREFIX = "AG1."

function M.make_key(t) return KEY_PREFIX .. hm.crypto.base64url_encode(hm.json.encode(t)) end

function M.parse_key(key)
  if type(key) ~= "string" or key:sub(1, #KEY_PREFIX) ~= KEY_PREFIX then return nil end
  local raw = hm.crypto.base64url_decode(key:sub(#KEY_PREFIX + 1))
  if not raw then return nil end
  local ok, t = pcall(hm.json.decode, raw)
  if not ok or type(t) ~= "table" then return nil end
  return t
end

---------------------------------------------------------------------------
-- Mapping to the unified model
---------------------------------------------------------------------------

-- Agoda lists meals as benefits (e.g. "Breakfast", "Dinner"); no board code on the wire.
local function board_of(benefits, breakfast_flag)
  local names = {}
  for _, b in ipairs(type(benefits) == "table" and benefits or {}) do
    names[#names + 1] = tostring(val(b.benefitName) or val(b.name) or ""):lower()
  end
  local all = table.concat(names, "|")
  if all:find("all inclusive", 1, true) then return { id = "AI", name = "All inclusive" } end
  if all:find("full board", 1, true) then return { id = "FB", name = "Full board" } end
  if all:find("half board", 1, true) or (all:find("breakfast", 1, true) and all:find("dinner", 1, true)) then
    return { id = "HB", name = "Half board" }
  end
  if all:find("breakfast", 1, true) or breakfast_flag == true then return { id = "BB", name = "Bed and breakfast" } end
  return { id = "RO", name = "Room only" }
end

local function tax_type(name)
  local s = tostring(name or ""):lower()
  if s:find("dirham") or s:find("touris") then return "TOURISM_FEE"
  elseif s:find("city") then return "CITY_TAX"
  elseif s:find("vat") then return "VAT"
  elseif s:find("service") then return "SERVICE_CHARGE" end
  return "OTHER"
end

-- Taxes: totalPayment{tax, fees} are inside `inclusive` (included, paid to Agoda);
-- surcharges[] with charge "Excluded" are collected by the hotel (e.g. Dubai's
-- Tourism Dirham); "Mandatory"/"Included" ones are inside the price. UNVERIFIED shape.
local function map_taxes(total, surcharges, currency)
  local out = {}
  local tax, fees = val(total.tax), val(total.fees)
  if tax and not hm.money.is_zero(money(tax)) then
    out[#out + 1] = { type = "OTHER", name = "Taxes", amount = money(tax), currency = currency,
                      included = true, pay_at_hotel = false }
  end
  if fees and not hm.money.is_zero(money(fees)) then
    out[#out + 1] = { type = "SERVICE_CHARGE", name = "Fees", amount = money(fees), currency = currency,
                      included = true, pay_at_hotel = false }
  end
  for _, s in ipairs(type(surcharges) == "table" and surcharges or {}) do
    local rate = val(s.rate) or {}
    local excluded = tostring(val(s.charge) or ""):lower() == "excluded"
    out[#out + 1] = { type = tax_type(val(s.name)), name = val(s.name) or "Surcharge",
                      amount = money(val(rate.inclusive) or 0), currency = val(rate.currency) or currency,
                      included = not excluded, pay_at_hotel = excluded }
  end
  return #out > 0 and out or nil
end

-- cancellationPolicy.date[] (UNVERIFIED): {before = T, rate{inclusive}} = cancelling
-- before T costs that; {onOrAfter = T, rate} = from T on. Times carry Agoda's ICT
-- offset (+07:00), converted to UTC here. Unified: "at/before `until` costs `fee`;
-- after the last until the whole price is due".
local function cancel_fees(policy, net, currency, check_in)
  local dates = type(policy) == "table" and val(policy.date) or nil
  if type(dates) ~= "table" then return nil end
  local out, last_fee, last_t = {}, nil, nil
  for _, d in ipairs(dates) do
    local fee = money(val((val(d.rate) or {}).inclusive) or 0)
    local before = c.parse_time(val(d.before))
    local after = c.parse_time(val(d.onOrAfter))
    if before then
      out[#out + 1] = { ["until"] = c.iso(before - 1), fee = { amount = fee, currency = currency } }
    elseif after then
      last_fee, last_t = fee, after
    end
  end
  -- an "on or after" step cheaper than the whole stay holds until arrival (12:00 UTC,
  -- as docs/connectors.md's example; Agoda gives no arrival time)
  if last_fee and net and hm.money.cmp(last_fee, net) < 0 and check_in then
    local arrival = c.epoch(check_in, "12:00:00")
    if arrival > last_t then
      out[#out + 1] = { ["until"] = c.iso(arrival), fee = { amount = last_fee, currency = currency } }
    end
  end
  c.sort_by(out, "until")
  return #out > 0 and out or nil
end

local function refundable(policy, fees, net)
  if type(policy) == "table" and tostring(val(policy.code) or ""):upper():find("NONREF") then return "no" end
  if not fees then return "no" end
  local first = fees[1].fee.amount
  if hm.money.is_zero(first) then return "full" end
  if net and hm.money.cmp(first, net) >= 0 then return "no" end
  return "partial"
end

-- One Agoda offer (a "room" entry with a blockId) -> unified rate.
-- totalPayment is for all rooms and nights; `rate` is per room per night.
local function map_offer(o, stay, search_id, property_id)
  local total = val(o.totalPayment) or {}
  local currency = val(o.currency) or val(total.currency) or stay.currency
  local net = money(val(total.inclusive) or 0)
  local policy = val(o.cancellationPolicy)
  local fees = cancel_fees(policy, net, currency, stay.check_in)
  local nightly
  if type(val(o.dailyRate)) == "table" then
    nightly = {}
    for i, d in ipairs(o.dailyRate) do nightly[i] = money(val(d.inclusive) or 0) end
  end
  local key = M.make_key({ s = search_id, p = tostring(property_id), r = tostring(val(o.roomId)),
    b = val(o.blockId), i = net, c = currency, ci = stay.check_in, co = stay.check_out,
    n = stay.rooms, a = stay.adults, k = stay.ages })
  return {
    key = key,
    board = board_of(val(o.benefits)),
    refundable = refundable(policy, fees, net),
    cancel_fees = fees,
    price = { currency = currency, net = net, binding = false,
              taxes = map_taxes(total, val(o.surcharges), currency) },
    allotment = tonumber(val(o.remainingRooms)),
    comment = type(policy) == "table" and val(policy.translatedCancellationText) or nil,
    nightly = nightly,
    block_id = val(o.blockId),
  }
end

-- properties[{propertyId, propertyName, rooms[offer]}]: offers are grouped by roomId.
local function map_property(p, stay, search_id)
  local out = { id = tostring(val(p.propertyId)), name = val(p.propertyName), rooms = {} }
  local by_room = {}
  for _, o in ipairs(val(p.rooms) or {}) do
    local rid = tostring(val(o.roomId))
    local room = by_room[rid]
    if not room then
      room = { id = rid, name = val(o.roomName), rates = {} }
      by_room[rid] = room
      out.rooms[#out.rooms + 1] = room
    end
    room.rates[#room.rates + 1] = map_offer(o, stay, search_id, out.id)
  end
  return out
end

-- Affiliate Lite results[]: one cheapest price per hotel, not bookable. dailyRate
-- is per room per night (UNVERIFIED: the PDF transcription does not say whether it is
-- for all rooms); net = dailyRate x nights x rooms.
local function map_lite(doc, stay)
  local out = { hotels = {} }
  for _, r in ipairs(val(doc.results) or {}) do
    local daily = money(val(r.dailyRate) or 0)
    local net = hm.money.round(hm.money.mul(hm.money.mul(daily, tostring(stay.nights)), tostring(stay.rooms)), 2)
    local currency = val(r.currency) or stay.currency
    local nightly = {}
    for i = 1, stay.nights do nightly[i] = daily end
    local id = tostring(val(r.hotelId))
    out.hotels[#out.hotels + 1] = { id = id, name = val(r.hotelName), landing_url = val(r.landingURL), rooms = { {
      id = "LITE", name = "Best available room",
      rates = { {
        key = M.make_key({ lite = true, p = id, i = net, c = currency, ci = stay.check_in, co = stay.check_out }),
        bookable = false,               -- meta-search price: book on agoda.com via landingURL
        board = board_of(nil, val(r.includeBreakfast)),
        refundable = nil,
        price = { currency = currency, net = net, binding = false,
                  crossed_out = val(r.crossedOutRate) and money(r.crossedOutRate) or nil },
        nightly = nightly,
      } } } } }
  end
  return out
end

---------------------------------------------------------------------------
-- search
---------------------------------------------------------------------------

local function stay_of(q)
  local adults, ages = 0, {}
  local rooms = q.rooms or { { adults = 2 } }
  for _, r in ipairs(rooms) do
    adults = adults + (tonumber(r.adults) or 2)
    for _, a in ipairs(r.children or {}) do ages[#ages + 1] = tonumber(a) end
  end
  return { check_in = q.check_in, check_out = q.check_out,
           nights = q.nights or c.nights(q.check_in, q.check_out), rooms = #rooms,
           adults = adults, ages = ages, currency = q.currency or "USD" }
end

local function ids(list)
  local out = {}
  for _, id in ipairs(list or {}) do out[#out + 1] = tonumber(id) or id end
  return out
end

-- Agoda prices one occupancy per search: rooms x (adults, children) in totals,
-- as the docs example (rooms 1, adults 2, children 2, childrenAges [5,6]).
function M.search_body(ctx, q, stay)
  local cfg = ctx.config
  local body = {
    waitTime = tonumber(cfg.wait_time) or 60,
    criteria = {
      propertyIds = ids(q.hotel_ids),
      checkIn = q.check_in, checkOut = q.check_out,
      rooms = stay.rooms, adults = stay.adults, children = #stay.ages,
      childrenAges = #stay.ages > 0 and stay.ages or nil,
      language = cfg.language or "en-us",
      currency = stay.currency,
      userCountry = q.nationality or q.residency or cfg.user_country or "US",
    },
    features = {
      ratesPerProperty = tonumber(cfg.rates_per_property) or 25,
      extra = { "content", "surchargeDetail", "CancellationDetail", "BenefitDetail", "dailyRate",
                "taxDetail", "rateDetail", "promotionDetail" },
    },
  }
  return body
end

function M.lite_body(ctx, q, stay)
  return { criteria = {
    additional = { currency = stay.currency, discountOnly = false, language = ctx.config.language or "en-us",
                   occupancy = { numberOfAdult = stay.adults, numberOfChildren = #stay.ages,
                                 childrenAges = #stay.ages > 0 and stay.ages or nil } },
    checkInDate = q.check_in, checkOutDate = q.check_out, hotelId = ids(q.hotel_ids) } }
end

function M.search(ctx, q)
  local stay = stay_of(q)
  if ctx.config.product == "lite" then
    local doc, err = call(ctx, "lite", M.lite_body(ctx, q, stay))
    if not doc then return nil, err end
    return map_lite(doc, stay)
  end
  local doc, err = call(ctx, "search", M.search_body(ctx, q, stay))
  if not doc then return nil, err end
  if val(doc.results) and not val(doc.properties) then return map_lite(doc, stay) end
  local props = val(doc.properties)
  if props ~= nil and type(props) ~= "table" then
    return nil, c.err("bad_response", "agoda: properties is not a list")
  end
  local out = { hotels = {} }
  local search_id = val(doc.searchId)
  for _, p in ipairs(props or {}) do out.hotels[#out.hotels + 1] = map_property(p, stay, search_id) end
  return out
end

---------------------------------------------------------------------------
-- check_avail (Precheck)
---------------------------------------------------------------------------

-- The room lines of precheck and book (UNVERIFIED layout; blockId + the rate we saw).
local function room_line(k, inclusive)
  return { roomId = tonumber(k.r) or k.r, blockId = k.b, count = k.n, adults = k.a,
           children = #(k.k or {}), childrenAges = #(k.k or {}) > 0 and k.k or nil,
           rate = { currency = k.c, inclusive = tonumber(inclusive) } }
end

function M.precheck_body(ctx, k, inclusive)
  return { precheckDetails = {
    searchId = k.s, checkIn = k.ci, checkOut = k.co,
    language = ctx.config.language or "en-us", userCountry = ctx.config.user_country or "US",
    property = { propertyId = tonumber(k.p) or k.p, rooms = { room_line(k, inclusive) } } } }
end

local function expected_net(rate)
  local p = rate.price
  if type(p) == "table" then return p.net end
  return p
end

-- Precheck statuses are the answer [AG2]: 200 available, 501 price changed,
-- 502/503 room gone. Other failures are "go on and book" per the docs, but the
-- core asked for a live check, so they are returned as typed errors.
function M.check_avail(ctx, rate)
  local k = M.parse_key(rate.key)
  if not k or k.lite then return nil, c.err("bad_request", "agoda: not a bookable Agoda rate key") end
  local inclusive = expected_net(rate) or k.i
  local doc, err = call(ctx, "precheck", M.precheck_body(ctx, k, money(inclusive)))
  local hotel = { id = k.p, name = nil }
  local room = { id = k.r }
  if not doc then
    if err.status == 501 then return { status = "price_changed", reason = err.message, hotel = hotel, room = room } end
    if err.status == 502 or err.status == 503 then
      return { status = "sold_out", reason = err.message, hotel = hotel, room = room }
    end
    return nil, err
  end
  -- A 200 may echo the offer (UNVERIFIED); use it as the fresh rate when it does.
  local stay = { check_in = k.ci, check_out = k.co, rooms = k.n, adults = k.a, ages = k.k or {}, currency = k.c }
  local p = val(doc.property) or (val(doc.properties) or {})[1]
  if type(p) == "table" then
    local h = map_property(p, stay, val(doc.searchId) or k.s)
    hotel.name = h.name
    for _, r in ipairs(h.rooms) do
      for _, fresh in ipairs(r.rates) do
        if fresh.block_id == k.b then
          local status = "available"
          if fresh.allotment and fresh.allotment < (k.n or 1) then status = "sold_out"
          elseif hm.money.cmp(fresh.price.net, money(inclusive)) ~= 0 then status = "price_changed" end
          return { status = status, rate = fresh, hotel = hotel, room = { id = r.id, name = r.name } }
        end
      end
    end
  end
  local same = type(rate.price) == "table" and rate or { key = rate.key, price = { currency = k.c, net = money(k.i) } }
  return { status = "available", rate = same, hotel = hotel, room = room }
end

---------------------------------------------------------------------------
-- book / query_order / cancel
---------------------------------------------------------------------------

local function guest_details(order, k)
  local out = {}
  local holder = order.holder or {}
  for _, g in ipairs(order.guests or {}) do
    out[#out + 1] = { firstName = g.first_name, lastName = g.last_name, age = tonumber(g.age),
                      isChild = g.is_child == true, roomIndex = tonumber(g.room_index) or 1,
                      primary = #out == 0 }
  end
  if #out == 0 then
    out[1] = { firstName = holder.first_name, lastName = holder.last_name, isChild = false,
               roomIndex = 1, primary = true }
  end
  return out
end

-- UNVERIFIED body layout beyond the documented ideas: `tag` is the partner's own
-- reference (our customer_ref), allowDuplication=false so a retried book with the
-- same tag does not make a second booking. No paymentDetails: the account is
-- assumed to be on agency (invoice) payment.
function M.book_body(ctx, order, k)
  local holder = order.holder or {}
  local line = room_line(k, money(expected_net(order) or k.i))
  line.guestDetails = guest_details(order, k)
  line.specialRequest = order.remarks
  return {
    bookingDetails = {
      searchId = k.s, tag = order.customer_ref, allowDuplication = false,
      checkIn = k.ci, checkOut = k.co, language = ctx.config.language or "en-us",
      userCountry = ctx.config.user_country or "US",
      property = { propertyId = tonumber(k.p) or k.p, rooms = { line } },
    },
    customerDetail = { firstName = holder.first_name, lastName = holder.last_name, email = holder.email,
                       phone = holder.phone and { number = tostring(holder.phone) } or nil,
                       language = ctx.config.language or "en-us", newsletter = false },
  }
end

-- The booking in a Book answer: { status, supplier_ref, itinerary_id } or nil, err.
local function booked(doc)
  local d = val(doc.bookingDetails)
  if type(d) == "table" and d[1] then d = d[1] end
  if type(d) ~= "table" or val(d.id) == nil then
    return nil, c.err("bad_response", "agoda: book answer without bookingDetails.id")
  end
  -- processing=true: accepted but not confirmed yet; poll Booking Details [AG2]
  return { status = val(d.processing) == true and "pending" or "confirmed", supplier_ref = tostring(val(d.id)),
           itinerary_id = val(d.itineraryId) and tostring(d.itineraryId) or nil }
end

function M.book(ctx, order)
  local k = M.parse_key(order.key)
  if not k or k.lite then return nil, c.err("bad_request", "agoda: not a bookable Agoda rate key") end
  local doc, err = call(ctx, "book", M.book_body(ctx, order, k))
  if not doc then
    -- "if the book response returns an error, the booking failed" [AG2] -- but only a
    -- business refusal is a definite no; throttling/auth/5xx-outage/timeouts stay
    -- typed errors (the booking may or may not exist).
    local s = err.status
    if s == 501 or s == 502 or s == 503 or err.kind == "bad_request" or err.kind == "duplicate" then
      return { status = "failed", reason = err.message,
               signal = s == 501 and "price_changed" or ((s == 502 or s == 503) and "sold_out" or nil) }
    end
    return nil, err
  end
  local b, berr = booked(doc)
  if not b then return nil, berr end
  b.price = { currency = k.c, net = money(expected_net(order) or k.i) }
  return b
end

-- Booking Details statuses: BookingConfirmed / BookingCharged documented [AG5]; the
-- others are UNVERIFIED and matched loosely.
local function order_status(s)
  s = tostring(s or ""):lower()
  if s == "bookingconfirmed" or s == "bookingcharged" or s == "confirmed" then return "confirmed" end
  if s:find("cancel") then return "cancelled" end
  if s:find("reject") or s:find("fail") then return "failed" end
  return "pending"
end

-- An order without its Agoda booking id: the Book answer never arrived (timeout,
-- 5xx, garbage, the gateway killed mid-call). Booking Details is by booking id
-- only and no lookup by `tag` is documented, so the caller may set
-- order.replay_book (trade.lua: once the first call cannot be in flight any
-- more) and the identical Book request is sent again: with allowDuplication=false
-- it answers the booking already made under this tag (UNVERIFIED: the docs
-- name the flag, not its answer; the simulator answers the existing booking).
-- A business refusal (price changed, sold out, bad request) means Agoda holds
-- no booking under this tag. If the first call never reached Agoda, the replay
-- books it now, for the price and guests of the original request: the order
-- was Confirming, never Failed, so it becomes what the client asked for.
local function replay_book(ctx, order)
  local k = M.parse_key(order.key)
  if not k or k.lite then return nil, c.err("bad_request", "agoda: not a bookable Agoda rate key") end
  local doc, err = call(ctx, "book", M.book_body(ctx, order, k))
  if not doc then
    local s = err.status
    if s == 501 or s == 502 or s == 503 or err.kind == "bad_request" then
      return { status = "not_found", reason = err.message }
    end
    return nil, err          -- "duplicate" too: a booking exists, its id unknown
  end
  return booked(doc)
end

function M.query_order(ctx, order)
  local id = tonumber(order.supplier_ref)
  if not id then
    if order.replay_book then return replay_book(ctx, order) end
    return nil, c.err("bad_request", "agoda: query_order needs the Agoda booking id (supplier_ref)")
  end
  local doc, err = call(ctx, "details", { bookingIds = { id } })
  if not doc then
    if err.kind == "not_found" then return { status = "not_found", supplier_ref = order.supplier_ref } end
    return nil, err
  end
  local list = val(doc.bookings) or val(doc.bookingDetails)
  if list ~= nil and type(list) ~= "table" then return nil, c.err("bad_response", "agoda: bookings is not a list") end
  for _, b in ipairs(list or {}) do
    if tostring(val(b.id) or val(b.bookingId)) == tostring(id) then
      local pay = val(b.payment) or val(b.totalRate) or {}
      return {
        status = order_status(val(b.status)),
        supplier_ref = tostring(id),
        client_ref = val(b.tag),
        hotel_confirm_no = val(b.hotelConfirmationNumber),
        price = val(pay.inclusive) and { currency = val(pay.currency), net = money(pay.inclusive) } or nil,
        fee_waiver_allowed = val(b.isFeeWaiverAllowed),
        supplier_status = val(b.status),
      }
    end
  end
  return { status = "not_found", supplier_ref = tostring(id) }
end

local function first_amount(list)
  local r = type(list) == "table" and list[1] or nil
  if type(r) ~= "table" then return nil end
  return money(val(r.inclusive) or 0), val(r.currency)
end

-- Two calls [AG3]: preview (policy + refund) then confirm with the preview's
-- reference and refund. Fee = paid - refunded. The docs' step 0 (check the status
-- first) is left to the caller (query_order).
function M.cancel(ctx, order)
  local id = tonumber(order.supplier_ref)
  if not id then return nil, c.err("bad_request", "agoda cancel needs the Agoda booking id (supplier_ref)") end
  local doc, err = call(ctx, "cancel", { bookingId = id })
  if not doc then return nil, err end
  local sum = val(doc.cancellationSummary)
  if type(sum) ~= "table" or val(sum.reference) == nil then
    return nil, c.err("bad_response", "agoda: cancel preview without cancellationSummary.reference")
  end
  local paid, currency = first_amount(val(sum.paymentRate))
  local refund, rcur = first_amount(val(sum.refundRate))
  refund = refund or "0.00"
  -- UNVERIFIED confirm body: the preview's reference and refundRate, echoed back.
  local confirm = { bookingId = id, reference = val(sum.reference),
                    refundRate = { { currency = rcur or currency, inclusive = tonumber(refund) } } }
  local cdoc, cerr = call(ctx, "confirm_cancel", confirm)
  if not cdoc then return nil, cerr end
  local fee = paid and hm.money.sub(paid, refund) or "0.00"
  return {
    status = "cancelled", supplier_ref = tostring(id),
    cancellation_ref = tostring(val(cdoc.cancellationId) or val(sum.reference)),
    fee = { amount = hm.money.round(fee, 2), currency = currency or rcur },
    refund = { amount = hm.money.round(refund, 2), currency = rcur or currency },
    paid = paid and { amount = hm.money.round(paid, 2), currency = currency } or nil,
    policy = (function()
      local t = {}
      for _, p in ipairs(val(sum.cancellationPolicy) or {}) do t[#t + 1] = val(p.policyText) end
      return t
    end)(),
  }
end

-- webhook(ctx, req): an inventory/price push. Agoda's affiliate API has no
-- public push spec (SUPPLIERS.md), so the body is UNVERIFIED, in the camelCase
-- of Agoda's Long Tail Search API: {"events":[{"type":"ROOM_SOLD_OUT"|"PRICE_CHANGED"|
-- "NEW_AVAILABILITY","propertyId":249518,"roomId":1034}]}; signature headers:
-- see lib/webhook.lua (X-Timestamp + X-Signature, HMAC-SHA256 with webhook_secret).
function M.webhook(ctx, req)
  return require("lib.webhook").events(ctx, req, function(doc) return doc.events end, function(ev)
    return { type = ev.type, hotel_id = ev.propertyId, room_id = ev.roomId }
  end)
end

return M
