-- suppliers/expedia.lua -- a simulated Expedia Rapid v3 under /sim/expedia/v3/...,
-- shaped after the real captures and OpenAPI examples in
-- shared/fixtures/expedia_rapid/ and shared/SUPPLIERS.md §2.
--
--   GET    /v3/properties/availability?checkin&checkout&occupancy...&property_id...
--   GET    /v3/properties/{pid}/rooms/{rid}/rates/{rate}?token=     price check
--   POST   /v3/itineraries?token=                                   create itinerary (201)
--   GET    /v3/itineraries/{id}?token=|email=                       retrieve
--   GET    /v3/itineraries?affiliate_reference_id=&email=           search by our reference
--   DELETE /v3/itineraries/{id}/rooms/{room}?token=|email=          cancel one room (204)
--
-- Auth as the real API: Authorization: EAN APIKey=..,Signature=hex sha512(key..secret..ts),
-- timestamp=.. within +-5 minutes (config sim.skew_s). Refusals are 401 with a
-- request_unauthenticated body (the body text is UNVERIFIED: no capture of it).
-- Throttling is 429 too_many_requests (body from the OpenAPI example) with Retry-After.
-- The `Test` header picks scenarios like the real sandbox (price check:
-- available|price_changed|sold_out|service_unavailable|unknown_internal_error;
-- book: rooms_unavailable|price_mismatch|service_unavailable).
--
-- Tokens are stateless: base64url(JSON) of what the next step needs (the real
-- ones are opaque too). Prices: data/dubai.lua nightly price per room (USD)
-- with the weekend uplift (sim.stay_price), + 12.5 % tax_and_service_fee per
-- night, + a 10 % property_fee per stay (collected by Expedia, as in the capture),
-- + a mandatory_tax of 4.08 per room-night paid at the property (Tourism Dirham).
local sim = require("suppliers.simlib")
local c = require("lib.connector")

local NAME = "expedia"
local data = sim.data
local BASE = "/sim/expedia"
local CURRENCY = data.currency[NAME]
local TAX_RATE = "0.125"
local PROPERTY_FEE_RATE = "0.10"
local TOURISM_TAX = "4.08"             -- per room per night, paid at the property
local NONREF_FACTOR = "0.95"           -- the non-refundable breakfast rate is 5 % cheaper

local M = {}

local function cfg() return (hm.config.suppliers or {})[NAME] or {} end

---------------------------------------------------------------------------
-- Answers
---------------------------------------------------------------------------

local function headers(extra)
  local h = {
    ["Content-Type"] = "application/json",
    ["Rate-Limit-Day-Remaining"] = "100",
    ["Rate-Limit-Day-Reset"] = tostring((math.floor(hm.time.now() / 86400) + 1) * 86400 * 1000),
    ["Rate-Limit-Reduction-Status"] = "inactive",
    ["Transaction-Id"] = hm.crypto.uuid(),
    ["Region"] = "us-west-2",
  }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

local function ok(body, status) return { status = status or 200, headers = headers(), json = body } end

local function fail(status, typ, message, errors, extra_headers)
  return { status = status, headers = headers(extra_headers),
           json = { type = typ, message = message, errors = errors } }
end

local function invalid(field, message)
  return fail(400, "invalid_input", "An invalid request was sent in, please check the nested errors for details.",
    { { type = field .. ".invalid", message = message, fields = { { name = field, type = "querystring" } } } })
end

local FAULTS = {
  throttle = function()
    return fail(429, "too_many_requests", "You have reached your capacity for this type of request.", nil,
      { ["Retry-After"] = "1", ["Rate-Limit-Minute-Remaining"] = "0" })
  end,
  error = function()
    return fail(500, "unknown_internal_error", "An internal server error has occurred.")
  end,
}

---------------------------------------------------------------------------
-- Auth
---------------------------------------------------------------------------

function M.signature(key, secret, ts)
  return hm.crypto.sha512_hex(key .. secret .. string.format("%d", ts))
end

local function unauthenticated()
  return fail(401, "request_unauthenticated",
    "Data required to authenticate your request is missing or invalid. Ensure that your request follows the guidelines in our documentation.",
    nil, { ["WWW-Authenticate"] = "EAN" })
end

-- nil when the request is signed right; otherwise Expedia's refusal.
function M.check_auth(req)
  local conf = cfg()
  local key, secret = conf.api_key or "ex-demo-key", conf.secret or "ex-demo-secret"
  local skew = tonumber((conf.sim or {}).skew_s) or 300
  local h = req.headers["authorization"] or ""
  local params = h:match("^EAN%s+(.*)$")       -- the "EAN" prefix is required
  if not params then return unauthenticated() end
  local p = {}
  for k, v in params:gmatch("%s*([%w_]+)%s*=%s*([^,]*)") do p[k:lower()] = v:gsub("%s+$", "") end
  local ts = tonumber(p.timestamp)
  if not p.apikey or not p.signature or not ts then return unauthenticated() end
  if p.apikey ~= key then return unauthenticated() end
  if math.abs(hm.time.now() - ts) > skew then return unauthenticated() end
  if not hm.crypto.equal(p.signature:lower(), M.signature(key, secret, ts)) then return unauthenticated() end
  return nil
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

---------------------------------------------------------------------------
-- Helpers: query strings with repeated names, tokens, prices
---------------------------------------------------------------------------

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- name -> list of values (occupancy and property_id repeat)
local function query_lists(req)
  local out = {}
  for item in (req.query or ""):gmatch("[^&]+") do
    local k, v = item:match("^([^=]*)=?(.*)$")
    k, v = unescape(k), unescape(v)
    out[k] = out[k] or {}
    table.insert(out[k], v)
  end
  return out
end

local function first(q, name) return q[name] and q[name][1] end

local function token(t) return hm.crypto.base64url_encode(hm.json.encode(t)) end
local function untoken(s)
  local raw = s and hm.crypto.base64url_decode(s)
  local okd, t = pcall(hm.json.decode, raw or "")
  if okd and type(t) == "table" then return t end
  return nil
end

-- "2-9,4" -> adults 2, child ages {9, 4}
local function parse_occupancy(s)
  local a, kids = tostring(s):match("^(%d+)%-?([%d,]*)$")
  if not a or tonumber(a) < 1 then return nil end
  local ages = {}
  for age in kids:gmatch("%d+") do ages[#ages + 1] = tonumber(age) end
  return { adults = tonumber(a), ages = ages }
end

local function find_room(hotel_code, room_code)
  local h = data.by_supplier[NAME] and data.by_supplier[NAME][hotel_code]
  if not h then return nil end
  for _, r in ipairs(data.rooms_of(NAME, h)) do
    if r.code == room_code then return h, r end
  end
  return nil
end

-- The two rate plans every room has: "<room>1" refundable room only,
-- "<room>2" non-refundable with breakfast.
local function plans(room)
  return {
    { id = room.code .. "1", refundable = true, nightly = room.price, amenities = nil },
    { id = room.code .. "2", refundable = false, nightly = hm.money.round(hm.money.mul(room.price, NONREF_FACTOR), 2),
      amenities = { ["1073742786"] = { id = "1073742786", name = "Free breakfast" } } },
  }
end

local function plan_of(room, rate_id)
  for _, p in ipairs(plans(room)) do if p.id == rate_id then return p end end
  return nil
end

local function money_pair(v)
  return { billable_currency = { value = v, currency = CURRENCY }, request_currency = { value = v, currency = CURRENCY } }
end

-- occupancy_pricing entry for one room of this plan over the stay.
local function pricing(plan, check_in, nights)
  local nightly, exclusive, taxes = {}, "0", "0"
  for i = 0, nights - 1 do
    local base = sim.stay_price(plan.nightly, c.add_days(check_in, i), 1)
    local tax = hm.money.round(hm.money.mul(base, TAX_RATE), 2)
    nightly[#nightly + 1] = { { type = "base_rate", value = base, currency = CURRENCY },
                              { type = "tax_and_service_fee", value = tax, currency = CURRENCY } }
    exclusive, taxes = hm.money.add(exclusive, base), hm.money.add(taxes, tax)
  end
  local property_fee = hm.money.round(hm.money.mul(exclusive, PROPERTY_FEE_RATE), 2)
  local inclusive = hm.money.round(hm.money.add(hm.money.add(exclusive, taxes), property_fee), 2)
  local at_hotel = hm.money.round(hm.money.mul(TOURISM_TAX, tostring(nights)), 2)
  return {
    nightly = nightly,
    stay = { { type = "property_fee", value = property_fee, currency = CURRENCY } },
    fees = { mandatory_tax = money_pair(at_hotel) },
    totals = {
      inclusive = money_pair(inclusive),
      exclusive = money_pair(hm.money.round(exclusive, 2)),
      property_fees = money_pair(at_hotel),
      property_inclusive = money_pair(hm.money.round(hm.money.add(inclusive, at_hotel), 2)),
    },
  }
end

-- Distinct occupancies priced once each (as Expedia does); total over all requested rooms.
local function occupancy_pricing(plan, occs, check_in, nights)
  local op, total = {}, "0"
  for _, o in ipairs(occs) do
    op[o] = op[o] or pricing(plan, check_in, nights)
    total = hm.money.add(total, op[o].totals.inclusive.billable_currency.value)
  end
  return op, hm.money.round(total, 2)
end

-- Dubai is UTC+4; penalties are written in the property's local time, like the capture.
local function penalties(plan, check_in)
  if plan.refundable then
    return { { currency = CURRENCY, start = c.add_days(check_in, -2) .. "T00:00:00.000+04:00",
               ["end"] = check_in .. "T23:59:00.000+04:00", nights = "1" } }
  end
  local now = c.iso(math.floor(hm.time.now())):gsub("Z$", ".000+00:00")
  return { { currency = CURRENCY, start = now, ["end"] = check_in .. "T23:59:00.000+04:00", percent = "100%" } }
end

local function bed_description(room)
  return room.name:match(",%s*(.+)$") or "1 King Bed"
end

---------------------------------------------------------------------------
-- Availability
---------------------------------------------------------------------------

local function stay_of(q)
  local ci, co = first(q, "checkin"), first(q, "checkout")
  if not ci or not c.day(ci) then return nil, invalid("checkin", "Checkin is required (YYYY-MM-DD).") end
  if not co or not c.day(co) then return nil, invalid("checkout", "Checkout is required (YYYY-MM-DD).") end
  local nights = c.nights(ci, co)
  if nights < 1 or nights > 28 then return nil, invalid("checkout", "Checkout must be 1 to 28 days after checkin.") end
  local occs = q.occupancy or {}
  if #occs == 0 or #occs > 8 then return nil, invalid("occupancy", "Between 1 and 8 occupancy values are required.") end
  for _, o in ipairs(occs) do
    if not parse_occupancy(o) then return nil, invalid("occupancy", "Occupancy is invalid: " .. o) end
  end
  return { check_in = ci, check_out = co, nights = nights, occs = occs }
end

local function rate_answer(hotel_code, room, plan, stay, left)
  local op, total = occupancy_pricing(plan, stay.occs, stay.check_in, stay.nights)
  local pc = token({ h = hotel_code, r = room.code, t = plan.id, ci = stay.check_in, co = stay.check_out,
                     o = stay.occs, n = total })
  return {
    id = plan.id, status = "available", available_rooms = left,
    refundable = plan.refundable, member_deal_available = false,
    sale_scenario = { package = false, member = false, corporate = false, distribution = false },
    merchant_of_record = "expedia",
    amenities = plan.amenities,
    links = { payment_options = { method = "GET", href = "/v3/properties/" .. hotel_code .. "/payment-options?token=" .. pc } },
    bed_groups = { ["37316"] = {
      id = "37316", description = bed_description(room),
      links = { price_check = { method = "GET",
        href = "/v3/properties/" .. hotel_code .. "/rooms/" .. room.code .. "/rates/" .. plan.id .. "?token=" .. pc } },
      configuration = { { type = "Bed", size = "King", quantity = 1 } } } },
    cancel_penalties = penalties(plan, stay.check_in),
    occupancy_pricing = op,
  }
end

route("GET", "/v3/properties/availability", function(req)
  local q = query_lists(req)
  local stay, bad = stay_of(q)
  if not stay then return bad end
  local ids = q.property_id or {}
  if #ids == 0 or #ids > 250 then return invalid("property_id", "Between 1 and 250 property_id values are required.") end
  local out = {}
  for _, h in ipairs(sim.hotels(NAME, ids)) do
    local rooms = {}
    for _, room in ipairs(h.rooms) do
      local left = sim.left(NAME, h.code, room.code)
      if left >= #stay.occs and left > 0 then       -- a sold-out room is not offered at all
        local rates = {}
        for _, plan in ipairs(plans(room)) do rates[#rates + 1] = rate_answer(h.code, room, plan, stay, left) end
        rooms[#rooms + 1] = { id = room.code, room_name = room.name, rates = rates }
      end
    end
    if #rooms > 0 then
      out[#out + 1] = { property_id = h.code, status = "available", rooms = rooms, score = 1000 }
    end
  end
  -- UNVERIFIED: whether "nothing available" is 200 [] or 404; the spec lists both codes.
  return { status = 200, headers = headers(), body = #out == 0 and "[]" or hm.json.encode(out) }
end)

---------------------------------------------------------------------------
-- Price check
---------------------------------------------------------------------------

local function shop_link(t)
  return { method = "GET", href = "/v3/properties/availability?token=" .. token({ h = t.h }) }
end

route("GET", "/v3/properties/{pid}/rooms/{rid}/rates/{rate}", function(req)
  local t = untoken(req.args.token)
  local p = req.params
  if not t or t.h ~= p.pid or t.r ~= p.rid or t.t ~= p.rate then
    return invalid("token", "Token is invalid or expired.")
  end
  local test = req.headers["test"]
  if test == "service_unavailable" then return fail(503, "service_unavailable", "This service is currently unavailable.") end
  if test == "unknown_internal_error" then return FAULTS.error() end
  local _, room = find_room(t.h, t.r)
  local plan = room and plan_of(room, t.t)
  if not plan then return fail(404, "resource_not_found", "The requested resource could not be found.") end
  if test == "sold_out" or sim.left(NAME, t.h, t.r) < #t.o then
    return ok({ status = "sold_out", links = { shop = shop_link(t) } })
  end
  local nights = c.nights(t.ci, t.co)
  local op, total = occupancy_pricing(plan, t.o, t.ci, nights)
  local status = (test == "price_changed" or hm.money.cmp(total, t.n) ~= 0) and "price_changed" or "available"
  local bt = { h = t.h, r = t.r, t = t.t, ci = t.ci, co = t.co, o = t.o, n = total, book = true }
  return ok({
    status = status, occupancy_pricing = op,
    links = { book = { method = "POST", href = "/v3/itineraries?token=" .. token(bt),
                       expires = c.iso(math.floor(hm.time.now()) + 1800):gsub("Z$", ".000Z") },
              additional_rates = shop_link(t) },
  })
end)

---------------------------------------------------------------------------
-- Itineraries
---------------------------------------------------------------------------

local function json_body(req)
  local okd, b = pcall(hm.json.decode, req.body or "")
  if not okd or type(b) ~= "table" then return nil end
  return b
end

local function body_invalid(field, message)
  return fail(400, "invalid_input", "An invalid request was sent in, please check the nested errors for details.",
    { { type = field .. ".invalid", message = message, fields = { { name = field, type = "body" } } } })
end

local function itinerary_answer(b)
  local out = {}
  for k, v in pairs(b) do if k:sub(1, 1) ~= "_" then out[k] = v end end
  return out
end

local function check_booking_body(b, nrooms)
  if not b then return body_invalid("body", "Body must be a JSON object.") end
  local ref = b.affiliate_reference_id
  if type(ref) ~= "string" or #ref < 3 or #ref > 28 then
    return body_invalid("affiliate_reference_id", "Affiliate reference id must be 3 to 28 characters.")
  end
  if type(b.email) ~= "string" or not b.email:match("^[^@%s]+@[^@%s]+$") then return body_invalid("email", "Email is invalid.") end
  if type(b.phone) ~= "table" or not b.phone.number then return body_invalid("phone", "Phone is required.") end
  if type(b.rooms) ~= "table" or #b.rooms ~= nrooms then
    return body_invalid("rooms", "Number of rooms must match the number of occupancies.")
  end
  for i, r in ipairs(b.rooms) do
    if type(r.given_name) ~= "string" or r.given_name == "" or type(r.family_name) ~= "string" or r.family_name == "" then
      return body_invalid("rooms[" .. (i - 1) .. "].given_name", "Given and family name are required.")
    end
  end
  if type(b.payments) ~= "table" or #b.payments == 0 then return body_invalid("payments", "Payments are required.") end
  return nil
end

route("POST", "/v3/itineraries", function(req)
  local t = untoken(req.args.token)
  if not t or not t.book then return invalid("token", "Token is invalid or expired.") end
  local b = json_body(req)
  local bad = check_booking_body(b, #t.o)
  if bad then return bad end
  local test = req.headers["test"]
  if test == "service_unavailable" then return fail(503, "service_unavailable", "This service is currently unavailable.") end
  local _, room = find_room(t.h, t.r)
  local plan = room and plan_of(room, t.t)
  if not plan then return fail(404, "resource_not_found", "The requested resource could not be found.") end
  local nights = c.nights(t.ci, t.co)
  local _, total = occupancy_pricing(plan, t.o, t.ci, nights)
  if test == "price_mismatch" or hm.money.cmp(total, t.n) ~= 0 then
    return fail(409, "price_mismatch", "Payment amount did not match current price, please check price and try again.")
  end
  if test == "rooms_unavailable" or not sim.take(NAME, t.h, t.r, #t.o) then
    return fail(410, "rooms_unavailable", "One or more requested rooms are unavailable.")
  end
  local id = string.format("7556%09d", sim.next_ref(NAME))
  if not sim.link_client_ref(NAME, b.affiliate_reference_id, id) then
    sim.give(NAME, t.h, t.r, #t.o)
    return fail(400, "invalid_input", "An invalid request was sent in, please check the nested errors for details.",
      { { type = "duplicate_itinerary", message = "An itinerary already exists with this affiliate reference id.",
          fields = { { name = "affiliate_reference_id", type = "body", value = b.affiliate_reference_id } } } })
  end
  local tok = hm.crypto.random_hex(24)
  local rooms = {}
  for i, o in ipairs(t.o) do
    local occ = parse_occupancy(o)
    local rid = hm.crypto.uuid()
    local g = b.rooms[i]
    rooms[i] = {
      id = rid, confirmation_id = { expedia = id .. tostring(i), property = "GS" .. id:sub(-6) .. i },
      bed_group_id = "37316", checkin = t.ci, checkout = t.co,
      number_of_adults = occ.adults, child_ages = occ.ages,
      given_name = g.given_name, family_name = g.family_name, status = "booked",
      smoking = g.smoking == true, special_request = g.special_request,
      rate = { id = plan.id, merchant_of_record = "expedia", refundable = plan.refundable,
               cancel_penalties = penalties(plan, t.ci), pricing = pricing(plan, t.ci, nights) },
      links = { cancel = { method = "DELETE", href = "/v3/itineraries/" .. id .. "/rooms/" .. rid .. "?token=" .. tok } },
    }
  end
  local it = {
    itinerary_id = id, property_id = t.h, affiliate_reference_id = b.affiliate_reference_id,
    creation_date_time = c.iso(math.floor(hm.time.now())), email = b.email, phone = b.phone,
    rooms = rooms, _token = tok, _room = t.r,
  }
  sim.put_booking(NAME, id, it)
  return ok({ itinerary_id = id, links = { retrieve = { method = "GET", href = "/v3/itineraries/" .. id .. "?token=" .. tok } } }, 201)
end)

local function not_found()
  return fail(404, "resource_not_found", "The requested resource could not be found.")
end

-- An itinerary is reachable with its token or with the e-mail it was booked with.
local function reachable(it, req)
  if not it then return false end
  local tok, email = req.args.token, req.args.email
  return (tok and hm.crypto.equal(tok, it._token)) or (email and email:lower() == tostring(it.email):lower())
end

route("GET", "/v3/itineraries/{id}", function(req)
  local it = sim.get_booking(NAME, req.params.id)
  if not reachable(it, req) then return not_found() end
  return ok(itinerary_answer(it))
end)

route("GET", "/v3/itineraries", function(req)
  local ref, email = req.args.affiliate_reference_id, req.args.email
  if not ref or not email then return invalid("affiliate_reference_id", "affiliate_reference_id and email are required.") end
  local id = sim.ref_by_client(NAME, ref)
  local it = id and sim.get_booking(NAME, id)
  if not it or tostring(it.email):lower() ~= email:lower() then return not_found() end
  return { status = 200, headers = headers(), body = "[" .. hm.json.encode(itinerary_answer(it)) .. "]" }
end)

route("DELETE", "/v3/itineraries/{id}/rooms/{room}", function(req)
  local it = sim.get_booking(NAME, req.params.id)
  if not reachable(it, req) then return not_found() end
  for _, r in ipairs(it.rooms) do
    if r.id == req.params.room then
      if r.status == "canceled" then return fail(400, "room_already_cancelled", "Room is already cancelled.") end
      r.status = "canceled"
      sim.put_booking(NAME, it.itinerary_id, it)
      sim.give(NAME, it.property_id, it._room, 1)
      return { status = 204, headers = headers() }
    end
  end
  return not_found()
end)

sim.control_routes(NAME)

-- Quick consistency check of the price arithmetic (used by tests).
function M.self_check()
  local plan = { nightly = "100.00" }
  local p = pricing(plan, "2026-12-06", 2)        -- Sunday + Monday: no weekend uplift
  assert(p.totals.exclusive.billable_currency.value == "200.00")
  assert(p.totals.inclusive.billable_currency.value == "245.00")   -- 200 + 25 tax + 20 property fee
  return true
end

return M
