-- connectors/expedia.lua -- Expedia Rapid API v3 (JSON, HATEOAS links with tokens).
--
-- Wire format: shared/SUPPLIERS.md §2, the OpenAPI examples and the real captures
-- (smf_*) in shared/fixtures/expedia_rapid/. Flow:
--   search      GET    {base}/v3/properties/availability?checkin&checkout&occupancy...&property_id...
--   check_avail GET    {base}<bed_groups[].links.price_check.href>   (status available|price_changed|sold_out)
--   book        POST   {base}<price check links.book.href>            (201 {itinerary_id, links.retrieve})
--   query_order GET    {base}/v3/itineraries/{id}?email=  or  /v3/itineraries?affiliate_reference_id=&email=
--   cancel      DELETE {base}<rooms[].links.cancel.href>  one call per itinerary room (202/204, no body)
-- Auth: Authorization: EAN APIKey=<key>,Signature=<hex sha512(key..secret..ts)>,timestamp=<unix s>.
--
-- Config (config.suppliers.expedia): base_url (host root, e.g. "https://test.ean.com"; a trailing
-- "/v3" is tolerated), api_key, secret, optional email (the agency mailbox sent on every itinerary
-- and used to find it again; see booking_email), customer_ip, language, sales_channel.
local c = require("lib.connector")

local M = {
  id = "expedia",
  features = { webhooks = false, content = false },
  limits = { timeout_ms = 300, qps = 50 },
}

local val = c.val
local money = hm.money

---------------------------------------------------------------------------
-- Transport: URL, signature, error mapping
---------------------------------------------------------------------------

-- Links in Expedia answers are host-relative ("/v3/properties/..."), so the base is the host root.
local function base(ctx)
  return (tostring(ctx.config.base_url or "https://test.ean.com"):gsub("/+$", ""):gsub("/v3$", ""))
end

local enc = c.urlencode

-- query string from a list of {name, value} pairs (Expedia repeats occupancy and property_id)
local function query(pairs_list)
  local out = {}
  for _, p in ipairs(pairs_list) do out[#out + 1] = enc(p[1]) .. "=" .. enc(p[2]) end
  return table.concat(out, "&")
end

function M.signature(api_key, secret, ts)
  return hm.crypto.sha512_hex(api_key .. secret .. string.format("%d", ts))
end

-- The "EAN" prefix is required; Expedia allows +-5 minutes of clock skew.
function M.auth_header(api_key, secret, ts)
  return string.format("EAN APIKey=%s,Signature=%s,timestamp=%d", api_key, M.signature(api_key, secret, ts), ts)
end

local function headers(ctx, with_body)
  local cfg = ctx.config
  local h = {
    ["Authorization"] = M.auth_header(tostring(cfg.api_key or ""), tostring(cfg.secret or ""),
      math.floor(hm.time.now())),
    ["Accept"] = "application/json",
    -- Customer-Ip is required on booking operations; the end customer's IP is not known here.
    ["Customer-Ip"] = tostring(cfg.customer_ip or "127.0.0.1"),
    ["Customer-Session-Id"] = tostring(ctx.request_id or ""),
    ["User-Agent"] = "hotelmux/1.0",
    -- Accept-Encoding (gzip) is left to curl, which offers and decodes it itself.
  }
  if with_body then h["Content-Type"] = "application/json" end
  return h
end

-- Error bodies: {type, message, errors[{type, message, fields}]}. The nested
-- types are the specific ones (invalid_input -> duplicate_itinerary).
local THROTTLE = { too_many_requests = true }
local SOLD_OUT = { sold_out = true, rooms_unavailable = true }

local function error_types(doc)
  local t = { tostring(val(doc.type) or "") }
  for _, e in ipairs(val(doc.errors) or {}) do
    if type(e) == "table" and val(e.type) then t[#t + 1] = tostring(e.type) end
  end
  return t
end

local function body_error(res, doc)
  local types = error_types(doc)
  local msg = "expedia " .. table.concat(types, "/") .. ": " .. tostring(val(doc.message) or "")
  local extra = { status = res.status, code = types[#types], retry_after = c.retry_after(res) }
  for _, t in ipairs(types) do
    if THROTTLE[t] then return c.err("throttled", msg, extra) end
    if t == "duplicate_itinerary" then return c.err("duplicate", msg, extra) end
    if t == "request_unauthenticated" or t == "request_unauthorized" then return c.err("auth", msg, extra) end
    if t == "resource_not_found" or t == "itinerary_not_found" then return c.err("not_found", msg, extra) end
    if SOLD_OUT[t] or t == "price_mismatch" then return c.err("supplier", msg, extra) end
  end
  if res.status == 429 then return c.err("throttled", msg, extra) end
  if res.status == 401 or res.status == 403 then return c.err("auth", msg, extra) end
  if res.status == 404 then return c.err("not_found", msg, extra) end
  if res.status == 409 then return c.err("duplicate", msg, extra) end
  if res.status >= 400 and res.status < 500 then return c.err("bad_request", msg, extra) end
  return c.err("supplier", msg, extra)
end

-- The real captures (smf_*) were recorded by a tool that wraps the body as
-- {"body": <real body>, "headers": {...}, "httpStatusCode": n}; unwrap that.
local function unwrap(doc)
  if type(doc) == "table" and val(doc.httpStatusCode) ~= nil and val(doc.body) ~= nil then
    return val(doc.body)
  end
  return doc
end

local function is_error_body(doc)
  return type(doc) == "table" and doc[1] == nil and type(val(doc.type)) == "string" and val(doc.message) ~= nil
end

-- One call. Returns true, doc (nil for an empty body) or false, typed error.
local function call(ctx, method, href, payload)
  local res, e = c.http(ctx, { method = method, url = base(ctx) .. href,
    headers = headers(ctx, payload ~= nil), body = payload and hm.json.encode(payload) or nil })
  if not res then return false, e end
  local body = res.body or ""
  local doc
  if body:match("%S") then
    local ok, v = pcall(hm.json.decode, body)
    if ok and type(v) == "table" then doc = unwrap(v) end
  end
  if res.status >= 400 or is_error_body(doc) then
    if doc and is_error_body(doc) then return false, body_error(res, doc) end
    return false, c.check_http(res) or c.err("bad_response", "expedia: error without a body " .. res.status)
  end
  if body:match("%S") and doc == nil then
    return false, c.err("bad_response", "expedia: body is not JSON: " .. body:sub(1, 80), { status = res.status })
  end
  return true, doc
end

---------------------------------------------------------------------------
-- Opaque rate key: everything check/book need, base64url(JSON)
---------------------------------------------------------------------------

local function encode_key(k) return hm.crypto.base64url_encode(hm.json.encode(k)) end

local function decode_key(s)
  local raw = type(s) == "string" and hm.crypto.base64url_decode(s)
  local ok, k = pcall(hm.json.decode, raw or "")
  if not ok or type(k) ~= "table" then return nil, c.err("bad_request", "expedia: not an expedia rate key") end
  return k
end

---------------------------------------------------------------------------
-- Mapping: prices, taxes, cancel penalties, board
---------------------------------------------------------------------------

-- "2-9,4" = 2 adults + children aged 9 and 4 (one entry per room)
local function occupancy(room)
  local s = tostring(tonumber(room.adults) or 2)
  local ages = {}
  for _, a in ipairs(room.children or {}) do ages[#ages + 1] = tostring(tonumber(a)) end
  if #ages > 0 then s = s .. "-" .. table.concat(ages, ",") end
  return s
end

local function occupancies(rooms)
  local out = {}
  for _, r in ipairs(rooms or {}) do out[#out + 1] = occupancy(r) end
  if #out == 0 then out[1] = "2" end
  return out
end

-- The occupancy_pricing entries that price the requested rooms. Expedia prices
-- one room per distinct occupancy: two rooms "2" are priced once under "2", so
-- each requested room takes its occupancy's entry. Without a usable occupancy
-- list (a replayed answer) every entry counts once.
local function priced_rooms(op, occs)
  local list = {}
  if type(op) ~= "table" then return list end
  local all_found = occs and #occs > 0
  for _, o in ipairs(occs or {}) do if type(val(op[o])) ~= "table" then all_found = false end end
  if all_found then
    for _, o in ipairs(occs) do list[#list + 1] = op[o] end
  else
    local keys = {}
    for k in pairs(op) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do list[#list + 1] = op[k] end
  end
  return list
end

local function amount_of(x)       -- {billable_currency{value,currency}, request_currency{...}}
  x = type(x) == "table" and (val(x.billable_currency) or val(x.request_currency))
  if type(x) ~= "table" or val(x.value) == nil then return nil end
  return money.norm(x.value), val(x.currency)
end

-- nightly is [[{type,value,currency}...] per night]; one example in the spec
-- has a single object instead of the list of lists: accept both.
local function nights_of(p)
  local n = val(p.nightly)
  if type(n) ~= "table" then return {} end
  if val(n.type) then return { { n } } end
  local out = {}
  for _, night in ipairs(n) do out[#out + 1] = val(night.type) and { night } or night end
  return out
end

local function stay_of(p)
  local s = val(p.stay)
  if type(s) ~= "table" then return {} end
  if val(s.type) then return { s } end
  return s
end

-- Charge types inside totals.inclusive that are taxes/fees (the rest is the room price).
local INCLUDED_TAX = {
  tax_and_service_fee = { "VAT", "Taxes and service fees" },
  sales_tax = { "VAT", "Sales tax" },
  property_fee = { "SERVICE_CHARGE", "Property fee (collected by Expedia)" },
  recovery_charges_and_fees = { "OTHER", "Recovery charges and fees" },
  traveler_service_fee = { "SERVICE_CHARGE", "Traveler service fee" },
}
-- fees{} are collected by the property at the stay, never in what Expedia charges.
-- Dubai's Tourism Dirham arrives as mandatory_tax in the captures.
local PROPERTY_FEE = {
  mandatory_tax = { "CITY_TAX", "Mandatory tax (paid at the property)" },
  resort_fee = { "OTHER", "Resort fee (paid at the property)" },
  mandatory_fee = { "OTHER", "Mandatory fee (paid at the property)" },
}

-- Add amount to the tax line (kind, name, currency), making it on first use.
local function add_tax(taxes, tax_index, kind, name, amount, cur, included)
  local k = kind .. "|" .. name .. "|" .. tostring(cur)
  if not tax_index[k] then
    taxes[#taxes + 1] = { type = kind, name = name, amount = "0", currency = cur, included = included,
                          pay_at_hotel = not included }
    tax_index[k] = taxes[#taxes]
  end
  tax_index[k].amount = money.add(tax_index[k].amount, amount)
end

-- Sum the requested rooms' pricing into the unified price.
local function map_price(list)
  local net, currency, nightly = "0", nil, {}
  local taxes, tax_index = {}, {}
  for _, p in ipairs(list) do
    local v, cur = amount_of(val(p.totals) and val(p.totals.inclusive))
    if not v then return nil end
    net, currency = money.add(net, v), currency or cur
    for i, night in ipairs(nights_of(p)) do
      local sum = nightly[i] or "0"
      for _, ch in ipairs(night) do
        sum = money.add(sum, val(ch.value) or 0)
        local t = INCLUDED_TAX[val(ch.type)]
        if t then add_tax(taxes, tax_index, t[1], t[2], money.norm(ch.value), val(ch.currency) or cur, true) end
      end
      nightly[i] = sum
    end
    for _, ch in ipairs(stay_of(p)) do
      local t = INCLUDED_TAX[val(ch.type)]
      if t then add_tax(taxes, tax_index, t[1], t[2], money.norm(ch.value), val(ch.currency) or cur, true) end
    end
    local names = {}
    for k in pairs(val(p.fees) or {}) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do
      local fv, fcur = amount_of(p.fees[k])
      local t = PROPERTY_FEE[k] or { "OTHER", k .. " (paid at the property)" }
      if fv then add_tax(taxes, tax_index, t[1], t[2], fv, fcur, false) end
    end
  end
  if not currency then return nil end
  for i, n in ipairs(nightly) do nightly[i] = money.round(n, 2) end
  return { currency = currency, net = money.round(net, 2), taxes = taxes, binding = false }, nightly
end

-- Penalty amount of one cancel_penalties entry: amount | nights | percent ("100%").
local function penalty_fee(p, price, nightly)
  if val(p.amount) then return money.norm(p.amount), val(p.currency) or price.currency end
  if val(p.percent) then
    local pct = tostring(p.percent):gsub("%%", "")
    return money.round(money.div(money.mul(price.net, pct), "100"), 2), price.currency
  end
  if val(p.nights) then
    local fee = "0"
    for i = 1, math.min(tonumber(p.nights) or 0, #nightly) do fee = money.add(fee, nightly[i]) end
    return money.round(fee, 2), price.currency
  end
  return price.net, price.currency
end

-- cancel_penalties are windows [start, end]: cancelling inside one costs its
-- penalty. Unified: free until the first start (refundable rates only; a
-- non-refundable rate's first window starts at booking time), then each window's
-- fee until its end; after the last end the whole price is due.
local function cancel_fees(penalties, refundable, price, nightly)
  local fees = {}
  local list = {}
  for _, p in ipairs(penalties or {}) do
    local t = type(p) == "table" and c.parse_time(val(p["end"]))
    if t then list[#list + 1] = { t = t, p = p } end
  end
  c.sort_by(list, "t")
  if refundable and list[1] and c.parse_time(val(list[1].p.start)) then
    fees[#fees + 1] = { ["until"] = c.iso(c.parse_time(list[1].p.start)),
                        fee = { amount = "0.00", currency = price.currency } }
  end
  for _, w in ipairs(list) do
    local amount, cur = penalty_fee(w.p, price, nightly)
    fees[#fees + 1] = { ["until"] = c.iso(w.t), fee = { amount = amount, currency = cur } }
  end
  return fees
end

-- The fee a cancellation costs at `now` (epoch s), from the same windows.
local function fee_at(penalties, price, nightly, now)
  local fee = "0.00"
  for _, p in ipairs(penalties or {}) do
    local s, e = c.parse_time(val(p.start)), c.parse_time(val(p["end"]))
    if s and e and now >= s and now <= e then
      local amount = penalty_fee(p, price, nightly)
      if money.cmp(amount, fee) > 0 then fee = amount end
    end
  end
  return fee
end

local function refundability(r, penalties)
  local cr = val(r.current_refundability)
  if cr == "refundable" then return "full" elseif cr == "partially_refundable" then return "partial"
  elseif cr == "non_refundable" then return "no" end
  if val(r.refundable) ~= true then return "no" end
  local now = hm.time.now()
  for _, p in ipairs(penalties or {}) do
    local s = c.parse_time(val(p.start))
    if s and s <= now then return "partial" end
  end
  return "full"
end

-- Expedia has no board field: meals are amenities ("Free breakfast", "Full board" ...).
local BOARD_WORDS = { { "all inclusive", "AI" }, { "all%-inclusive", "AI" }, { "full board", "FB" },
  { "half board", "HB" }, { "breakfast", "BB" } }

local function board_of(amenities)
  local names = {}
  for _, a in pairs(amenities or {}) do
    if type(a) == "table" and val(a.name) then names[#names + 1] = tostring(a.name) end
  end
  table.sort(names)
  for _, w in ipairs(BOARD_WORDS) do
    for _, n in ipairs(names) do
      if n:lower():match(w[1]) then return { id = w[2], name = n } end
    end
  end
  return { id = "RO", name = "Room only" }
end

local function comment_of(r, bed)
  local parts = { bed and val(bed.description) or nil }
  local names = {}
  for _, a in pairs(val(r.amenities) or {}) do if type(a) == "table" and val(a.name) then names[#names + 1] = a.name end end
  table.sort(names)
  if #names > 0 then parts[#parts + 1] = table.concat(names, ", ") end
  if #parts == 0 then return nil end
  return table.concat(parts, "; ")
end

-- available_rooms 2147483647 means "unknown".
local function allotment(r)
  local n = tonumber(val(r.available_rooms))
  if not n or n >= 2147483647 then return nil end
  return n
end

-- Bed groups in a stable order (they come as a JSON object).
local function bed_groups(r)
  local list = {}
  for id, bg in pairs(val(r.bed_groups) or {}) do
    if type(bg) == "table" then list[#list + 1] = { id = tostring(val(bg.id) or id), bg = bg } end
  end
  return c.sort_by(list, "id")
end

-- One Expedia rate -> one unified rate per bed group (the bed group is chosen
-- at booking through its own price_check link).
local function map_rate(ctx_q, hotel, room, r)
  local price, nightly = map_price(priced_rooms(val(r.occupancy_pricing), ctx_q.occs))
  if not price then return {} end
  local penalties = val(r.cancel_penalties) or {}
  local refundable = refundability(r, penalties)
  local board = board_of(val(r.amenities))
  local out = {}
  for _, g in ipairs(bed_groups(r)) do
    local link = val(g.bg.links) and val(g.bg.links.price_check)
    local key = {
      p = hotel.id, hn = hotel.name, r = room.id, rn = room.name, t = tostring(val(r.id)), b = g.id,
      pc = link and val(link.href), o = ctx_q.occs, ci = ctx_q.check_in, co = ctx_q.check_out,
      cp = penalties, rf = val(r.refundable) == true, bd = board, n = price.net, cur = price.currency,
    }
    out[#out + 1] = {
      key = encode_key(key), rate_id = key.t, bed_group = g.id,
      board = board, refundable = refundable,
      cancel_fees = cancel_fees(penalties, val(r.refundable) == true, price, nightly),
      price = price, allotment = allotment(r), nightly = nightly,
      comment = comment_of(r, g.bg),
      merchant_of_record = val(r.merchant_of_record),
    }
  end
  return out
end

local function map_property(q, p)
  local hotel = { id = tostring(val(p.property_id)), name = q.names and q.names[tostring(val(p.property_id))] or nil }
  hotel.rooms = {}
  for _, room in ipairs(val(p.rooms) or {}) do
    local rm = { id = tostring(val(room.id)), name = val(room.room_name), rates = {} }
    for _, r in ipairs(val(room.rates) or {}) do
      if val(r.status) == nil or val(r.status) == "available" then
        for _, ur in ipairs(map_rate(q, hotel, rm, r)) do rm.rates[#rm.rates + 1] = ur end
      end
    end
    if #rm.rates > 0 then hotel.rooms[#hotel.rooms + 1] = rm end
  end
  return hotel
end

---------------------------------------------------------------------------
-- search
---------------------------------------------------------------------------

local function availability_query(ctx, q, occs)
  local cfg = ctx.config
  local params = {
    { "checkin", q.check_in }, { "checkout", q.check_out },
    { "currency", q.currency or "USD" },
    -- country_code is the point of sale (traveller's country); residency first
    { "country_code", q.residency or q.nationality or cfg.country_code or "US" },
    { "language", cfg.language or "en-US" },
  }
  for _, o in ipairs(occs) do params[#params + 1] = { "occupancy", o } end
  for _, id in ipairs(q.hotel_ids or {}) do params[#params + 1] = { "property_id", tostring(id) } end
  params[#params + 1] = { "rate_plan_count", tostring(cfg.rate_plan_count or 250) }
  params[#params + 1] = { "sales_channel", cfg.sales_channel or "website" }
  params[#params + 1] = { "sales_environment", cfg.sales_environment or "hotel_only" }
  params[#params + 1] = { "rate_option", "net_rates" }    -- B2B: we pay the net (inclusive) total
  return query(params)
end

-- Expedia takes 1..250 property_id per call; larger lists are split.
local MAX_IDS = 250

function M.search(ctx, q)
  local occs = occupancies(q.rooms)
  local mq = { occs = (q.rooms and #q.rooms > 0) and occs or nil, check_in = q.check_in, check_out = q.check_out }
  local ids = q.hotel_ids or {}
  local hotels = {}
  local i = 1
  repeat
    local chunk = {}
    for j = i, math.min(i + MAX_IDS - 1, #ids) do chunk[#chunk + 1] = ids[j] end
    local sub = setmetatable({ hotel_ids = chunk }, { __index = q })
    local ok, doc = call(ctx, "GET", "/v3/properties/availability?" .. availability_query(ctx, sub, occs))
    if not ok and doc.kind == "not_found" then doc = {} ok = true end   -- 404: nothing available
    if not ok then return nil, doc end
    -- 200 with an array of properties; no availability is an empty array (or 404 elsewhere).
    if doc ~= nil and (type(doc) ~= "table" or (doc[1] == nil and next(doc) ~= nil)) then
      return nil, c.err("bad_response", "expedia: availability is not a list of properties")
    end
    for _, p in ipairs(doc or {}) do
      if type(p) == "table" and val(p.property_id) then
        local h = map_property(mq, p)
        if #h.rooms > 0 then hotels[#hotels + 1] = h end
      end
    end
    i = i + MAX_IDS
  until i > #ids
  return { hotels = hotels }
end

---------------------------------------------------------------------------
-- check_avail: the bed group's price_check link
---------------------------------------------------------------------------

local function expected_net(rate)
  local p = rate.price
  if type(p) == "table" then p = p.net end
  if p == nil then return nil end
  return money.norm(p)
end

local function price_check(ctx, k)
  if not k.pc then return nil, c.err("bad_request", "expedia: rate key has no price_check link") end
  local ok, doc = call(ctx, "GET", k.pc)
  if not ok then return nil, doc end
  if type(doc) ~= "table" then return nil, c.err("bad_response", "expedia: empty price check answer") end
  return doc
end

-- The fresh rate from a price check answer; the answer carries only prices and
-- the book link, the rest (penalties, board) comes from the key.
local function fresh_rate(k, doc)
  local price, nightly = map_price(priced_rooms(val(doc.occupancy_pricing), k.o))
  if not price then return nil end
  local book = val(doc.links) and val(doc.links.book)
  local nk = {}
  for kk, v in pairs(k) do nk[kk] = v end
  nk.bk, nk.n, nk.cur = book and val(book.href), price.net, price.currency
  local pseudo = { refundable = k.rf }
  return {
    key = encode_key(nk), rate_id = k.t, bed_group = k.b, board = k.bd,
    refundable = refundability(pseudo, k.cp), cancel_fees = cancel_fees(k.cp, k.rf, price, nightly),
    price = price, nightly = nightly,
  }
end

function M.check_avail(ctx, rate)
  local k, ke = decode_key(rate.key)
  if not k then return nil, ke end
  if rate.rooms and #rate.rooms > 0 then k.o = occupancies(rate.rooms) end
  local doc, e = price_check(ctx, k)
  if not doc then return nil, e end
  local out = { hotel = { id = k.p, name = k.hn }, room = { id = k.r, name = k.rn } }
  local status = val(doc.status)
  if status == "sold_out" then
    out.status = "sold_out"
    return out
  end
  if status ~= "available" and status ~= "price_changed" then
    return nil, c.err("bad_response", "expedia: price check status " .. tostring(status))
  end
  out.rate = fresh_rate(k, doc)
  if not out.rate then return nil, c.err("bad_response", "expedia: price check without occupancy_pricing") end
  out.status = status
  -- Expedia's own signal first; a moved total is price_changed too.
  local want = expected_net(rate)
  if status == "available" and want and money.cmp(want, out.rate.price.net) ~= 0 then
    out.status = "price_changed"
  end
  return out
end

---------------------------------------------------------------------------
-- book / query_order / cancel
---------------------------------------------------------------------------

-- Itineraries are found again by e-mail (retrieve without the per-booking
-- token; affiliate_reference_id search needs it too). We always send the
-- agency's mailbox (config.email) so query/cancel can rebuild the lookup from
-- the ledger alone; Expedia then mails confirmations to the agency, not the guest.
local function booking_email(ctx)
  return tostring(ctx.config.email or "bookings@hotelmux.invalid")
end

-- phone "+971 4 555 0101" -> {country_code, number}; UNVERIFIED how strict Expedia is.
local function phone_of(p)
  local digits = tostring(p or ""):gsub("[^%d+]", "")
  local cc, rest = digits:match("^%+(%d%d?%d?)(%d+)$")
  if not cc then cc, rest = "1", digits:gsub("%+", "") end
  if rest == "" then rest = "0000000" end
  return { country_code = cc, number = rest }
end

local function rooms_payload(order, nrooms)
  local by_room = {}
  for _, g in ipairs(order.guests or {}) do
    local i = tonumber(g.room_index) or 1
    if not g.is_child and not by_room[i] then by_room[i] = g end
  end
  local h = order.holder or {}
  local out = {}
  for i = 1, nrooms do
    local g = by_room[i] or {}
    out[i] = { given_name = g.first_name or h.first_name or "Guest", family_name = g.last_name or h.last_name or "Guest",
               smoking = false, special_request = i == 1 and order.remarks or nil }
  end
  return out
end

local function book_payload(ctx, order, nrooms)
  local h = order.holder or {}
  return {
    affiliate_reference_id = tostring(order.customer_ref),   -- 3..28 chars, unique per affiliate
    hold = false,
    email = booking_email(ctx),
    phone = phone_of(h.phone),
    rooms = rooms_payload(order, nrooms),
    -- Net-rate B2B: the affiliate collects from its client, Expedia invoices the affiliate.
    payments = { { type = "affiliate_collect",
                   billing_contact = { given_name = h.first_name or "Guest", family_name = h.last_name or "Guest",
                                       address = { country_code = ctx.config.country_code or "AE" } } } },
  }
end

function M.book(ctx, order)
  local k, ke = decode_key(order.key)
  if not k then return nil, ke end
  if order.rooms and #order.rooms > 0 then k.o = occupancies(order.rooms) end
  if not order.customer_ref then return nil, c.err("bad_request", "expedia book needs customer_ref") end
  -- The book link comes from a price check; a key from search has none yet.
  local price = { currency = k.cur, net = k.n }
  if not k.bk then
    local doc, e = price_check(ctx, k)
    if not doc then return nil, e end
    if val(doc.status) == "sold_out" then return nil, c.err("supplier", "expedia: rate sold out", { code = "sold_out" }) end
    local fr = fresh_rate(k, doc)
    if not fr then return nil, c.err("bad_response", "expedia: price check without prices") end
    local want = expected_net(order)
    if val(doc.status) == "price_changed" or (want and money.cmp(want, fr.price.net) ~= 0) then
      return nil, c.err("supplier", "expedia: price changed to " .. fr.price.net, { code = "price_changed" })
    end
    k = decode_key(fr.key)
    price = { currency = fr.price.currency, net = fr.price.net }
  end
  if not k.bk then return nil, c.err("bad_response", "expedia: price check gave no book link") end
  local ok, doc = call(ctx, "POST", k.bk, book_payload(ctx, order, #(k.o or { 1 })))
  if not ok then return nil, doc end
  local id = type(doc) == "table" and val(doc.itinerary_id)
  if not id then return nil, c.err("bad_response", "expedia: booking answer without itinerary_id") end
  return { status = "confirmed", supplier_ref = tostring(id), price = price,
           cancel_fees = cancel_fees(k.cp, k.rf, { currency = price.currency, net = price.net or "0" }, {}) }
end

-- Room status: pending | booked | canceled (American spelling).
local function itinerary_status(rooms)
  local seen = {}
  for _, r in ipairs(rooms) do seen[tostring(val(r.status))] = true end
  if #rooms == 0 then return "failed" end
  if seen.booked then return "confirmed" end
  if seen.pending then return "pending" end
  if seen.canceled or seen.cancelled then return "cancelled" end
  return "failed"
end

local function map_itinerary(it)
  local rooms = val(it.rooms) or {}
  local net, currency, confirm = "0", nil, nil
  local out_rooms = {}
  for _, r in ipairs(rooms) do
    local rate = val(r.rate) or {}
    local pricing = val(rate.pricing)
    local v, cur = amount_of(pricing and val(pricing.totals) and pricing.totals.inclusive)
    if v then net, currency = money.add(net, v), currency or cur end
    local cid = val(r.confirmation_id) or {}
    confirm = confirm or val(cid.property) or val(cid.expedia)
    local cancel = val(r.links) and val(r.links.cancel)
    out_rooms[#out_rooms + 1] = { id = tostring(val(r.id)), status = val(r.status), cancel_href = cancel and val(cancel.href),
                                  penalties = val(rate.cancel_penalties) or {}, pricing = pricing }
  end
  return {
    status = itinerary_status(rooms), supplier_ref = tostring(val(it.itinerary_id)),
    customer_ref = val(it.affiliate_reference_id), hotel_id = val(it.property_id) and tostring(it.property_id),
    hotel_confirm_no = confirm and tostring(confirm),
    price = currency and { currency = currency, net = money.round(net, 2) } or nil,
    rooms = out_rooms,
  }
end

-- GET the itinerary by id, or search by our reference; (itinerary | nil, err).
local function retrieve(ctx, order)
  local email = booking_email(ctx)
  local ok, doc
  if order.supplier_ref then
    ok, doc = call(ctx, "GET", "/v3/itineraries/" .. enc(order.supplier_ref) .. "?" .. query({ { "email", email } }))
  elseif order.customer_ref then
    ok, doc = call(ctx, "GET", "/v3/itineraries?" .. query({ { "affiliate_reference_id", order.customer_ref },
                                                            { "email", email } }))
    -- the search answers a list of itineraries
    if ok and type(doc) == "table" and doc[1] ~= nil then doc = doc[1] end
  else
    return nil, c.err("bad_request", "expedia: need supplier_ref or customer_ref")
  end
  if not ok then return nil, doc end
  if type(doc) ~= "table" or val(doc.itinerary_id) == nil then return nil, c.err("not_found", "expedia: no itinerary") end
  return doc
end

function M.query_order(ctx, order)
  local it, e = retrieve(ctx, order)
  if not it then
    if e.kind == "not_found" then return { status = "not_found" } end
    return nil, e
  end
  local out = map_itinerary(it)
  for _, r in ipairs(out.rooms) do r.penalties, r.pricing = nil, nil end
  return out
end

-- The fee cancelling this room costs now, from its own penalties and total.
local function room_fee(r, now)
  local v, cur = amount_of(r.pricing and val(r.pricing.totals) and r.pricing.totals.inclusive)
  if not v then return "0.00", nil end
  local nightly = {}
  for i, night in ipairs(nights_of(r.pricing)) do
    local s = "0"
    for _, ch in ipairs(night) do s = money.add(s, val(ch.value) or 0) end
    nightly[i] = s
  end
  return fee_at(r.penalties, { currency = cur, net = v }, nightly, now), cur
end

-- Cancels every room of the itinerary. order.itinerary_rooms (ids, as
-- query_order's `rooms` gives them) skips the retrieve; the fee is then unknown.
function M.cancel(ctx, order)
  if not order.supplier_ref then return nil, c.err("bad_request", "expedia cancel needs supplier_ref") end
  local rooms, fee, currency = {}, "0.00", nil
  if type(order.itinerary_rooms) == "table" and #order.itinerary_rooms > 0 then
    for _, id in ipairs(order.itinerary_rooms) do rooms[#rooms + 1] = { id = tostring(id), status = "booked" } end
    fee = nil
  else
    local it, e = retrieve(ctx, order)
    if not it then return nil, e end
    local m = map_itinerary(it)
    rooms, currency = m.rooms, m.price and m.price.currency
  end
  local now = hm.time.now()
  local cancelled = 0
  for _, r in ipairs(rooms) do
    if r.status ~= "canceled" and r.status ~= "cancelled" then
      if fee then
        local f, cur = room_fee(r, now)
        fee, currency = money.add(fee, f), currency or cur
      end
      -- the room's own cancel link carries its token; without one, id + email (UNVERIFIED)
      local href = r.cancel_href or ("/v3/itineraries/" .. enc(order.supplier_ref) .. "/rooms/" .. enc(r.id) ..
                                     "?" .. query({ { "email", booking_email(ctx) } }))
      local ok, e = call(ctx, "DELETE", href)
      -- room_already_cancelled: someone (or a retried call) got there first; that is success.
      if not ok and e.code ~= "room_already_cancelled" then return nil, e end
      cancelled = cancelled + 1
    end
  end
  local out = { status = "cancelled", supplier_ref = order.supplier_ref, rooms_cancelled = cancelled }
  if fee then out.fee = { amount = money.round(fee, 2), currency = currency or order.price_currency or order.currency } end
  return out
end

return M
