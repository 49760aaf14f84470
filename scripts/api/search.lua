-- api/search.lua -- POST /api/search/hotelList, /api/search/hotelRates,
-- /api/search/checkAvail (HotelByte-compatible). Searches fan out to every
-- supplier that sells a requested hotel, each under its own deadline inside
-- the request's; one supplier failing never fails the search.
local A = require("api.common")
local P = require("policies.pricing")
local C = require("lib.connector")
local money = hm.money

local data_mod = (hm.config and hm.config.hotel_data) or "data.dubai"
local H = require(data_mod)

local M = {}

local FRESH = { source = "live", ageSeconds = 0, ttlSeconds = 0, referencePrice = false }

-- canonical room id of a supplier room code in a canonical hotel (nil if unmapped)
local function canonical_room(hotel, sup, code)
  for _, r in ipairs(hotel.rooms or {}) do
    local s = r.suppliers[sup]
    if s and s.code == tostring(code) then return r.id end
  end
  return nil
end

-- The stay and occupancy of a search request.
local function parse_stay(body, req)
  local ci = A.date(body, "checkIn", true)
  local co = A.date(body, "checkOut", true)
  local nights = C.nights(ci, co)
  if nights < 1 then A.param("checkOut", "must be after checkIn") end
  if nights > 30 then A.param("checkOut", "stay longer than 30 nights") end
  local occ = A.val(body.roomOccupancies)
  local nested = type(A.val(body.occupancies)) == "table" and body.occupancies or nil
  if occ == nil and nested then occ = A.val(nested.roomOccupancies) end
  local rooms = {}
  if occ == nil then
    rooms[1] = { adults = 2, children = {} }
  else
    if type(occ) ~= "table" or #occ == 0 then A.param("roomOccupancies", "must be a non-empty array") end
    if #occ > 9 then A.param("roomOccupancies", "at most 9 rooms") end
    for i, o in ipairs(occ) do
      local f = "roomOccupancies[" .. i .. "]"
      if type(o) ~= "table" then A.param(f, "must be an object") end
      local ad = A.val(o.adultCount)
      if type(ad) ~= "number" or ad < 1 or ad > 9 or ad ~= math.floor(ad) then
        A.param(f .. ".adultCount", "must be an integer 1..9")
      end
      local kids = {}
      for j, age in ipairs(A.val(o.childrenAges) or {}) do
        if type(age) ~= "number" or age < 0 or age > 17 then
          A.param(f .. ".childrenAges[" .. j .. "]", "must be an age 0..17")
        end
        kids[#kids + 1] = age
      end
      rooms[i] = { adults = ad, children = kids }
    end
  end
  local function code(f) return A.str(body, f) or (nested and A.val(nested[f])) end
  local cur = A.str(body, "currency") or (req.headers and req.headers["currency"]) or "USD"
  if not cur:match("^%u%u%u$") then A.param("currency", "must be an ISO 4217 code") end
  local nat = code("nationalityCode") or code("countryCode") or "GB"
  return { check_in = ci, check_out = co, nights = nights, rooms = rooms, currency = cur,
           nationality = nat, residency = code("residencyCode") or nat }
end

-- Canonical hotels asked for: hotelIds / hotelId / destinationName.
local function resolve_hotels(body)
  local ids = A.list(body, "hotelIds")
  local one = A.str(body, "hotelId")
  if one then ids = { one } end
  local out = {}
  if #ids > 0 then
    if #ids > 50 then A.param("hotelIds", "at most 50 hotel ids per search") end
    local idx = {}
    for _, h in ipairs(H.hotels) do idx[h.id] = h end
    for _, id in ipairs(ids) do
      local h = idx[tostring(id)]
      if h then out[#out + 1] = h end
    end
    return out
  end
  local dest = A.str(body, "destinationName") or A.str(body, "destinationId")
  if not dest then A.param("destinationName", "hotelIds or destinationName required") end
  local d = dest:lower()
  if d == H.destination.name:lower() or d == H.destination.id:lower() then return H.hotels end
  A.raise(A.CODE.not_found, "destination not found: " .. dest)
end

local function board_of(b)
  b = b or {}
  return { boardId = b.id or "RO", boardName = { en = b.name or b.id or "Room only" } }
end

local function refundable_until(fees)
  local last
  for _, f in ipairs(fees or {}) do
    if f.fee and money.is_zero(money.norm(f.fee.amount or "0")) then last = f["until"] end
  end
  return last
end

-- One HotelByte RoomRatePkg from a connector rate.
function M.rate_pkg(sup, shotel, sroom, rate, stay, hotel)
  local nrooms = #stay.rooms
  local price = rate.price or {}
  local norm = P.normalise(price, stay.currency, nrooms)
  norm.tax.items = A.arr(norm.tax.items)
  local pkg_id = A.encode_id(sup, {
    k = rate.key, h = tostring(shotel.id), r = tostring(sroom.id), rn = sroom.name, hn = shotel.name,
    hid = hotel and hotel.id, ci = stay.check_in, co = stay.check_out, o = stay.rooms, c = stay.currency,
    p = price.net, pc = price.currency, nat = stay.nationality,
  })
  return {
    ratePkgId = pkg_id,
    refundableMode = rate.refundable or "no",
    refundableUntil = refundable_until(rate.cancel_fees),
    cancelFees = A.arr(P.cancel_fees(rate.cancel_fees, price.currency, stay.currency)),
    originalRoomNaming = { id = tostring(sroom.id), name = sroom.name, supplier = A.SUPPLIER_NUM[sup] or 0,
                           supplierName = sup },
    rate = norm.rate, totalRate = norm.totalRate, tax = norm.tax,
    rateComment = rate.comment or "",
    includesPackaging = false,
    board = board_of(rate.board),
    checkIn = stay.check_in, checkOut = stay.check_out,
    allotment = rate.allotment,
    supplier = sup,
    freshness = FRESH,
    _net = norm.net,
  }
end

local function money_lt(a, b) return money.cmp(a, b) < 0 end

-- Fan out one search; returns canonical hotel id -> { hotel, rooms = {roomTypeId -> Room} }, statuses.
function M.search(req, stay, hotels)
  local jobs, sups = {}, {}
  local statuses = {}
  for _, sup in ipairs(A.supplier_ids()) do
    local codes = {}
    for _, h in ipairs(hotels) do
      if h.suppliers[sup] then codes[#codes + 1] = h.suppliers[sup].code end
    end
    if #codes > 0 then
      local conn, why = A.connector(sup)
      if not conn then
        statuses[#statuses + 1] = { supplier = sup, status = "error", latencyMs = 0, hotelCount = 0,
                                    error = why }
      else
        local tmo = A.timeout_ms(sup, conn)
        local q = { hotel_ids = codes, check_in = stay.check_in, check_out = stay.check_out, nights = stay.nights,
                    rooms = stay.rooms, currency = stay.currency, nationality = stay.nationality,
                    residency = stay.residency }
        jobs[#jobs + 1] = A.job(sup, tmo, function() return conn.search(A.ctx(sup, req, tmo), q) end)
        sups[#sups + 1] = sup
      end
    end
  end
  local deadline = tonumber(hm.config.search_deadline_ms) or 1000
  local results = #jobs > 0 and hm.fanout(jobs, { deadline_ms = deadline }) or {}
  local grouped = {}
  for i, r in ipairs(results) do
    local sup = sups[i]
    local st = { supplier = sup, status = r.status, latencyMs = math.floor((r.latency_ms or 0) + 0.5), hotelCount = 0 }
    if r.status == "ok" and type(r.value) ~= "table" then
      st.status, st.error = "error", "connector returned no result"
    elseif r.status ~= "ok" then
      local e = r.err
      st.error = type(e) == "table" and (e.message or e.kind) or tostring(e or r.status)
    else
      local ok, perr = pcall(function()
        for _, sh in ipairs(r.value.hotels or {}) do
          local hotel = H.by_supplier[sup] and H.by_supplier[sup][tostring(sh.id)]
          if hotel then
            st.hotelCount = st.hotelCount + 1
            local g = grouped[hotel.id]
            if not g then g = { hotel = hotel, rooms = {}, order = {} }; grouped[hotel.id] = g end
            for _, sr in ipairs(sh.rooms or {}) do
              local cid = canonical_room(hotel, sup, sr.id) or (sup .. ":" .. tostring(sr.id))
              local room = g.rooms[cid]
              if not room then
                local cname = sr.name
                for _, hr in ipairs(hotel.rooms or {}) do
                  if hr.id == cid then
                    -- a canonical room's name: the first supplier's spelling, in a stable order
                    local first = A.supplier_ids()
                    for _, s2 in ipairs(first) do
                      if hr.suppliers[s2] then cname = hr.suppliers[s2].name; break end
                    end
                  end
                end
                room = { roomTypeId = cid, roomTypeName = { en = cname }, hotelId = hotel.id, rates = {} }
                g.rooms[cid] = room
                g.order[#g.order + 1] = cid
              end
              for _, rate in ipairs(sr.rates or {}) do
                room.rates[#room.rates + 1] = M.rate_pkg(sup, sh, sr, rate, stay, hotel)
              end
            end
          end
        end
      end)
      if not ok then
        st.status, st.error = "error", "bad connector result: " .. tostring(perr)
        hm.log.warn("connector result rejected", { supplier = sup, err = tostring(perr) })
      end
    end
    statuses[#statuses + 1] = st
  end
  table.sort(statuses, function(a, b) return a.supplier < b.supplier end)
  return grouped, statuses
end

-- Build the HotelByte Hotel list from grouped results.
local function build_hotels(grouped, stay, max_rates, desc)
  local list = {}
  for _, g in pairs(grouped) do
    local h = g.hotel
    local rooms, min = {}, nil
    for _, cid in ipairs(g.order) do
      local room = g.rooms[cid]
      table.sort(room.rates, function(a, b)
        if desc then return money_lt(b._net, a._net) end
        return money_lt(a._net, b._net)
      end)
      if #room.rates > 0 then
        for _, rt in ipairs(room.rates) do
          if not min or money_lt(rt._net, min) then min = rt._net end
        end
        rooms[#rooms + 1] = room
      end
    end
    -- maxRatesPerHotel: keep the cheapest rates of the hotel
    if max_rates and max_rates > 0 then
      local all = {}
      for _, room in ipairs(rooms) do for _, rt in ipairs(room.rates) do all[#all + 1] = rt end end
      table.sort(all, function(a, b) return money_lt(a._net, b._net) end)
      local keep = {}
      for i = 1, math.min(max_rates, #all) do keep[all[i]] = true end
      local kept = {}
      for _, room in ipairs(rooms) do
        local rs = {}
        for _, rt in ipairs(room.rates) do if keep[rt] then rs[#rs + 1] = rt end end
        room.rates = rs
        if #rs > 0 then kept[#kept + 1] = room end
      end
      rooms = kept
    end
    for _, room in ipairs(rooms) do for _, rt in ipairs(room.rates) do rt._net = nil end end
    local sups = {}
    for s in pairs(h.suppliers) do sups[#sups + 1] = s end
    table.sort(sups)
    list[#list + 1] = {
      id = h.id, name = { en = h.name }, star = h.star, address = { en = h.address },
      latlngCoordinator = { google = { lat = h.lat, lng = h.lng } },
      destinationId = H.destination.id,
      minPrice = min and P.money(min, stay.currency) or hm.json.null,
      isAvailable = #rooms > 0, rooms = rooms, _min = min,
    }
  end
  table.sort(list, function(a, b)
    if a._min and b._min then
      local c = money.cmp(a._min, b._min)
      if c ~= 0 then if desc then return c > 0 end return c < 0 end
      return a.id < b.id
    end
    if a._min or b._min then return a._min ~= nil end
    return a.id < b.id
  end)
  for _, x in ipairs(list) do x._min = nil end
  return list
end

local function session_id() return hm.crypto.random_hex(8) end

local function sort_desc(body)
  local s = A.str(body, "sortBy")
  if s and s ~= "price-asc" and s ~= "price-desc" then A.param("sortBy", "must be price-asc or price-desc") end
  return s == "price-desc"
end

hm.route("POST", "/api/search/hotelList", A.handler(function(req, body)
  local stay = parse_stay(body, req)
  local desc = sort_desc(body)
  local page = A.int(body, "pageNum", 1, 1)
  local size = A.int(body, "pageSize", 20, 1)
  if size > 100 then A.raise(A.CODE.page_size, "pageSize exceeds 100") end
  local max_rates = A.int(body, "maxRatesPerHotel", nil, 0)
  local hotels = resolve_hotels(body)
  local grouped, statuses = M.search(req, stay, hotels)
  local list = build_hotels(grouped, stay, max_rates, desc)
  local total = #list
  local from = (page - 1) * size + 1
  local pageList = {}
  for i = from, math.min(total, from + size - 1) do pageList[#pageList + 1] = list[i] end
  local sid = session_id()
  return A.ok(req, {
    list = A.arr(pageList),
    basic = { destinationId = H.destination.id, sessionId = sid },
    total = total, hasMore = from + size - 1 < total, pageNum = page, pageSize = size,
    suppliers = A.arr(statuses), freshness = FRESH,
  }, { ["Session-Id"] = sid })
end))

hm.route("POST", "/api/search/hotelRates", A.handler(function(req, body)
  local stay = parse_stay(body, req)
  local desc = sort_desc(body)
  if not A.val(body.hotelId) and #A.list(body, "hotelIds") == 0 then A.param("hotelId", "required") end
  local hotels = resolve_hotels(body)
  if #hotels == 0 then A.raise(A.CODE.not_found, "hotel not found: " .. tostring(A.val(body.hotelId))) end
  local grouped, statuses = M.search(req, stay, hotels)
  local list = build_hotels(grouped, stay, A.int(body, "maxRatesPerHotel", nil, 0), desc)
  local h = list[1]
  return A.ok(req, {
    hotelId = hotels[1].id,
    rooms = A.arr(h and h.rooms or {}),
    minPrice = h and h.minPrice or hm.json.null,
    isAvailable = h and h.isAvailable or false,
    basic = { sessionId = A.val(body.sessionId) or session_id() },
    suppliers = A.arr(statuses), freshness = FRESH,
  })
end))

-- Decode a ratePkgId into (supplier, fields) or raise a param error.
function M.decode_pkg(body)
  local id = A.str(body, "ratePkgId", true)
  local sup, t = A.decode_id(id)
  if not sup or not (hm.config.suppliers or {})[sup] or type(t.k) == "nil" then
    A.param("ratePkgId", "unknown or malformed rate package id")
  end
  return sup, t
end

-- The connector's view of a rate package.
function M.rate_of(t)
  return { key = t.k, hotel_id = t.h, room_id = t.r, check_in = t.ci, check_out = t.co,
           nights = C.nights(t.ci, t.co), rooms = t.o, currency = t.c,
           price = { currency = t.pc, net = t.p } }
end

function M.error_answer(req, err, status, what)
  local kind = type(err) == "table" and err.kind or status
  local msg = (what or "supplier") .. " " .. tostring(type(err) == "table" and (err.message or err.kind) or err)
  if status == "timeout" or kind == "timeout" then return A.fail(req, A.CODE.timeout, msg) end
  if status == "throttled" or kind == "throttled" then return A.fail(req, A.CODE.rate_limit, msg) end
  if kind == "not_found" then return A.fail(req, A.CODE.not_found, msg) end
  return A.fail(req, A.CODE.dependency, msg)
end

hm.route("POST", "/api/search/checkAvail", A.handler(function(req, body)
  local sup, t = M.decode_pkg(body)
  local conn, why = A.connector(sup)
  if not conn then return A.fail(req, A.CODE.dependency, sup .. ": " .. tostring(why)) end
  local tmo = math.max(A.timeout_ms(sup, conn), tonumber(hm.config.check_timeout_ms) or 3000)
  local rate = M.rate_of(t)
  local res, err, status = A.call(sup, tmo, function() return conn.check_avail(A.ctx(sup, req, tmo), rate) end)
  if not res then return M.error_answer(req, err, status, sup) end
  local stay = { check_in = t.ci, check_out = t.co, rooms = t.o or { {} }, currency = t.c, nationality = t.nat }
  local hotel = H.by_supplier[sup] and H.by_supplier[sup][tostring(t.h)]
  local shotel = { id = t.h, name = res.hotel and res.hotel.name or t.hn }
  local sroom = { id = (res.room and res.room.id) or t.r, name = (res.room and res.room.name) or t.rn }
  local out = { supplier = A.SUPPLIER_NUM[sup] or 0, supplierName = sup, freshness = FRESH }
  if res.status == "sold_out" or not res.rate then
    out.status = 2
    out.reason = res.reason
    return A.ok(req, out)
  end
  local fresh = res.rate
  fresh.key = fresh.key or t.k
  local pkg = M.rate_pkg(sup, shotel, sroom, fresh, stay, hotel)
  pkg._net = nil
  out.status = 1
  out.roomRatePkg = pkg
  local changed = res.status == "price_changed"
  if not changed and t.p and fresh.price and fresh.price.net then
    changed = money.cmp(money.norm(fresh.price.net), money.norm(t.p)) ~= 0
  end
  if changed then
    out.previousRatePkgId = A.val(body.ratePkgId)
    return A.fail(req, A.CODE.ari_changed, "price changed: book with the new ratePkgId", out)
  end
  return A.ok(req, out)
end))

return M
