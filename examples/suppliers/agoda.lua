-- suppliers/agoda.lua -- a simulated Agoda Demand (affiliate) JSON API under
-- /sim/agoda/..., after shared/SUPPLIERS.md §3 and the docs examples in
-- shared/fixtures/agoda/ (there is no real Agoda traffic to copy; paths and the
-- Search/Precheck/Book/Details response layouts are the connector's UNVERIFIED
-- choices, see scripts/connectors/agoda.lua).
--
--   POST /api/v4/property/availability   Search (criteria{propertyIds, checkIn, checkOut, rooms, adults, ...})
--   POST /api/v4/prebooking/precheck     200 ok | 501 price changed | 502 room gone | 503 unavailable
--   POST /api/v4/booking/book            bookingDetails{tag, property{rooms[{blockId, rate, guestDetails}]}}
--   POST /api/v4/booking/details         {"bookingIds": [...]} (max 40)
--   POST /api/v4/postBooking/cancel      {"bookingId"} -> cancellationSummary (docs example shape)
--   POST /api/v4/postBooking/confirmCancel {bookingId, reference, refundRate[]}
--   POST /affiliateservice/lt_v1         Affiliate Lite search (results[])
--
-- Auth as documented: `Authorization: <siteId>:<apiKey>` (the docs example shows a
-- space after the colon, so optional blanks there are accepted). Anything else ->
-- 401. Throttling -> 403 "quota exceeded" (the Lite API documents 403 for quota;
-- the Demand API's own throttle answer is UNVERIFIED).
local sim = require("suppliers.simlib")
local c = require("lib.connector")

local NAME = "agoda"
local data = sim.data
local BASE = "/sim/agoda"
local CURRENCY = data.currency[NAME]
local TAX_DIVISOR = "1.155"             -- inclusive = exclusive x 1.155 (10 % service + 5 % VAT)
local TOURISM_FEE = "5.45"              -- USD per room per night, collected by the hotel
local ICT = 7 * 3600                    -- Agoda states policy times in ICT (+07:00)

-- Rate plans every room is sold with.
local PLANS = {
  { id = "FLEX", board = "RO", supplement = "0.00", refundable = true },
  { id = "NRFBB", board = "BB", supplement = "14.00", refundable = false },
}
local function plan_by_id(id)
  for _, p in ipairs(PLANS) do if p.id == id then return p end end
end

local M = { PLANS = PLANS }

local function cfg() return (hm.config.suppliers or {})[NAME] or {} end

---------------------------------------------------------------------------
-- Answers
---------------------------------------------------------------------------

local function ok(body)
  return { status = 200, headers = { ["Content-Type"] = "application/json; charset=utf-8" },
           body = hm.json.encode(body) }
end

-- UNVERIFIED error body: {"error": {"id", "message"}}.
local function fail(status, id, message, extra_headers)
  local h = { ["Content-Type"] = "application/json; charset=utf-8" }
  for k, v in pairs(extra_headers or {}) do h[k] = v end
  return { status = status, headers = h, body = hm.json.encode({ error = { id = id, message = message } }) }
end

local FAULTS = {
  throttle = function() return fail(403, 403, "Quota exceeded: too many requests", { ["Retry-After"] = "1" }) end,
  error = function() return fail(500, 500, "Internal server error") end,
}

---------------------------------------------------------------------------
-- Auth
---------------------------------------------------------------------------

function M.check_auth(req)
  local conf = cfg()
  local want_site, want_key = tostring(conf.site_id or "1812345"), tostring(conf.api_key or "ag-demo-key")
  local h = req.headers["authorization"] or ""
  local site, key = h:match("^%s*(%d+)%s*:%s*(%S+)%s*$")
  if not site or site ~= want_site or not hm.crypto.equal(key, want_key) then
    return fail(401, 401, "Unauthorized: invalid siteId or apiKey")
  end
  return nil
end

local function route(path, handler)
  hm.route("POST", BASE .. path, function(req)
    local f = sim.intercept(NAME, req, FAULTS)
    if f then return f end
    local refused = M.check_auth(req)
    if refused then return refused end
    local okd, body = pcall(hm.json.decode, req.body or "")
    if not okd or type(body) ~= "table" then return fail(400, 400, "Malformed JSON request") end
    return handler(req, body)
  end)
end

---------------------------------------------------------------------------
-- Offers
---------------------------------------------------------------------------

local function secret() return tostring(cfg().api_key or "ag-demo-key") end

-- blockId: the stay, signed so a tampered one is refused (the real one is opaque too).
function M.make_block(s)
  local raw = table.concat({ s.hotel, s.room, s.plan.id, s.check_in, s.check_out, s.rooms, s.adults,
                             table.concat(s.ages, "-") }, "|")
  return hm.crypto.base64url_encode(raw) .. "." .. hm.crypto.sha256_hex(raw .. secret()):sub(1, 12)
end

function M.parse_block(b)
  if type(b) ~= "string" then return nil end
  local enc, sig = b:match("^([%w_%-]+)%.(%x+)$")
  local raw = enc and hm.crypto.base64url_decode(enc)
  if not raw or hm.crypto.sha256_hex(raw .. secret()):sub(1, 12) ~= sig then return nil end
  local p = {}
  for part in (raw .. "|"):gmatch("([^|]*)|") do p[#p + 1] = part end
  local plan = plan_by_id(p[3])
  if #p ~= 8 or not plan then return nil end
  local ages = {}
  for a in p[8]:gmatch("%d+") do ages[#ages + 1] = tonumber(a) end
  return { hotel = p[1], room = p[2], plan = plan, check_in = p[4], check_out = p[5],
           rooms = tonumber(p[6]), adults = tonumber(p[7]), ages = ages,
           nights = c.nights(p[4], p[5]) }
end

local function room_of(hotel_code, room_code)
  for _, h in ipairs(sim.hotels(NAME, { hotel_code })) do
    for _, r in ipairs(h.rooms) do
      if r.code == room_code then return h, r end
    end
  end
end

local function num(x) return tonumber(x) end
local function ict(epoch) return c.iso(epoch + ICT):gsub("Z$", "+07:00") end

-- Total for the stay (all rooms, all nights), in the supplier currency.
function M.total(s, room)
  local nightly = hm.money.add(room.price, s.plan.supplement)
  return hm.money.mul(sim.stay_price(nightly, s.check_in, s.nights), tostring(s.rooms))
end

-- Free until 3 days before arrival (00:00 ICT), then the whole stay (docs example
-- wording); non-refundable plans charge everything from now on.
local function policy(s, net)
  if not s.plan.refundable then
    return { code = "NONREF", translatedCancellationText = "This booking is non-refundable.",
             date = { { onOrAfter = ict(math.floor(hm.time.now())), rate = { currency = CURRENCY, inclusive = num(net) } } } }
  end
  local free_until = c.epoch(c.add_days(s.check_in, -3)) - ICT
  local text = "Risk-free booking! You can cancel until " .. c.add_days(s.check_in, -4) ..
    " and pay nothing! Any cancellation received within 3 days prior to the arrival date will be charged for the entire stay."
  return { code = "3D100P_100P", translatedCancellationText = text, free_until = free_until,
           date = { { before = ict(free_until), rate = { currency = CURRENCY, inclusive = 0 } },
                    { onOrAfter = ict(free_until), rate = { currency = CURRENCY, inclusive = num(net) } } } }
end

function M.offer(s, h, room, left)
  local net = M.total(s, room)
  local exclusive = hm.money.round(hm.money.div(net, TAX_DIVISOR), 2)
  local tax = hm.money.sub(net, exclusive)
  local fee = hm.money.mul(hm.money.mul(TOURISM_FEE, tostring(s.nights)), tostring(s.rooms))
  local daily = {}
  local nightly = hm.money.add(room.price, s.plan.supplement)
  for i = 0, s.nights - 1 do
    local d = c.add_days(s.check_in, i)
    daily[#daily + 1] = { date = d, inclusive = num(hm.money.mul(sim.stay_price(nightly, d, 1), tostring(s.rooms))) }
  end
  local pol = policy(s, net)
  pol.free_until = nil
  return {
    roomId = tonumber(room.code), roomName = room.name, blockId = M.make_block(s),
    ratePlanId = s.plan.id, currency = CURRENCY, remainingRooms = left,
    benefits = s.plan.board == "BB" and { { id = 1, benefitName = "Breakfast" } } or {},
    rate = { currency = CURRENCY, inclusive = num(hm.money.round(hm.money.div(net, tostring(s.nights * s.rooms)), 2)) },
    totalPayment = { currency = CURRENCY, inclusive = num(net), exclusive = num(exclusive), tax = num(tax), fees = 0 },
    surcharges = { { id = 7, name = "Tourism Dirham Fee", charge = "Excluded",
                     rate = { currency = CURRENCY, inclusive = num(fee) } } },
    dailyRate = daily,
    cancellationPolicy = pol,
  }
end

-- stay from a Search criteria
local function stay_of(cr)
  local ci, co = cr.checkIn, cr.checkOut
  if type(ci) ~= "string" or type(co) ~= "string" or not c.day(ci) or not c.day(co) then
    return nil, "criteria.checkIn and criteria.checkOut are required (yyyy-mm-dd)"
  end
  local nights = c.nights(ci, co)
  if nights < 1 or nights > 30 then return nil, "checkOut must be 1..30 days after checkIn" end
  local ages = {}
  for _, a in ipairs(type(cr.childrenAges) == "table" and cr.childrenAges or {}) do ages[#ages + 1] = tonumber(a) or 0 end
  return { check_in = ci, check_out = co, nights = nights, rooms = tonumber(cr.rooms) or 1,
           adults = tonumber(cr.adults) or 2, ages = ages }
end

---------------------------------------------------------------------------
-- Routes
---------------------------------------------------------------------------

local function search(_, body)
  local cr = type(body.criteria) == "table" and body.criteria or {}
  local s, why = stay_of(cr)
  if not s then return fail(400, 400, why) end
  local pids = type(cr.propertyIds) == "table" and cr.propertyIds or {}
  if #pids == 0 or #pids > 100 then return fail(400, 400, "criteria.propertyIds: 1..100 ids required") end
  local codes = {}
  for _, id in ipairs(pids) do codes[#codes + 1] = tostring(id) end
  local props = {}
  for _, h in ipairs(sim.hotels(NAME, codes)) do
    local offers = {}
    for _, room in ipairs(h.rooms) do
      local left = sim.left(NAME, h.code, room.code)
      if left >= s.rooms then                 -- sold-out rooms are simply absent
        for _, plan in ipairs(PLANS) do
          local st = { hotel = h.code, room = room.code, plan = plan, check_in = s.check_in, check_out = s.check_out,
                       nights = s.nights, rooms = s.rooms, adults = s.adults, ages = s.ages }
          offers[#offers + 1] = M.offer(st, h, room, left)
        end
      end
    end
    if #offers > 0 then
      props[#props + 1] = { propertyId = tonumber(h.code), propertyName = h.name, rooms = offers }
    end
  end
  return ok({ searchId = math.random(100000000, 999999999), properties = props })
end

-- The priced room line of a precheck/book body, checked against the world.
-- Returns s, h, room, net or nil, error response.
local function priced_line(details)
  local p = type(details) == "table" and type(details.property) == "table" and details.property or {}
  local line = type(p.rooms) == "table" and p.rooms[1] or nil
  if type(line) ~= "table" then return nil, fail(400, 400, "property.rooms is required") end
  local s = M.parse_block(line.blockId)
  if not s or tostring(p.propertyId) ~= s.hotel then return nil, fail(400, 400, "Invalid blockId") end
  local h, room = room_of(s.hotel, s.room)
  if not h then return nil, fail(503, 503, "Property is not available") end
  if sim.left(NAME, s.hotel, s.room) < s.rooms then
    return nil, fail(502, 502, "Room is no longer available")
  end
  local net = M.total(s, room)
  local quoted = type(line.rate) == "table" and line.rate.inclusive
  if quoted == nil or hm.money.cmp(hm.money.norm(quoted), net) ~= 0 then
    return nil, fail(501, 501, "Price has changed")
  end
  return s, h, room, net, line
end

local function precheck(_, body)
  local s, h, room = priced_line(body.precheckDetails)
  if not s then return h end
  local left = sim.left(NAME, s.hotel, s.room)
  return ok({ property = { propertyId = tonumber(h.code), propertyName = h.name,
                           rooms = { M.offer(s, h, room, left) } } })
end

local function book_answer(b)
  return ok({ bookingDetails = { { id = b.id, itineraryId = b.itineraryId, processing = false } } })
end

local function book(_, body)
  local d = type(body.bookingDetails) == "table" and body.bookingDetails or nil
  if not d then return fail(400, 400, "bookingDetails is required") end
  local tag = d.tag
  if type(tag) ~= "string" or tag == "" then return fail(400, 400, "bookingDetails.tag is required") end
  local cust = type(body.customerDetail) == "table" and body.customerDetail or {}
  if type(cust.firstName) ~= "string" or type(cust.lastName) ~= "string" then
    return fail(400, 400, "customerDetail.firstName and lastName are required")
  end
  -- the same tag again: the booking it already made
  local existing = sim.ref_by_client(NAME, tag)
  if existing then
    local b = sim.get_booking(NAME, existing)
    if b then return book_answer(b) end
  end
  local s, h, room, net, line = priced_line(d)
  if not s then return h end
  local guests = type(line.guestDetails) == "table" and line.guestDetails or {}
  if not guests[1] or type(guests[1].firstName) ~= "string" or type(guests[1].lastName) ~= "string" then
    return fail(400, 400, "guestDetails: firstName and lastName are required")
  end
  if not sim.take(NAME, s.hotel, s.room, s.rooms) then return fail(502, 502, "Room is no longer available") end
  local id = 80000000 + sim.next_ref(NAME)
  if not sim.link_client_ref(NAME, tag, id) then       -- lost a race with the same tag
    sim.give(NAME, s.hotel, s.room, s.rooms)
    local b = sim.get_booking(NAME, sim.ref_by_client(NAME, tag))
    if b then return book_answer(b) end
    return fail(500, 500, "Booking confirmation error")
  end
  local pol = policy(s, net)
  local b = {
    id = id, itineraryId = 900000000 + id % 1000000, tag = tag, status = "BookingConfirmed",
    propertyId = tonumber(h.code), propertyName = h.name, roomId = tonumber(room.code), roomName = room.name,
    checkIn = s.check_in, checkOut = s.check_out, rooms = s.rooms, plan = s.plan.id,
    hotelConfirmationNumber = "HC" .. hm.crypto.random_hex(4):upper(),
    payment = { currency = CURRENCY, inclusive = num(net) },
    free_until = pol.free_until, policyText = pol.translatedCancellationText,
    customer = { firstName = cust.firstName, lastName = cust.lastName, email = cust.email },
    isFeeWaiverAllowed = false,
  }
  sim.put_booking(NAME, id, b)
  return book_answer(b)
end

local function public(b)
  return { id = b.id, itineraryId = b.itineraryId, tag = b.tag, status = b.status, propertyId = b.propertyId,
           propertyName = b.propertyName, roomId = b.roomId, roomName = b.roomName, checkIn = b.checkIn,
           checkOut = b.checkOut, hotelConfirmationNumber = b.hotelConfirmationNumber, payment = b.payment,
           isFeeWaiverAllowed = b.isFeeWaiverAllowed, feeWaiverStatus = b.feeWaiverStatus }
end

local function details(_, body)
  local idl = body.bookingIds
  if type(idl) ~= "table" or #idl == 0 or #idl > 40 then return fail(400, 400, "bookingIds: 1..40 ids required") end
  local out = {}
  for _, id in ipairs(idl) do
    local b = sim.get_booking(NAME, tostring(id))
    if b then out[#out + 1] = public(b) end
  end
  return ok({ bookings = out })
end

local function refund_now(b)
  if b.free_until and hm.time.now() < b.free_until then return hm.money.norm(b.payment.inclusive) end
  return "0.00"
end

local function cancel_preview(_, body)
  local b = sim.get_booking(NAME, tostring(body.bookingId))
  if not b then return fail(404, 404, "Booking not found") end
  if b.status == "BookingCancelled" then return fail(400, 400, "Booking is already cancelled") end
  if c.day(b.checkIn) - 1 < math.floor(hm.time.now() / 86400) then
    return fail(400, 400, "Cancellation is allowed up to 1 day before check-in")
  end
  b.cancelRef = b.cancelRef or math.random(100000000, 999999999)
  sim.put_booking(NAME, b.id, b)
  return ok({ cancellationSummary = {
    bookingId = b.id, reference = b.cancelRef,
    cancellationPolicy = { { language = "en-us", policyText = b.policyText } },
    paymentRate = { { currency = CURRENCY, inclusive = b.payment.inclusive } },
    refundRate = { { currency = CURRENCY, inclusive = num(refund_now(b)) } } } })
end

local function cancel_confirm(_, body)
  local b = sim.get_booking(NAME, tostring(body.bookingId))
  if not b then return fail(404, 404, "Booking not found") end
  if b.status == "BookingCancelled" then return fail(400, 400, "Booking is already cancelled") end
  if not b.cancelRef or tonumber(body.reference) ~= b.cancelRef then
    return fail(400, 400, "Invalid cancellation reference")
  end
  local r = type(body.refundRate) == "table" and (body.refundRate[1] or body.refundRate) or {}
  if r.inclusive == nil or hm.money.cmp(hm.money.norm(r.inclusive), refund_now(b)) ~= 0 then
    return fail(400, 400, "Refund amount does not match")
  end
  b.status = "BookingCancelled"
  sim.put_booking(NAME, b.id, b)
  local _, room = room_of(tostring(b.propertyId), tostring(b.roomId))
  if room then sim.give(NAME, tostring(b.propertyId), room.code, b.rooms) end
  return ok({ bookingId = b.id, cancellationId = b.cancelRef, status = b.status })
end

-- Affiliate Lite: the cheapest room-only price per night per hotel.
local function lite(_, body)
  local cr = type(body.criteria) == "table" and body.criteria or {}
  local ci, co = cr.checkInDate, cr.checkOutDate
  if type(ci) ~= "string" or type(co) ~= "string" or not c.day(ci) or not c.day(co) then
    return fail(400, 400, "checkInDate and checkOutDate are required")
  end
  local codes = {}
  for _, id in ipairs(type(cr.hotelId) == "table" and cr.hotelId or {}) do codes[#codes + 1] = tostring(id) end
  local results = {}
  for _, h in ipairs(sim.hotels(NAME, codes)) do
    local best
    for _, room in ipairs(h.rooms) do
      if sim.left(NAME, h.code, room.code) > 0 and (not best or hm.money.cmp(room.price, best) < 0) then best = room.price end
    end
    if best then
      results[#results + 1] = { hotelId = tonumber(h.code), hotelName = h.name, currency = CURRENCY,
        dailyRate = num(best), crossedOutRate = num(hm.money.round(hm.money.mul(best, "1.25"), 2)),
        discountPercentage = 0, includeBreakfast = false, freeWifi = true, starRating = h.hotel.star,
        landingURL = "https://www.agoda.com/partners/partnersearch.aspx?hid=" .. h.code }
    end
  end
  if #results == 0 then return { status = 204, body = "" } end
  return ok({ results = results })
end

sim.control_routes(NAME)
-- Webhooks (issue 4): sold-out rooms, price changes and new availability are
-- pushed to the gateway when config.suppliers.agoda.webhooks is true (body
-- format: connectors/agoda.lua M.webhook).
local WH_TYPES = { sold_out = "ROOM_SOLD_OUT", price = "PRICE_CHANGED", available = "NEW_AVAILABILITY" }
sim.on_change(NAME, function(kind, hotel, room)
  sim.push_webhook(NAME, hm.json.encode({ events = { {
    type = WH_TYPES[kind], propertyId = tonumber(hotel) or hotel, roomId = tonumber(room) or room } } }))
end)

route("/api/v4/property/availability", search)
route("/api/v4/prebooking/precheck", precheck)
route("/api/v4/booking/book", book)
route("/api/v4/booking/details", details)
route("/api/v4/postBooking/cancel", cancel_preview)
route("/api/v4/postBooking/confirmCancel", cancel_confirm)
route("/affiliateservice/lt_v1", lite)

function M.self_check()
  local n = 0
  for _ in pairs(data.by_supplier[NAME] or {}) do n = n + 1 end
  if n == 0 then return false, "no hotels for agoda in data/dubai.lua" end
  local s = { hotel = "249518", room = "1034", plan = PLANS[1], check_in = "2026-12-01", check_out = "2026-12-03",
              rooms = 1, adults = 2, ages = { 5 } }
  local back = M.parse_block(M.make_block(s))
  if not back or back.room ~= "1034" or back.check_out ~= "2026-12-03" or back.ages[1] ~= 5 then
    return false, "blockId round trip broken"
  end
  return true
end

return M
