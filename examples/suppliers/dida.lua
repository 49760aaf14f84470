-- suppliers/dida.lua -- a simulated Dida Travel API under /sim/dida, shaped
-- after the real PriceSearch capture (shared/fixtures/dida) and Dida's docs.
--   POST /sim/dida/api/rate/PriceSearch?$format=json
--   POST /sim/dida/api/rate/PriceConfirm?$format=json           (PreBook -> ReferenceNo)
--   POST /sim/dida/api/booking/HotelBookingConfirm?$format=json
--   POST /sim/dida/api/booking/HotelBookingSearch?$format=json
--   POST /sim/dida/api/booking/HotelBookingCancel?$format=json  (UNVERIFIED path)
-- Auth: Header{ClientID, LicenseKey} in the body (and, when sent, the Basic
-- Authorization header) must match config.suppliers.dida.client_id/license_key.
-- Errors: HTTP 200 {"Error":{"Code","Message"}} -- the layout is UNVERIFIED,
-- code names follow Dida's "2024:IncorrectRealTimeAndOccupancy" style.
local sim = require("suppliers.simlib")
local c = require("lib.connector")
local data = sim.data
local NAME = "dida"

local function cur() return data.currency[NAME] end

local function answer(doc, status)
  return { status = status or 200, headers = { ["Content-Type"] = "application/json; charset=utf-8",
    ["Requesttype"] = "PriceSearchRequest", ["Sessionid"] = hm.crypto.uuid() }, json = doc }
end

local function fail(code, name) return answer({ Error = { Code = tostring(code), Message = name } }) end

local FAULTS = {
  throttle = function() return fail(1105, "QpsLimitExceeded: too many requests, QPS limit reached") end,
  error = function() return fail(9999, "SystemError: internal error, please retry") end,
}

-- Parse the body and check the credentials; returns body or nil, response.
local function authed(req)
  local ok, b = pcall(hm.json.decode, req.body or "")
  if not ok or type(b) ~= "table" then return nil, fail(1000, "InvalidRequest: body is not JSON") end
  local cfg = (hm.config.suppliers or {})[NAME] or {}
  local h = type(b.Header) == "table" and b.Header or {}
  if h.ClientID ~= cfg.client_id or h.LicenseKey ~= cfg.license_key then
    return nil, fail(1001, "InvalidClientIDOrLicenseKey: authentication failed")
  end
  local basic = req.headers["authorization"]
  if basic and basic ~= "Basic " .. hm.crypto.base64_encode(cfg.client_id .. ":" .. cfg.license_key) then
    return nil, fail(1001, "InvalidClientIDOrLicenseKey: authentication failed")
  end
  return b
end

-- Two rate plans per room: 1 = room only, refundable until 3 days before
-- arrival; 2 = breakfast, +12 %, non-refundable. RatePlanID = hotel..room..plan.
local PLANS = { { id = 1, name = "Flexible Rate", meal = 1, factor = "1" },
                { id = 2, name = "Breakfast Included Non-Refundable", meal = 2, factor = "1.12" } }

local function plan_id(hotel, room, plan) return hotel .. room .. plan.id end

local function find_plan(id)
  for code in pairs(data.by_supplier[NAME] or {}) do
    local h = sim.hotels(NAME, { code })[1]
    for _, r in ipairs(h.rooms) do
      for _, p in ipairs(PLANS) do
        if plan_id(h.code, r.code, p) == tostring(id) then return h, r, p end
      end
    end
  end
end

local function beijing(date) return date .. "T00:00:00+08:00" end

-- One RatePlan; rooms = 1 in PriceSearch (per room), n in PriceConfirm (total).
local function rate_plan(h, r, p, ci, co, adults, rooms)
  local nights = c.nights(ci, co)
  local per_room = hm.money.round(hm.money.mul(sim.stay_price(r.price, ci, nights), p.factor), 2)
  local total = hm.money.mul(per_room, rooms)
  local prices = {}
  for i = 0, nights - 1 do
    local night = hm.money.round(hm.money.mul(hm.money.mul(sim.stay_price(r.price, c.add_days(ci, i), 1), p.factor), rooms), 2)
    prices[#prices + 1] = { StayDate = c.add_days(ci, i) .. " 00:00:00", Price = tonumber(night),
                            MealType = p.meal, MealAmount = p.meal == 1 and 0 or adults }
  end
  local policy
  if p.id == 1 then
    policy = { { FromDate = beijing(c.add_days(ci, -3)), Amount = tonumber(prices[1].Price) },
               { FromDate = beijing(c.add_days(ci, -1)), Amount = tonumber(total) } }
  else
    policy = { { FromDate = beijing(c.date(math.floor(hm.time.now() / 86400))), Amount = tonumber(total) } }
  end
  return {
    RatePlanID = plan_id(h.code, r.code, p), RatePlanName = p.name, RoomTypeID = tonumber(r.code),
    RoomName = r.name, BedType = 1, BreakfastType = p.meal == 1 and 1 or 2,
    RoomOccupancy = { RoomNum = rooms, AdultCount = adults, ChildCount = 0 },
    StandardOccupancy = 2, MaxOccupancy = 3, InventoryCount = sim.left(NAME, h.code, r.code), RoomStatus = 1,
    Currency = cur(), TotalPrice = tonumber(total), PriceList = prices,
    RatePlanCancellationPolicyList = policy,
    IncludedFeeList = { { FeeTypeName = "tax_and_service_fee", Currency = cur(),
                          Amount = tonumber(hm.money.round(hm.money.mul(total, "0.05"), 2)) } },
    ExcludedFeeList = { { FeeTypeName = "A tax is imposed by the city", Currency = cur(),
                          Amount = tonumber(hm.money.mul("5.45", nights * rooms)) } },
  }
end

local function details(ci, co, hotels)
  return { Success = { PriceDetails = { CheckInDate = ci .. " 00:00:00", CheckOutDate = co .. " 00:00:00",
                                        HotelList = hotels } } }
end

local function dates_ok(b)
  local ci, co = c.day(b.CheckInDate or ""), c.day(b.CheckOutDate or "")
  return ci and co and co > ci
end

local function route(path, handler)
  hm.route("POST", "/sim/dida" .. path, function(req)
    local fault = sim.intercept(NAME, req, FAULTS)
    if fault then return fault end
    local b, bad = authed(req)
    if not b then return bad end
    return handler(b, req)
  end)
end

local function price_search(b)
  if not dates_ok(b) then return fail(2001, "IncorrectCheckInOrCheckOutDate") end
  local rt = type(b.IsRealTime) == "table" and b.IsRealTime or {}
  local occ = type(b.RealTimeOccupancy) == "table" and b.RealTimeOccupancy or {}
  local rooms = tonumber(rt.RoomCount) or 1
  if rt.Value ~= true and (rooms ~= 1 or (occ.AdultCount or 2) ~= 2 or (occ.ChildCount or 0) ~= 0) then
    return fail(2024, "IncorrectRealTimeAndOccupancy")       -- real Dida rule [DD10]
  end
  local adults = tonumber(occ.AdultCount) or 2
  local codes = {}
  for _, id in ipairs(b.HotelIDList or {}) do codes[#codes + 1] = tostring(id) end
  local out = {}
  for _, h in ipairs(sim.hotels(NAME, codes)) do
    local plans = {}
    for _, r in ipairs(h.rooms) do
      if sim.left(NAME, h.code, r.code) >= rooms then        -- sold-out rooms vanish
        for _, p in ipairs(PLANS) do plans[#plans + 1] = rate_plan(h, r, p, b.CheckInDate, b.CheckOutDate, adults, 1) end
      end
    end
    if #plans > 0 then
      out[#out + 1] = { HotelID = tonumber(h.code), HotelName = h.name, Destination = { CityCode = "6053863" },
                        RatePlanList = plans }
    end
  end
  if #out == 0 then return answer({ Success = hm.json.decode("{}") }) end   -- no availability
  return answer(details(b.CheckInDate, b.CheckOutDate, out))
end

local function price_confirm(b)
  if not dates_ok(b) then return fail(2001, "IncorrectCheckInOrCheckOutDate") end
  local h, r, p = find_plan(b.RatePlanID)
  if not h or tostring(b.HotelID) ~= h.code then return fail(3002, "RatePlanNotFound") end
  local rooms = tonumber(b.NumOfRooms) or 1
  local occ = (b.OccupancyDetails or {})[1] or {}
  if sim.left(NAME, h.code, r.code) < rooms then
    -- sold out: Dida answers without the rate plan (empty HotelList)
    return answer(details(b.CheckInDate, b.CheckOutDate, {}))
  end
  local rp = rate_plan(h, r, p, b.CheckInDate, b.CheckOutDate, tonumber(occ.AdultCount) or 2, rooms)
  local doc = details(b.CheckInDate, b.CheckOutDate,
    { { HotelID = tonumber(h.code), HotelName = h.name, RatePlanList = { rp } } })
  if b.PreBook == true then
    local ref = "17" .. string.format("%017d", sim.next_ref(NAME))
    hm.shared.set("sim:dida:pb:" .. ref, hm.json.encode({ hotel = h.code, room = r.code, plan = rp.RatePlanID,
      ci = b.CheckInDate, co = b.CheckOutDate, rooms = rooms, total = rp.TotalPrice,
      policy = rp.RatePlanCancellationPolicyList, hotel_name = h.name }))
    doc.Success.PriceDetails.ReferenceNo = ref
  end
  return answer(doc)
end

local function booking_details(bk)
  return { BookingID = bk.id, Status = bk.status, ClientReference = bk.client_ref, TotalPrice = bk.total,
    Currency = cur(), CheckInDate = bk.ci, CheckOutDate = bk.co, NumOfRooms = bk.rooms,
    HotelConfirmationNo = bk.status == 2 and ("HC" .. bk.id:sub(-6)) or hm.json.null,
    Hotel = { HotelID = tonumber(bk.hotel), HotelName = bk.hotel_name, RatePlanID = bk.plan } }
end

local function booking_confirm(b)
  local s = b.ReferenceNo and hm.shared.get("sim:dida:pb:" .. tostring(b.ReferenceNo))
  if not s then return fail(4001, "ReferenceNoNotFound: PriceConfirm with PreBook first") end
  local pb = hm.json.decode(s)
  if b.ClientReference then
    local existing = sim.ref_by_client(NAME, b.ClientReference)
    if existing then          -- same ClientReference: the same booking (idempotent)
      local bk = sim.get_booking(NAME, existing)
      if bk then return answer({ Success = { BookingDetails = booking_details(bk) } }) end
    end
  end
  local id = "18" .. string.format("%017d", sim.next_ref(NAME))
  if b.ClientReference and not sim.link_client_ref(NAME, b.ClientReference, id) then
    local bk = sim.get_booking(NAME, sim.ref_by_client(NAME, b.ClientReference))
    if bk then return answer({ Success = { BookingDetails = booking_details(bk) } }) end
  end
  local bk = { id = id, client_ref = b.ClientReference, hotel = pb.hotel, room = pb.room, plan = pb.plan,
    hotel_name = pb.hotel_name, ci = pb.ci, co = pb.co, rooms = pb.rooms, total = pb.total, policy = pb.policy,
    status = 2 }
  if not sim.take(NAME, pb.hotel, pb.room, pb.rooms) then
    bk.status = 4
    sim.put_booking(NAME, id, bk)
    return fail(3001, "NoAvailability: the room is sold out")
  end
  hm.shared.delete("sim:dida:pb:" .. tostring(b.ReferenceNo))
  sim.put_booking(NAME, id, bk)
  return answer({ Success = { BookingDetails = booking_details(bk) } })
end

local function booking_search(b)
  local by = type(b.SearchBy) == "table" and b.SearchBy or {}
  local id = by.BookingID
  if not id and type(by.BookingInfo) == "table" and by.BookingInfo.ClientReference then
    id = sim.ref_by_client(NAME, by.BookingInfo.ClientReference)
  end
  local bk = id and sim.get_booking(NAME, tostring(id))
  local list = bk and { booking_details(bk) } or hm.json.decode("[]")
  return answer({ Success = { BookingDetailsList = list } })
end

-- Penalty now: the Amount of the last FromDate already reached.
local function penalty(policy)
  local now, fee = hm.time.now(), 0
  for _, p in ipairs(policy or {}) do
    local t = c.parse_time(p.FromDate)
    if t and t <= now then fee = p.Amount end
  end
  return fee
end

local function booking_cancel(b)
  local bk = b.BookingID and sim.get_booking(NAME, tostring(b.BookingID))
  if not bk then return fail(4004, "BookingNotFound") end
  if bk.status == 2 then
    bk.status = 3
    bk.fee = penalty(bk.policy)
    sim.put_booking(NAME, bk.id, bk)
    sim.give(NAME, bk.hotel, bk.room, bk.rooms)
  elseif bk.status ~= 3 then
    return fail(4005, "BookingCannotBeCanceled: status " .. tostring(bk.status))
  end
  return answer({ Success = { BookingID = bk.id, Status = 3, Amount = bk.fee or 0, Currency = cur() } })
end

sim.control_routes(NAME)
-- Webhooks (issue 4): sold-out rooms, price changes and new availability are
-- pushed to the gateway when config.suppliers.dida.webhooks is true (body
-- format: connectors/dida.lua M.webhook).
local WH_TYPES = { sold_out = "ROOM_SOLD_OUT", price = "PRICE_CHANGED", available = "NEW_AVAILABILITY" }
sim.on_change(NAME, function(kind, hotel, room)
  sim.push_webhook(NAME, hm.json.encode({ Events = { {
    Type = WH_TYPES[kind], HotelID = tonumber(hotel) or hotel, RoomTypeID = tonumber(room) or room } } }))
end)

route("/api/rate/PriceSearch", price_search)
route("/api/rate/PriceConfirm", price_confirm)
route("/api/booking/HotelBookingConfirm", booking_confirm)
route("/api/booking/HotelBookingSearch", booking_search)
route("/api/booking/HotelBookingCancel", booking_cancel)

return { name = NAME, find_plan = find_plan }
