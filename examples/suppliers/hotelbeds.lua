-- suppliers/hotelbeds.lua -- a simulated Hotelbeds APItude hotel-api under
-- /sim/hotelbeds/hotel-api/{version}/..., shaped after the real 2026 v1.2
-- captures (shared/fixtures/hotelbeds/smf_*) and shared/SUPPLIERS.md §1.
--
--   POST   /hotels                     availability (stay, occupancies, hotels.hotel[])
--   POST   /checkrates                 rooms[{rateKey}]
--   POST   /bookings                   holder, rooms[{rateKey, paxes}], clientReference, remark
--   GET    /bookings?clientReference=  booking list (start/end/filterType as the real API requires)
--   GET    /bookings/{reference}
--   DELETE /bookings/{reference}?cancellationFlag=CANCELLATION|SIMULATION
--   GET    /status
--
-- Auth as the real API: Api-key + X-Signature = hex sha256(key .. secret .. unix
-- seconds), accepted within a clock-skew window (config sim.skew_s, default 300 s).
-- Refusals come from the Mashery gateway in front of Hotelbeds: text/xml
-- "<h1>...</h1>" bodies with X-Mashery-Error-Code, as seen in real traffic
-- (hotelbeds-sdk issues: ERR_403_NOT_AUTHORIZED for a bad signature,
-- ERR_403_DEVELOPER_INACTIVE, ERR_403_DEVELOPER_OVER_RATE). Throttling is the
-- gateway's 403 ERR_403_DEVELOPER_OVER_QPS (never a 429).
local sim = require("suppliers.simlib")
local c = require("lib.connector")

local NAME = "hotelbeds"
local data = sim.data
local BASE = "/sim/hotelbeds/hotel-api/{version}"
local CURRENCY = data.currency[NAME]
local AED_TO_CLIENT = "0.2338"           -- 50 AED = 11.69 EUR in the captures
local CITY_TAX_AED = "10.00"             -- per room per night, payable at the hotel
local BB_SUPPLEMENT = "15.00"            -- per room per night, on top of the room-only price

local M = {}

local function cfg()
  return (hm.config.suppliers or {})[NAME] or {}
end

---------------------------------------------------------------------------
-- Answers
---------------------------------------------------------------------------

local function audit()
  return { processTime = tostring(math.random(40, 180)), timestamp = c.iso(math.floor(hm.time.now())):gsub("T", " "):gsub("Z", ".000"),
           requestHost = "", serverId = "", environment = "", release = "",
           token = hm.crypto.random_hex(16):upper(), internal = "" }
end

-- The daily quota headers real responses carry (X-Ratelimit-*).
local function quota_headers()
  local day = math.floor(hm.time.now() / 86400)
  local used = hm.shared.incr("sim:" .. NAME .. ":quota:" .. day, 1, 0) or 0
  return {
    ["Content-Type"] = "application/json",
    ["X-Ratelimit-Limit"] = "50000",
    ["X-Ratelimit-Remaining"] = tostring(math.max(0, 50000 - used)),
    ["X-Ratelimit-Reset"] = tostring((day + 1) * 86400),
  }
end

local function ok(body)
  body.auditData = audit()
  return { status = 200, headers = quota_headers(), body = hm.json.encode(body) }
end

-- The JSON error envelope {auditData, error{code, message}}.
local function fail(status, code, message)
  return { status = status, headers = { ["Content-Type"] = "application/json" },
           body = hm.json.encode({ auditData = audit(), error = { code = code, message = message } }) }
end

-- Product errors name the operation like the real ones:
-- "ProductException(<uuid>, CHECK_RATE, Insufficient allotment)".
local function product_error(status, op, message)
  return fail(status, "PRODUCT_ERROR", string.format("ProductException(%s, %s, %s)", hm.crypto.uuid(), op, message))
end

-- A refusal by the Mashery gateway: text/xml "<h1>...</h1>".
local function gateway(status, code, detail, h1, extra)
  local h = { ["Content-Type"] = "text/xml", ["X-Mashery-Error-Code"] = code,
              ["X-Error-Detail-Header"] = detail, ["Server"] = "Mashery Proxy" }
  for k, v in pairs(extra or {}) do h[k] = v end
  return { status = status, headers = h, body = "<h1>" .. h1 .. "</h1>" }
end

local FAULTS = {
  throttle = function()
    return gateway(403, "ERR_403_DEVELOPER_OVER_QPS", "Account Over Queries Per Second Limit",
      "Developer Over Qps", { ["Retry-After"] = "1" })
  end,
  error = function() return fail(500, "SYSTEM_ERROR", "Internal Error. Please contact Hotelbeds support.") end,
}

---------------------------------------------------------------------------
-- Auth
---------------------------------------------------------------------------

function M.signature(key, secret, ts)
  return hm.crypto.sha256_hex(key .. secret .. string.format("%d", ts))
end

-- nil when the request is signed right; otherwise the gateway's refusal.
function M.check_auth(req)
  local conf = cfg()
  local key, secret = conf.api_key or "hb-demo-key", conf.secret or "hb-demo-secret"
  local skew = tonumber((conf.sim or {}).skew_s) or 300
  local got_key, sig = req.headers["api-key"], req.headers["x-signature"]
  if not got_key or got_key == "" or not sig or sig == "" then
    -- UNVERIFIED body: the docs only say "401: api-key or X-Signature missing/wrong"
    return gateway(401, "ERR_401_NOT_AUTHORIZED", "Not Authorized", "Not Authorized")
  end
  if got_key ~= key then
    return gateway(403, "ERR_403_DEVELOPER_INACTIVE", "Account Inactive", "Developer Inactive")
  end
  sig = sig:lower()
  local now = math.floor(hm.time.now())
  for d = 0, skew do
    if hm.crypto.equal(sig, M.signature(key, secret, now - d)) or
       (d > 0 and hm.crypto.equal(sig, M.signature(key, secret, now + d))) then
      return nil
    end
  end
  -- a wrong secret and a clock out of the window look the same from here
  return gateway(403, "ERR_403_NOT_AUTHORIZED", "Not Authorized", "Not Authorized")
end

-- Every supplier route: faults first, then auth, then the handler.
local function route(method, path, handler)
  hm.route(method, BASE .. path, function(req)
    local f = sim.intercept(NAME, req, FAULTS)
    if f then return f end
    local refused = M.check_auth(req)
    if refused then return refused end
    return handler(req)
  end)
end

local function json_body(req)
  local okd, b = pcall(hm.json.decode, req.body or "")
  if not okd or type(b) ~= "table" then return nil end
  return b
end

---------------------------------------------------------------------------
-- Rates
---------------------------------------------------------------------------

-- Two rate plans per room: a non-refundable room-only rate (BOOKABLE) and a
-- flexible bed-and-breakfast rate (RECHECK: must go through /checkrates).
local PLANS = {
  { name = "FIT NRF RO", board = "RO", board_name = "ROOM ONLY", class = "NRF", type = "BOOKABLE", supplement = "0" },
  { name = "FIT FLEX BB", board = "BB", board_name = "BED AND BREAKFAST", class = "NOR", type = "RECHECK",
    supplement = BB_SUPPLEMENT },
}

local function plan_by_name(n)
  for _, p in ipairs(PLANS) do if p.name == n then return p end end
end

local function compact(date) return (date:gsub("-", "")) end
local function expand(d) return d:sub(1, 4) .. "-" .. d:sub(5, 6) .. "-" .. d:sub(7, 8) end

local function split(s, sep)
  local out, i = {}, 1
  while true do
    local j = s:find(sep, i, true)
    if not j then out[#out + 1] = s:sub(i); return out end
    out[#out + 1] = s:sub(i, j - 1)
    i = j + 1
  end
end

local function key_token(parts)
  local secret = cfg().secret or "hb-demo-secret"
  return hm.crypto.sha256_hex(table.concat(parts, "|") .. "#" .. secret):sub(1, 24):upper()
end

-- rateKey as the real one: checkIn|checkOut|W|148|hotel|room|rate|board||rooms~adults~children|ages|N@07~~token
local function make_key(s)
  local parts = { compact(s.check_in), compact(s.check_out), "W", "148", s.hotel, s.room, s.plan.name,
                  s.plan.board, "", s.rooms .. "~" .. s.adults .. "~" .. #s.ages, table.concat(s.ages, ",") }
  return table.concat(parts, "|") .. "|N@07~~" .. key_token(parts)
end

local function parse_key(key)
  if type(key) ~= "string" then return nil end
  local p = split(key, "|")
  if #p ~= 12 then return nil end
  local tail = p[12]
  p[12] = nil
  if tail ~= "N@07~~" .. key_token(p) then return nil end
  local rooms, adults = p[10]:match("^(%d+)~(%d+)~%d+$")
  local plan = plan_by_name(p[7])
  if not rooms or not plan then return nil end
  local ages = {}
  for a in p[11]:gmatch("%d+") do ages[#ages + 1] = tonumber(a) end
  return { check_in = expand(p[1]), check_out = expand(p[2]), hotel = p[5], room = p[6], plan = plan,
           rooms = tonumber(rooms), adults = tonumber(adults), ages = ages }
end

local function room_of(hotel_code, room_code)
  for _, h in ipairs(sim.hotels(NAME, { hotel_code })) do
    for _, r in ipairs(h.rooms) do
      if r.code == room_code then return h, r end
    end
  end
end

-- "2026-08-10T23:59:00+04:00": Hotelbeds states policy times in the hotel's zone (Dubai).
local function dubai_2359(date) return date .. "T23:59:00+04:00" end

-- The Hotelbeds rate object for a stay (s: check_in, check_out, nights, hotel, room, plan, rooms, adults, ages).
local function rate_object(s, room, left, with_comments)
  local nightly = hm.money.add(room.price, s.plan.supplement)
  local one_room = sim.stay_price(nightly, s.check_in, s.nights)
  local net = hm.money.mul(one_room, tostring(s.rooms))
  local first_night = hm.money.mul(sim.stay_price(nightly, s.check_in, 1), tostring(s.rooms))
  local today = c.date(math.floor(hm.time.now() / 86400))
  local policy
  if s.plan.class == "NRF" then
    policy = { amount = net, from = dubai_2359(c.add_days(today, -1)) }           -- charged from now on
  else
    policy = { amount = first_night, from = dubai_2359(c.add_days(s.check_in, -3)) }  -- 1 night from 3 days out
  end
  local tax = hm.money.mul(hm.money.mul(CITY_TAX_AED, tostring(s.nights)), tostring(s.rooms))
  local r = {
    rateKey = make_key(s), rateClass = s.plan.class, rateType = s.plan.type,
    net = net, allotment = left, paymentType = "AT_WEB", packaging = false,
    boardCode = s.plan.board, boardName = s.plan.board_name,
    cancellationPolicies = { policy },
    taxes = { taxes = { { included = false, amount = tax, currency = "AED", type = "TAX",
                          clientAmount = hm.money.round(hm.money.mul(tax, AED_TO_CLIENT), 2),
                          clientCurrency = CURRENCY, subType = "City Tax" } },
              allIncluded = false },
    rooms = s.rooms, adults = s.adults, children = #s.ages,
  }
  if #s.ages > 0 then r.childrenAges = table.concat(s.ages, ",") end
  if with_comments then
    r.rateComments = "Estimated total amount of taxes & fees for this booking:" .. tax ..
      " Utd. Arab Emir. Dirham payable on arrival. Check-in hour 14:00-23:00."
  end
  return r
end

local function hotel_head(h, check_in, check_out)
  local star = h.hotel.star or 3
  return { checkIn = check_in, checkOut = check_out, code = tonumber(h.code) or h.code, name = h.name,
           categoryCode = star .. "EST", categoryName = star .. " STARS",
           destinationCode = data.destination.id, destinationName = data.destination.name,
           zoneCode = 1, zoneName = data.destination.name,
           latitude = string.format("%.14f", h.hotel.lat or 0), longitude = string.format("%.14f", h.hotel.lng or 0) }
end

-- stay from an availability request: { check_in, check_out, nights, rooms, adults, ages } or nil, why
local function stay_of(body)
  local stay = type(body.stay) == "table" and body.stay or {}
  local ci, co = stay.checkIn, stay.checkOut
  if type(ci) ~= "string" or type(co) ~= "string" or not c.day(ci) or not c.day(co) then
    return nil, "stay.checkIn and stay.checkOut are required (yyyy-mm-dd)"
  end
  local nights = c.nights(ci, co)
  if nights < 1 or nights > 30 then return nil, "Invalid stay: checkOut must be 1..30 days after checkIn" end
  local occ = type(body.occupancies) == "table" and body.occupancies[1]
  if type(occ) ~= "table" or not tonumber(occ.rooms) or not tonumber(occ.adults) then
    return nil, "occupancies: property size must be between 1 and 2147483647"
  end
  local ages = {}
  for _, p in ipairs(type(occ.paxes) == "table" and occ.paxes or {}) do
    if p.type == "CH" then ages[#ages + 1] = tonumber(p.age) or 0 end
  end
  -- paxes list the children of every room of the occupancy: keep one room's worth
  local per_room = math.floor(#ages / tonumber(occ.rooms))
  for i = #ages, per_room + 1, -1 do ages[i] = nil end
  return { check_in = ci, check_out = co, nights = nights, rooms = tonumber(occ.rooms),
           adults = tonumber(occ.adults), ages = ages }
end

---------------------------------------------------------------------------
-- Routes
---------------------------------------------------------------------------

local function availability(req)
  local body = json_body(req)
  if not body then return fail(400, "INVALID_REQUEST", "Malformed JSON request") end
  local s, why = stay_of(body)
  if not s then return fail(400, "INVALID_DATA", why) end
  local codes = type(body.hotels) == "table" and type(body.hotels.hotel) == "table" and body.hotels.hotel or {}
  local strs = {}
  for _, code in ipairs(codes) do strs[#strs + 1] = tostring(code) end
  local hotels = {}
  for _, h in ipairs(sim.hotels(NAME, strs)) do
    local out = hotel_head(h)
    out.checkIn, out.checkOut = nil, nil
    out.rooms = {}
    local min, max
    for _, room in ipairs(h.rooms) do
      local left = sim.left(NAME, h.code, room.code)
      if left >= s.rooms then               -- a room without enough left is not offered at all
        local rates = {}
        for _, plan in ipairs(PLANS) do
          local st = { check_in = s.check_in, check_out = s.check_out, nights = s.nights, hotel = h.code,
                       room = room.code, plan = plan, rooms = s.rooms, adults = s.adults, ages = s.ages }
          local r = rate_object(st, room, left, false)
          rates[#rates + 1] = r
          if not min or hm.money.cmp(r.net, min) < 0 then min = r.net end
          if not max or hm.money.cmp(r.net, max) > 0 then max = r.net end
        end
        out.rooms[#out.rooms + 1] = { code = room.code, name = room.name, rates = rates }
      end
    end
    if #out.rooms > 0 then
      out.minRate, out.maxRate, out.currency = min, max, CURRENCY
      hotels[#hotels + 1] = out
    end
  end
  local res = { checkIn = s.check_in, checkOut = s.check_out, total = #hotels }
  if #hotels > 0 then res.hotels = hotels end   -- the real API omits the list when empty
  return ok({ hotels = res })
end

local function checkrates(req)
  local body = json_body(req)
  if not body then return fail(400, "INVALID_REQUEST", "Malformed JSON request") end
  local rooms = type(body.rooms) == "table" and body.rooms or {}
  if #rooms == 0 then return fail(400, "INVALID_DATA", "Invalid data. Error at property rooms: property size must be between 1 and 2147483647") end
  local s = parse_key(rooms[1].rateKey)
  if not s then return fail(400, "INVALID_DATA", "Invalid rateKey") end
  local h, room = room_of(s.hotel, s.room)
  if not h then return product_error(503, "CHECK_RATE", "Hotel not Available") end
  s.nights = c.nights(s.check_in, s.check_out)
  local left = sim.left(NAME, s.hotel, s.room)
  if left < s.rooms then return product_error(503, "CHECK_RATE", "Insufficient allotment") end
  local r = rate_object(s, room, left, true)
  r.rateType = "BOOKABLE"                       -- checked: bookable now
  local hotel = hotel_head(h, s.check_in, s.check_out)
  hotel.rooms = { { code = room.code, name = room.name, rates = { r } } }
  hotel.totalNet, hotel.currency = r.net, CURRENCY
  hotel.paymentDataRequired = false
  hotel.modificationPolicies = { cancellation = true, modification = true }
  return ok({ hotel = hotel })
end

local function booking_answer(rec) return ok({ booking = rec.booking }) end

local function create_booking(req)
  local body = json_body(req)
  if not body then return fail(400, "INVALID_REQUEST", "Malformed JSON request") end
  local holder = type(body.holder) == "table" and body.holder or {}
  if type(holder.name) ~= "string" or type(holder.surname) ~= "string" then
    return fail(400, "INVALID_DATA", "Invalid data. Error at property holder: name and surname are required")
  end
  local cref = body.clientReference
  if type(cref) ~= "string" or cref == "" then
    return fail(400, "INVALID_DATA", "Invalid data. Error at property clientReference: may not be null")
  end
  local rooms = type(body.rooms) == "table" and body.rooms or {}
  local s = rooms[1] and parse_key(rooms[1].rateKey)
  if not s then return fail(400, "INVALID_DATA", "Invalid rateKey") end
  -- the same client reference again: the booking it already made (no second room taken)
  local existing = sim.ref_by_client(NAME, cref)
  if existing then
    local rec = sim.get_booking(NAME, existing)
    if rec then return booking_answer(rec) end
  end
  local h, room = room_of(s.hotel, s.room)
  if not h then return product_error(503, "BOOKING", "Hotel not Available") end
  s.nights = c.nights(s.check_in, s.check_out)
  if not sim.take(NAME, s.hotel, s.room, s.rooms) then
    return product_error(503, "BOOKING", "Insufficient allotment")
  end
  local ref = "148-" .. sim.next_ref(NAME)
  if not sim.link_client_ref(NAME, cref, ref) then      -- lost a race with the same reference
    sim.give(NAME, s.hotel, s.room, s.rooms)
    local rec = sim.get_booking(NAME, sim.ref_by_client(NAME, cref))
    if rec then return booking_answer(rec) end
    return fail(500, "SYSTEM_ERROR", "Booking confirmation error")
  end
  local r = rate_object(s, room, nil, true)
  r.rateKey, r.rateType, r.allotment = nil, nil, nil
  local paxes = {}
  for _, p in ipairs(type(rooms[1].paxes) == "table" and rooms[1].paxes or {}) do
    paxes[#paxes + 1] = { roomId = p.roomId or 1, type = p.type or "AD", name = p.name, surname = p.surname, age = p.age }
  end
  if #paxes == 0 then paxes[1] = { roomId = 1, type = "AD", name = holder.name, surname = holder.surname } end
  local hotel = hotel_head(h, s.check_in, s.check_out)
  hotel.rooms = { { status = "CONFIRMED", id = 1, code = room.code, name = room.name, paxes = paxes, rates = { r } } }
  hotel.totalNet, hotel.currency = r.net, CURRENCY
  hotel.supplier = { name = "HOTELBEDS DMCC", vatNumber = "100035906500003" }
  local booking = {
    reference = ref, clientReference = cref, creationDate = c.date(math.floor(hm.time.now() / 86400)),
    status = "CONFIRMED", modificationPolicies = { cancellation = true, modification = true },
    creationUser = hm.crypto.md5_hex(cfg().api_key or "hb-demo-key"),
    holder = { name = holder.name:upper(), surname = holder.surname:upper() },
    hotel = hotel, remark = body.remark,
    invoiceCompany = { code = "E14", company = "HOTELBEDS S.L.U.", registrationNumber = "ESB57218372" },
    totalNet = tonumber(r.net), pendingAmount = tonumber(r.net), currency = CURRENCY,   -- numbers here, as the real one
  }
  local rec = { booking = booking, hotel = s.hotel, room = s.room, rooms = s.rooms }
  sim.put_booking(NAME, ref, rec)
  return booking_answer(rec)
end

local function not_found(op)
  return product_error(404, op, "Booking does not exist")
end

local function booking_detail(req)
  local rec = sim.get_booking(NAME, req.params.ref)
  if not rec then return not_found("BOOKING_DETAIL") end
  return booking_answer(rec)
end

local function booking_list(req)
  local a = req.args or {}
  if not a.start or not a["end"] then
    return fail(400, "INVALID_REQUEST", "start and end dates are required")
  end
  local list = {}
  local ref = a.clientReference and sim.ref_by_client(NAME, a.clientReference)
  local rec = ref and sim.get_booking(NAME, ref)
  if rec then list[1] = rec.booking end
  local out = { from = 1, to = #list, total = #list }
  if #list > 0 then out.bookings = list end
  return ok({ bookings = out })
end

-- The fee due when cancelling now: the last policy whose `from` has passed.
local function fee_now(booking)
  local now, fee = hm.time.now(), "0.00"
  for _, room in ipairs(booking.hotel.rooms) do
    local best, best_t = nil, nil
    for _, r in ipairs(room.rates) do
      for _, p in ipairs(r.cancellationPolicies or {}) do
        local t = c.parse_time(p.from)
        if t and t <= now and (not best_t or t > best_t) then best, best_t = p.amount, t end
      end
    end
    if best then fee = hm.money.add(fee, best) end
  end
  return fee
end

local function cancel_booking(req)
  local ref = req.params.ref
  local rec = sim.get_booking(NAME, ref)
  if not rec then return not_found("CANCEL") end
  local b = rec.booking
  local flag = (req.args or {}).cancellationFlag or "CANCELLATION"
  if b.status == "CANCELLED" then return booking_answer(rec) end
  local fee = fee_now(b)
  if flag == "SIMULATION" then
    local copy = hm.json.decode(hm.json.encode(rec))
    copy.booking.hotel.cancellationAmount = tonumber(fee)
    return booking_answer(copy)
  end
  b.status = "CANCELLED"
  b.cancellationReference = hm.crypto.random_hex(10)
  b.modificationPolicies = { cancellation = false, modification = false }
  for _, room in ipairs(b.hotel.rooms) do
    room.status = "CANCELLED"
    for _, r in ipairs(room.rates) do r.net = "0.00" end
  end
  b.hotel.totalNet, b.hotel.totalSellingRate = fee, "0"
  b.hotel.cancellationAmount = tonumber(fee)
  b.totalNet, b.pendingAmount, b.totalSellingRate = tonumber(fee), tonumber(fee), 0
  sim.put_booking(NAME, ref, rec)
  sim.give(NAME, rec.hotel, rec.room, rec.rooms)
  return booking_answer(rec)
end

sim.control_routes(NAME)
-- Webhooks (issue 4): sold-out rooms, price changes and new availability are
-- pushed to the gateway when config.suppliers.hotelbeds.webhooks is true (body
-- format: connectors/hotelbeds.lua M.webhook).
local WH_TYPES = { sold_out = "ROOM_SOLD_OUT", price = "PRICE_CHANGED", available = "NEW_AVAILABILITY" }
sim.on_change(NAME, function(kind, hotel, room)
  sim.push_webhook(NAME, hm.json.encode({ events = { {
    type = WH_TYPES[kind], hotelCode = tonumber(hotel) or hotel, roomCode = room } } }))
end)

route("GET", "/status", function() return ok({ status = "OK" }) end)
route("POST", "/hotels", availability)
route("POST", "/checkrates", checkrates)
route("POST", "/bookings", create_booking)
route("GET", "/bookings", booking_list)
route("GET", "/bookings/{ref}", booking_detail)
route("DELETE", "/bookings/{ref}", cancel_booking)

function M.self_check()
  local n = 0
  for _ in pairs(data.by_supplier[NAME] or {}) do n = n + 1 end
  if n == 0 then return false, "no hotels for hotelbeds in data/dubai.lua" end
  local s = { check_in = "2026-12-01", check_out = "2026-12-03", hotel = "162651", room = "STU.ST",
              plan = PLANS[1], rooms = 1, adults = 2, ages = {} }
  local back = parse_key(make_key(s))
  if not back or back.room ~= "STU.ST" or back.check_out ~= "2026-12-03" then
    return false, "rateKey round trip broken"
  end
  return true
end

return M
