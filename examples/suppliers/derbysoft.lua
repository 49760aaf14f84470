-- suppliers/derbysoft.lua -- a simulated DerbySoft GO v4 distributor API under
-- /sim/derbysoft, shaped after the real captures (shared/fixtures/derbysoft):
--   POST /sim/derbysoft/api/go/shoppingengine/v4/shopping/multihotels
--   POST /sim/derbysoft/api/go/bookingusb/v4/availability        (live check, productCandidate)
--   POST /sim/derbysoft/api/go/bookingusb/v4/reservation/prebook
--   POST /sim/derbysoft/api/go/bookingusb/v4/reservation/book
--   POST /sim/derbysoft/api/go/bookingusb/v4/reservation/detail
--   POST /sim/derbysoft/api/go/bookingusb/v4/reservation/cancel
-- Auth: "Authorization: Bearer <token>" (config.suppliers.derbysoft.token), else 401
-- {"error":"Key not authorised"} (DerbySoft's documented ping answer); the body header must
-- carry the configured distributorId/supplierId and version v4. Answers echo the header.
-- Business errors: {"header", "errorCode", "errorMessage"} with DerbySoft's code names
-- (NoAllotment, ReservationNotFound, DuplicateReservation ...) -- layout UNVERIFIED.
-- Throttling: APISIX 429 with X-RateLimit-Limit / -Remaining 0 / -Reset (seconds).
local sim = require("suppliers.simlib")
local c = require("lib.connector")
local data = sim.data
local NAME = "derbysoft"

local function cfg() return (hm.config.suppliers or {})[NAME] or {} end
local function cur() return data.currency[NAME] end

local function answer(doc, status, limit)
  return { status = status or 200, json = doc, headers = {
    ["Content-Type"] = "application/json;charset=UTF-8", ["Server"] = "APISIX",
    ["X-RateLimit-Limit"] = tostring(limit or 1500), ["X-RateLimit-Remaining"] = tostring((limit or 1500) - 1),
    ["X-RateLimit-Reset"] = "1" } }
end

local function fail(header, code, msg, status)
  return answer({ header = header, errorCode = code, errorMessage = msg }, status or 400)
end

local FAULTS = {
  throttle = function()
    return { status = 429, headers = { ["Content-Type"] = "application/json", ["Server"] = "APISIX",
      ["X-RateLimit-Limit"] = "1500", ["X-RateLimit-Remaining"] = "0", ["X-RateLimit-Reset"] = "2" },
      json = { error_msg = "Requests are too frequent, please try again later." } }
  end,
  error = function() return fail(nil, "SystemError", "Internal system error, please retry", 500) end,
}

-- Auth and header checks; returns body or nil, response.
local function authed(req, shopping)
  local conf = cfg()
  if req.headers["authorization"] ~= "Bearer " .. tostring(conf.token) then
    return nil, { status = 401, headers = { ["Content-Type"] = "application/json" },
                  json = { error = "Key not authorised" } }
  end
  local ok, b = pcall(hm.json.decode, req.body or "")
  if not ok or type(b) ~= "table" then return nil, fail(nil, "InvalidField", "body is not JSON") end
  local h = type(b.header) == "table" and b.header or {}
  local echo = { version = h.version, token = h.token, supplierId = h.supplierId, distributorId = h.distributorId }
  if h.distributorId ~= conf.distributor_id then return nil, fail(echo, "ChannelNotFound", "unknown distributorId") end
  if h.version ~= "v4" then return nil, fail(echo, "InvalidField", "header.version must be v4") end
  if not shopping and h.supplierId ~= conf.supplier_id then
    return nil, fail(echo, "SupplierNotFound", "unknown supplierId")
  end
  if type(h.token) ~= "string" or h.token == "" then return nil, fail(echo, "InvalidField", "header.token is required") end
  return b, echo
end

-- Two products per room: BAR (room only; free until 16:00 one day before arrival, then one
-- night) and BARBB (breakfast, +12 %, non-refundable: 999 days before arrival, full stay).
local RATES = {
  { id = "BAR", meal = "RO", factor = "1", policy = function() return {
      code = "4PM1D1N_1N", description = "Free cancellation until 16:00 1 day before arrival, then 1 night.",
      cancelPenalties = {
        { noShow = false, cancellable = true, cancelDeadline = { offsetTimeDropType = "BeforeArrival",
          offsetTimeUnit = "D", offsetTimeValue = 1, deadline = "4PM" },
          penaltyCharge = { chargeBase = "NightBase", nights = 1 } },
        { noShow = true, penaltyCharge = { chargeBase = "NightBase", nights = 1 } } } } end },
  { id = "BARBB", meal = "BB", factor = "1.12", policy = function() return {
      code = "NR_100P", description = "Non-refundable.",
      cancelPenalties = {
        { noShow = false, cancellable = true, cancelDeadline = { offsetTimeDropType = "BeforeArrival",
          offsetTimeUnit = "D", offsetTimeValue = 999, deadline = "any date time" },
          penaltyCharge = { chargeBase = "FullStay", percent = 100 } },
        { noShow = true, penaltyCharge = { chargeBase = "FullStay", percent = 100 } } } } end },
}

local function rate_def(id)
  for _, r in ipairs(RATES) do if r.id == id then return r end end
end

-- Dubai taxes, inside amountAfterTax (as Choice AW007 / Hilton do): VAT 5 % + municipality 7 %.
local TAX = "1.12"

-- One room rate, amounts per room per night.
local function room_rate(hotel_code, room, rate, ci, co)
  local before, after = {}, {}
  for i = 0, c.nights(ci, co) - 1 do
    local b = hm.money.round(hm.money.mul(sim.stay_price(room.price, c.add_days(ci, i), 1), rate.factor), 2)
    before[#before + 1] = tonumber(b)
    after[#after + 1] = tonumber(hm.money.round(hm.money.mul(b, TAX), 2))
  end
  return {
    roomId = room.code, rateId = rate.id, connectionType = "Exchange", currency = cur(),
    inventory = sim.left(NAME, hotel_code, room.code), amountBeforeTax = before, amountAfterTax = after,
    mealPlan = rate.meal,
    fees = {
      { dateRange = { startDate = ci, endDate = c.add_days(co, -1) }, fee = { name = "VAT", type = "Exclusive",
        amount = 5, amountType = "Percent", chargeType = "PerRoomPerNight" } },
      { dateRange = { startDate = ci, endDate = c.add_days(co, -1) }, fee = { name = "Municipality Fee",
        type = "Exclusive", amount = 7, amountType = "Percent", chargeType = "PerRoomPerNight" } },
    },
    cancelPolicy = rate.policy(),
  }
end

local function stay_ok(b)
  local sr = type(b.stayRange) == "table" and b.stayRange or {}
  local ci, co = c.day(sr.checkin or ""), c.day(sr.checkout or "")
  local rc = type(b.roomCriteria) == "table" and b.roomCriteria or {}
  return ci and co and co > ci and tonumber(rc.roomCount) and tonumber(rc.adultCount), sr, rc
end

-- Available room rates of one hotel (rooms with fewer left than asked vanish).
local function hotel_rates(code, ci, co, rooms, only)
  local h = sim.hotels(NAME, { code })[1]
  if not h then return nil end
  local out = {}
  for _, room in ipairs(h.rooms) do
    if sim.left(NAME, h.code, room.code) >= rooms then
      for _, rate in ipairs(RATES) do
        if not only or (only.roomId == room.code and only.rateId == rate.id) then
          out[#out + 1] = room_rate(h.code, room, rate, ci, co)
        end
      end
    end
  end
  return out, h
end

local function route(api, path, handler)
  hm.route("POST", "/sim/derbysoft/api/go/" .. api .. "/v4" .. path, function(req)
    local fault = sim.intercept(NAME, req, FAULTS)
    if fault then return fault end
    local b, echo = authed(req, api == "shoppingengine")
    if not b then return echo end
    return handler(b, echo, req)
  end)
end

local function multihotels(b, echo)
  local ok, sr, rc = stay_ok(b)
  if not ok then return fail(echo, "IncorrectCheckinDate", "invalid stayRange or roomCriteria") end
  if type(b.hotels) ~= "table" or #b.hotels == 0 or #b.hotels > 20 then
    return fail(echo, "InvalidField", "hotels: 1 to 20 entries")
  end
  local hotels = {}
  for _, ref in ipairs(b.hotels) do
    if ref.supplierId == cfg().supplier_id then
      local rates = hotel_rates(tostring(ref.hotelId), sr.checkin, sr.checkout, tonumber(rc.roomCount))
      if rates then
        for _, r in ipairs(rates) do r.roomCriteria = rc end    -- multihotels repeats it per rate
        hotels[#hotels + 1] = { supplierId = ref.supplierId, hotelId = tostring(ref.hotelId), status = "Actived",
          stayRange = sr, availRoomRates = #rates > 0 and rates or nil }
      end
    end
  end
  echo.supplierId = nil
  return answer({ header = echo, stayRange = sr, availHotels = hotels }, 200, 3000)
end

local function availability(b, echo)
  local ok, sr, rc = stay_ok(b)
  if not ok then return fail(echo, "IncorrectCheckinDate", "invalid stayRange or roomCriteria") end
  local only = type(b.productCandidate) == "table" and b.productCandidate or nil
  local rates = hotel_rates(tostring(b.hotelId), sr.checkin, sr.checkout, tonumber(rc.roomCount), only)
  if not rates then return fail(echo, "HotelNotFound", "hotel " .. tostring(b.hotelId)) end
  if only and #rates == 0 then return fail(echo, "NoAllotment", "no allotment for the product") end
  return answer({ header = echo, hotelId = b.hotelId, stayRange = sr, roomCriteria = rc, productCandidate = only,
                  roomRates = #rates > 0 and rates or nil })
end

-- The product a prebook/book asks for; nil, error response when it does not exist.
local function product(b, echo)
  local ok, sr, rc = stay_ok(b)
  if not ok then return nil, fail(echo, "IncorrectCheckinDate", "invalid stayRange or roomCriteria") end
  local ids = type(b.reservationIds) == "table" and b.reservationIds or {}
  local rr = type(b.roomRates) == "table" and b.roomRates[1] or nil
  if not rr then return nil, fail(echo, "InvalidField", "roomRates is required") end
  local h = sim.hotels(NAME, { tostring(b.hotelId) })[1]
  if not h then return nil, fail(echo, "HotelNotFound", "hotel " .. tostring(b.hotelId)) end
  local room
  for _, r in ipairs(h.rooms) do if r.code == rr.roomId then room = r end end
  if not room then return nil, fail(echo, "RoomTypeNotFound", "room " .. tostring(rr.roomId)) end
  local rate = rate_def(rr.rateId)
  if not rate then return nil, fail(echo, "RatePlanNotFound", "rate " .. tostring(rr.rateId)) end
  return { hotel = h, room = room, rate = rate, sr = sr, rc = rc, ids = ids, rooms = tonumber(rc.roomCount) }
end

local function prebook(b, echo)
  local p, bad = product(b, echo)
  if not p then return bad end
  if sim.left(NAME, p.hotel.code, p.room.code) < p.rooms then return fail(echo, "NoAllotment", "sold out") end
  return answer({ header = echo, reservationIds = { distributorResId = p.ids.distributorResId or "" } })
end

local function derby_id()
  local chars, t = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", {}
  for i = 1, 21 do local k = math.random(1, #chars); t[i] = chars:sub(k, k) end
  return table.concat(t)
end

local function book(b, echo)
  local p, bad = product(b, echo)
  if not p then return bad end
  local dist = p.ids.distributorResId
  if type(dist) ~= "string" or dist == "" then return fail(echo, "InvalidField", "reservationIds.distributorResId") end
  local derby = derby_id()
  if not sim.link_client_ref(NAME, dist, derby) then
    return fail(echo, "DuplicateReservation", "distributorResId " .. dist .. " already booked")
  end
  if not sim.take(NAME, p.hotel.code, p.room.code, p.rooms) then
    hm.shared.delete("sim:" .. NAME .. ":cref:" .. dist)
    return fail(echo, "NoAllotment", "sold out")
  end
  local rr = room_rate(p.hotel.code, p.room, p.rate, p.sr.checkin, p.sr.checkout)
  rr.inventory, rr.connectionType = nil, nil
  local before, after = "0", "0"
  for i = 1, #rr.amountAfterTax do
    before = hm.money.add(before, hm.money.mul(rr.amountBeforeTax[i], p.rooms))
    after = hm.money.add(after, hm.money.mul(rr.amountAfterTax[i], p.rooms))
  end
  local bk = { ids = { distributorResId = dist, derbyResId = derby, supplierResId = tostring(sim.next_ref(NAME)) },
    hotel = p.hotel.code, room = p.room.code, rooms = p.rooms, sr = p.sr, rc = p.rc, roomRate = rr,
    total = { amountBeforeTax = tonumber(before), amountAfterTax = tonumber(after) },
    comments = b.comments, status = "Confirmed" }
  sim.put_booking(NAME, derby, bk)
  return answer({ header = echo, reservationIds = bk.ids, connectionType = "Exchange" })
end

local function find(b)
  local ids = type(b.reservationIds) == "table" and b.reservationIds or {}
  local derby = ids.derbyResId
  if (not derby or derby == "") and ids.distributorResId and ids.distributorResId ~= "" then
    derby = sim.ref_by_client(NAME, ids.distributorResId)
  end
  return derby and sim.get_booking(NAME, derby)
end

local function detail(b, echo)
  local bk = find(b)
  if not bk then return fail(echo, "ReservationNotFound", "no such reservation", 404) end
  return answer({ header = echo, reservations = { {
    comments = bk.comments, roomRates = { bk.roomRate }, status = bk.status, cancellationId = bk.cancellationId,
    result = "Successful", connectionType = "Exchange", reservationIds = bk.ids, hotelId = bk.hotel,
    stayRange = bk.sr, roomCriteria = bk.rc, total = bk.total } } })
end

local function cancel(b, echo)
  local bk = find(b)
  if not bk then return fail(echo, "ReservationNotFound", "no such reservation", 404) end
  if bk.status ~= "Cancelled" then
    bk.status = "Cancelled"
    bk.cancellationId = tostring(900000000 + sim.next_ref(NAME))
    sim.put_booking(NAME, bk.ids.derbyResId, bk)
    sim.give(NAME, bk.hotel, bk.room, bk.rooms)
  end
  -- the captured cancel answers carry a fresh derbyResId (not the booking's)
  return answer({ header = echo, cancellationId = bk.cancellationId, reservationIds = {
    distributorResId = bk.ids.distributorResId, derbyResId = derby_id(), supplierResId = bk.ids.supplierResId } })
end

sim.control_routes(NAME)
route("shoppingengine", "/shopping/multihotels", multihotels)
route("bookingusb", "/availability", availability)
route("bookingusb", "/reservation/prebook", prebook)
route("bookingusb", "/reservation/book", book)
route("bookingusb", "/reservation/detail", detail)
route("bookingusb", "/reservation/cancel", cancel)

-- self_check(): the demo data this simulator sells prices and parses.
local function self_check()
  for code in pairs(data.by_supplier[NAME] or {}) do
    local rates = hotel_rates(code, "2027-01-10", "2027-01-12", 1)
    if not rates or #rates == 0 then return false, "no rates for " .. code end
  end
  return true
end

return { name = NAME, self_check = self_check }
