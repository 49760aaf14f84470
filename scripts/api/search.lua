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

-- A rate asked of its supplier just now. FRESH is shared (read-only); a table
-- the answer cache will rewrite is made by live_freshness().
local function live_freshness() return { source = "live", ageSeconds = 0, ttlSeconds = 0, referencePrice = false } end
local FRESH = live_freshness()

-- ------------------------------------------------------------ room mapping
-- Which canonical room a supplier room is: (1) the CSV mapping table (config
-- room_mapping_csv: supplier, supplier hotel code, room code or name ->
-- canonical room id), (2) the hotel data's per-supplier room codes, (3) the
-- similarity model (policies/mapping.lua: threshold, margin, one room per
-- supplier name; each supplier's rooms assigned one-to-one) against the
-- hotel's canonical rooms and the rooms already made; below the threshold
-- the room stays its own room.
local MAP = require("policies.mapping")
MAP.table = {}
local mapping_text = ""
if hm.config and hm.config.room_mapping_csv then
  local text, err = hm.mapping.read_table(hm.config.room_mapping_csv)
  if not text then error("room_mapping_csv: " .. tostring(err), 0) end
  MAP.load_table_csv(text)
  mapping_text = text
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- The suppliers in a stable order: the configured order first, then the rest.
local function supplier_order(t)
  local out, seen = {}, {}
  for _, s in ipairs(A.supplier_ids()) do
    if t[s] ~= nil then out[#out + 1] = s; seen[s] = true end
  end
  for _, s in ipairs(sorted_keys(t)) do if not seen[s] then out[#out + 1] = s end end
  return out
end

-- A supplier room's canonical room: id, that supplier's entry in the hotel
-- data ({code, name}, for rooms sent without a name) and how it was mapped
-- ("table" = CSV, "data" = the hotel data); nil id when unmapped.
local function canonical_room(hotel, sup, hcode, sr)
  local code = tostring(sr.id)
  local id, entry
  for _, r in ipairs(hotel.rooms or {}) do
    local s = r.suppliers[sup]
    if s and s.code == code then id, entry = r.id, s; break end
  end
  local cid = MAP.lookup(sup, hcode, code, sr.name or (entry and entry.name))
  if cid then return cid, entry, "table" end
  if id then return id, entry, "data" end
  return nil, nil, nil
end

-- The model's candidates for a hotel: its canonical rooms with every
-- supplier's name for them (whether or not that supplier answered).
local function hotel_candidates(hotel)
  local out, by_id = {}, {}
  for _, hr in ipairs(hotel.rooms or {}) do
    local c = { id = hr.id, names = {}, members = {}, entries = {} }
    for _, s in ipairs(supplier_order(hr.suppliers)) do
      local n = hr.suppliers[s].name
      c.names[s] = n
      c.members[#c.members + 1] = n
      c.name = c.name or n       -- a canonical room's name: the first supplier's spelling
    end
    out[#out + 1] = c
    by_id[c.id] = c
  end
  return out, by_id
end

local function add_member(c, sup, name)
  if c.names[sup] == nil then c.names[sup] = name end
  for _, m in ipairs(c.members) do if m == name then return end end
  c.members[#c.members + 1] = name
end

-- Rebuild a hotel's rooms from every supplier room absorbed so far, in a
-- stable order (supplier, room code), so the grouping does not depend on
-- which supplier answered first.
local function by_key(a, b)
  if a.sup ~= b.sup then return a.sup < b.sup end
  return a.code < b.code
end

local function regroup(g)
  local hotel = g.hotel
  local cands, by_id = hotel_candidates(hotel)
  local mapped, unmapped = {}, {}
  for _, e in ipairs(g.entries) do
    if e.cid then mapped[#mapped + 1] = e else unmapped[#unmapped + 1] = e end
  end
  table.sort(mapped, by_key)
  table.sort(unmapped, by_key)
  local extra = {}
  for _, e in ipairs(mapped) do
    local c = by_id[e.cid]
    if not c then            -- a canonical id only the CSV table names
      c = { id = e.cid, names = {}, members = {}, entries = {}, name = e.name }
      by_id[e.cid] = c
      extra[#extra + 1] = c
    end
    add_member(c, e.sup, e.name)
    c.entries[#c.entries + 1] = e
    e.mapped_by, e.score = e.source, nil
  end
  C.sort_by(extra, "id")
  for _, c in ipairs(extra) do cands[#cands + 1] = c end
  -- the model: each supplier's unmapped rooms at once, one-to-one onto the
  -- rooms so far (MAP.place / MAP.assign), suppliers in the stable order
  MAP.place(cands, unmapped, function(e) return e.sup end, function(e) return e.name end,
    function(e)
      return { id = e.sup .. ":" .. e.code, names = {}, members = {}, entries = {}, name = e.name }
    end,
    function(c, e, score, merged)
      e.mapped_by, e.score = merged and "model" or "none", score
      add_member(c, e.sup, e.name)
      c.entries[#c.entries + 1] = e
    end)
  g.rooms, g.order = {}, {}
  for _, c in ipairs(cands) do
    if #c.entries > 0 then
      local room = { roomTypeId = c.id, roomTypeName = { en = c.name }, hotelId = hotel.id,
                     attributes = MAP.attributes(c.members), rates = {} }
      for _, e in ipairs(c.entries) do
        for _, pkg in ipairs(e.pkgs) do
          local orn = pkg.originalRoomNaming
          orn.mappedBy = e.mapped_by
          orn.mappingScore = e.score and math.floor(e.score * 1000 + 0.5) / 1000 or nil
          room.rates[#room.rates + 1] = pkg
        end
      end
      g.rooms[c.id] = room
      g.order[#g.order + 1] = c.id
    end
  end
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

-- canonical id -> hotel, built once (a 1,000-hotel world rebuilt it per search)
local BY_ID = {}
for _, h in ipairs(H.hotels) do BY_ID[h.id] = h end

-- Canonical hotels asked for: hotelIds / hotelId / destinationName.
local function resolve_hotels(body)
  local ids = A.list(body, "hotelIds")
  local one = A.str(body, "hotelId")
  if one then ids = { one } end
  local out = {}
  if #ids > 0 then
    if #ids > 50 then A.param("hotelIds", "at most 50 hotel ids per search") end
    for _, id in ipairs(ids) do
      local h = BY_ID[tostring(id)]
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
function M.rate_pkg(sup, shotel, sroom, rate, stay, hotel, fresh)
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
    freshness = fresh or FRESH,
    _net = norm.net,
  }
end

local function money_lt(a, b) return money.cmp(a, b) < 0 end
-- comparators made once (a closure per call stops the JIT; see C.sort_by)
local function net_asc(a, b) return money_lt(a._net, b._net) end
local function net_desc(a, b) return money_lt(b._net, a._net) end
local function c_err(kind, msg) return C.err(kind, msg) end

---------------------------------------------------------------------------
-- The search cache (issue 4). A search is composed from one entry per
-- (supplier, supplier hotel, stay, occupancy, currency, nationality): each
-- supplier is asked only for the hotels it has no entry for (one call for
-- all of them), and each hotel's answer is stored on its own, so a webhook
-- about one hotel (tag "hotel:<supplier>:<code>", set by the core) drops only
-- that hotel's entries. TTLs come from policies/ttl.lua, clamped by the core;
-- the core refuses writes near check-in and everything on ARI paths.
-- An entry stores {"v":1,"h":<the connector's hotel, or null = no availability>}.
local CFG = hm.config or {}
local CACHE_ON = CFG.search_cache ~= false
-- Hotel time zone for the "< 3 h to check-in" rule (the demo world is Dubai).
local UTC_OFFSET = tonumber(CFG.utc_offset_hours) or tonumber(H.destination.utc_offset_hours) or 4
local LIVE_WINDOW = 3 * 3600
-- Refresh-ahead: a hit with < 20 % of its TTL left, read >= N times, is
-- refreshed in the background, at most refresh_ahead_per_s refreshes a second
-- per node (0 disables it).
local RA_RATE = tonumber(CFG.refresh_ahead_per_s) or 20
local RA_MIN_READS = tonumber(CFG.refresh_ahead_min_reads) or 5
local RA_FRACTION = 0.2
-- Hotness (0..1) for the TTL policy: searches naming the hotel in the last
-- ~2 minutes relative to hot_searches_per_min (a hotel searched that often
-- or more is fully hot).
local HOT_RPM = tonumber(CFG.hot_searches_per_min) or 600

local function occ_key(rooms)
  local parts = {}
  for i, r in ipairs(rooms or {}) do
    local kids = {}
    for j, a in ipairs(r.children or {}) do kids[j] = tonumber(a) or 0 end
    table.sort(kids)
    parts[i] = tostring(r.adults or 2) .. (#kids > 0 and ("-" .. table.concat(kids, ".")) or "")
  end
  return table.concat(parts, "|")
end

function M.cache_key(sup, code, stay)
  return table.concat({ "s1", sup, tostring(code), stay.check_in, stay.check_out, occ_key(stay.rooms),
                        stay.currency, stay.nationality or "", stay.residency or stay.nationality or "" }, ":")
end

-- Rule 2 (DESIGN §5), mirrored here for reads: the core refuses to write an
-- entry this close to check-in, and a search this close must not read one
-- either (an entry written just before the window opened would still be alive).
-- M.live_at(stay): the wall-clock time from which the stay is live only (nil
-- for a check-in that is not a date).
function M.live_at(stay)
  local day = C.day(stay.check_in)
  return day and day * 86400 + (12 - UTC_OFFSET) * 3600 - LIVE_WINDOW
end

function M.live_only(stay)
  local at = M.live_at(stay)
  return not at or hm.time.now() > at
end

-- A counter in hm.shared that lives `ttl` seconds from its first increment.
local function bump(key, ttl, n)
  hm.shared.add(key, 0, ttl)
  return hm.shared.incr(key, n or 1)
end

-- Hotness (searches a minute per hotel, for the TTL policy) is counted in
-- this worker and added to hm.shared about once a second: two shared-dict
-- operations per hotel on every search cost more than a cached search.
local hot_pending, hot_flushed = {}, 0
local function flush_hot(now)
  local m = math.floor(now / 60)
  for id, n in pairs(hot_pending) do bump("hot:" .. m .. ":" .. id, 130, n) end
  hot_pending, hot_flushed = {}, now
end

local function note_searched(hotels, n)
  for _, h in ipairs(hotels) do hot_pending[h.id] = (hot_pending[h.id] or 0) + (n or 1) end
  local now = hm.time.now()
  if now - hot_flushed >= 1 then flush_hot(now) end
end

local function hotness(hid)
  if not hid then return 0 end
  local m = math.floor(hm.time.now() / 60)
  local n = (hm.shared.get("hot:" .. m .. ":" .. hid) or 0) + (hm.shared.get("hot:" .. (m - 1) .. ":" .. hid) or 0)
  n = n + (hot_pending[hid] or 0)
  return math.min(1, n / (2 * HOT_RPM))
end

-- counters for /metrics (hotelmux_search_cache_total{event}) and for tests (hm.shared)
local function stat(name, n)
  hm.shared.incr("cache:stat:" .. name, n or 1, 0)
  hm.metrics.counter("hotelmux_search_cache_total", { event = name }, n or 1)
end
M.cache_stat = stat

local function search_q(codes, stay)
  return { hotel_ids = codes, check_in = stay.check_in, check_out = stay.check_out, nights = stay.nights,
           rooms = stay.rooms, currency = stay.currency, nationality = stay.nationality,
           residency = stay.residency }
end

local function canonical_id(sup, code)
  local h = H.by_supplier[sup] and H.by_supplier[sup][tostring(code)]
  return h and h.id
end

local function decode_entry(v)
  local ok, e = pcall(hm.json.decode, v)
  if not ok or type(e) ~= "table" or e.v ~= 1 then return nil end
  if e.h == hm.json.null then e.h = nil end
  return e
end

-- The connector's answer, split per requested hotel code (absent = nil).
local function by_code(res)
  local out = {}
  for _, sh in ipairs(type(res) == "table" and res.hotels or {}) do
    if type(sh) == "table" and sh.id ~= nil then out[tostring(sh.id)] = sh end
  end
  return out
end

-- Store one hotel's answer; returns the TTL the core allowed (nil = not cached).
-- epoch: hotel_epoch() read before the supplier was called: the core refuses
-- the store if a webhook invalidated that hotel (or supplier) since, so a
-- pre-webhook answer never becomes an entry.
local function hotel_epoch(sup, code)
  return hm.cache.epoch("hotel:" .. sup .. ":" .. tostring(code), "supplier:" .. sup)
end

local function store_entry(sup, code, key, sh, stay, epoch)
  local okj, val = pcall(hm.json.encode, { v = 1, h = sh or hm.json.null })
  if not okj then return nil end
  local ttl = hm.cache.set_search(key, val, {
    supplier = sup, hotel_id = tostring(code), check_in = stay.check_in, nights = stay.nights,
    hotness = hotness(canonical_id(sup, code)), utc_offset_hours = UTC_OFFSET, epoch = epoch })
  return ttl, val
end

-- A live answer: ttlSeconds stays 0 (the API's contract for live data), even
-- when the answer was also stored for later searches.
local function live_fresh()
  return FRESH
end

local function cache_fresh(meta)
  return { source = "cache", ageSeconds = math.floor((meta.age or 0) + 0.5), ttlSeconds = math.floor((meta.ttl or 0) + 0.5),
           referencePrice = true }
end

-- Background refresh of one hot entry (hm.timer.at: not on the client's time).
local function refresh(sup, code, key, stay)
  local ok, err = pcall(function()
    local conn = A.connector(sup)
    if not conn then return end
    local tmo = A.timeout_ms(sup, conn)
    stat("refresh_ahead")
    local epoch = hotel_epoch(sup, code)
    local res = A.call(sup, "search", tmo, function() return conn.search(A.ctx(sup, nil, tmo), search_q({ code }, stay)) end)
    if res then store_entry(sup, code, key, by_code(res)[tostring(code)], stay, epoch) end
  end)
  if not ok then hm.log.warn("refresh-ahead failed", { supplier = sup, key = key, err = tostring(err) }) end
  hm.shared.delete("ra:b:" .. key)
end

-- Refresh one entry in the background soon: one refresh per key in flight,
-- at most RA_RATE a second on this node.
local function refresh_soon(sup, code, key, stay)
  if not hm.shared.add("ra:b:" .. key, 1, 5) then return end   -- one refresh per key in flight
  -- the budget: at most RA_RATE refreshes in any one-second window on this node
  local used = bump("ra:w:" .. math.floor(hm.time.monotonic()), 2)
  if not used or used > RA_RATE then
    stat("refresh_ahead_dropped")
    return     -- "ra:b" stays for its 5 s: a budget-starved key is not retried on every read
  end
  hm.timer.at(0, function() refresh(sup, code, key, stay) end)
end

-- An entry hit: refresh ahead of expiry when the key is hot (meta.reads:
-- the core's count of reads since it was stored; 1 for a copy just taken
-- from Redis).
local function maybe_refresh(sup, code, key, meta, stay)
  if RA_RATE <= 0 or not (hm.timer and hm.timer.at) then return end
  local ttl, age = meta.ttl or 0, meta.age or 0
  if (meta.reads or 1) < RA_MIN_READS or ttl - age >= RA_FRACTION * ttl then return end
  refresh_soon(sup, code, key, stay)
end

-- Singleflight: concurrent misses for one key make one supplier call. The
-- first request to miss leads the key's flight (hm.cache.flight: atomic across
-- workers, in C) and calls the supplier for all the keys it leads; the others
-- park on the flight (hm.cache.await: no polling, the coroutine is resumed by
-- the leader's hm.cache.land, on whatever worker it runs) until it lands or
-- their supplier deadline passes. A landed value is kept 1 s in the core, so
-- a request that missed the cache just before the leader stored its entry
-- (or an answer the policy would not cache) does not make a second call.
local function release(key, val, failed)
  hm.cache.land(key, val, failed)
end

-- The job for one supplier: fetch the keys this request leads, then collect
-- the ones other requests lead. Returns { items = {{sh, fresh}}, coalesced,
-- parts }: parts = the entries it fetched and stored (for the answer level;
-- nil when one was not stored: that answer cannot be stored either).
local function run_plan(plan, stay, req)
  local items, coalesced, parts = {}, 0, {}
  local deadline = hm.time.monotonic() + plan.tmo / 1000
  if #plan.fetch > 0 then
    local epochs = {}
    for _, code in ipairs(plan.fetch) do epochs[code] = hotel_epoch(plan.sup, code) end
    local res, err = plan.conn.search(A.ctx(plan.sup, req, plan.tmo), search_q(plan.fetch, stay))
    if not res then
      for _, code in ipairs(plan.fetch) do
        local key = plan.keys[code]
        if key and plan.locks[key] then release(key, nil, "leader call failed"); plan.locks[key] = nil end
      end
      return nil, err
    end
    local got = by_code(res)
    for _, code in ipairs(plan.fetch) do
      local sh = got[tostring(code)]
      local key = plan.keys[code]
      local ttl, val
      local at = hm.time.monotonic()   -- before the store: the age counted from it is never short
      if key then
        ttl, val = store_entry(plan.sup, code, key, sh, stay, epochs[code])
        if plan.locks[key] then
          if not val then val = select(2, pcall(hm.json.encode, { v = 1, h = sh or hm.json.null })) end
          release(key, val); plan.locks[key] = nil
        end
      end
      -- its own freshness table: answer_put turns it into the stored form
      local it = sh and { sh = sh, fresh = live_freshness() }
      if it then items[#items + 1] = it end
      if parts and ttl then
        parts[#parts + 1] = { sup = plan.sup, code = tostring(code), at = at, ttl = ttl, fresh = it and it.fresh,
                              live = true }
      else
        parts = nil
      end
    end
  end
  for _, code in ipairs(plan.wait) do
    local key = plan.keys[code]
    local v, why = hm.cache.await(key, math.max(0, deadline - hm.time.monotonic()))
    if v then
      local e = decode_entry(v)
      if e and e.h then items[#items + 1] = { sh = e.h, fresh = live_fresh() } end
      coalesced = coalesced + 1
    elseif why == "no flight" then
      -- the leader landed and its hand-over expired: its entry is in the cache
      local cv, meta = hm.cache.get(key)
      local e = cv and decode_entry(cv)
      if not e then return nil, c_err("supplier", "coalesced search: leader gave no result") end
      if e.h then items[#items + 1] = { sh = e.h, fresh = cache_fresh(meta) } end
      coalesced = coalesced + 1
    elseif why == "timeout" then
      return nil, c_err("timeout", "coalesced search: no result in time")
    else
      return nil, c_err("supplier", "coalesced search failed: " .. tostring(why))
    end
  end
  return { items = items, coalesced = coalesced, parts = parts }
end

-- Add one supplier's hotels (items = {{sh, fresh}}) to grouped: each
-- supplier room's rates go to its canonical room (see regroup, run once per
-- hotel when every supplier is in: regrouping after each supplier redid the
-- whole hotel five times, ~7 % of a search); every rate keeps the supplier's
-- own naming (originalRoomNaming, with mappedBy = table | data | model | none
-- and the model's score). A supplier's rooms join only when all of its
-- result mapped: a rejected result adds nothing.
local function absorb(grouped, sup, items, stay, st)
  local adds = {}       -- { {hotel, entries}, ... } in the supplier's order
  for _, it in ipairs(items) do
    local sh = it.sh
    local hotel = H.by_supplier[sup] and H.by_supplier[sup][tostring(sh.id)]
    if hotel then
      st.hotelCount = st.hotelCount + 1
      local list = {}
      for _, sr in ipairs(sh.rooms or {}) do
        local cid, entry, source = canonical_room(hotel, sup, tostring(sh.id), sr)
        -- Some suppliers (DerbySoft) send room codes only; their names come
        -- from the supplier's content feed, here the hotel data.
        if sr.name == nil then sr.name = entry and entry.name or tostring(sr.id) end
        -- regroup's name model reads names as text: refuse other types here,
        -- where the error is this supplier's
        local nt = type(sr.name)
        if nt ~= "string" and nt ~= "number" then error("room name is a " .. nt, 0) end
        local e = { sup = sup, code = tostring(sr.id), name = sr.name, cid = cid, source = source, pkgs = {} }
        for _, rate in ipairs(sr.rates or {}) do
          e.pkgs[#e.pkgs + 1] = M.rate_pkg(sup, sh, sr, rate, stay, hotel, it.fresh)
        end
        list[#list + 1] = e
      end
      adds[#adds + 1] = { hotel, list }
    end
  end
  for _, a in ipairs(adds) do
    local hotel = a[1]
    local g = grouped[hotel.id]
    if not g then g = { hotel = hotel, rooms = {}, order = {}, entries = {} }; grouped[hotel.id] = g end
    for _, e in ipairs(a[2]) do g.entries[#g.entries + 1] = e end
    g.dirty = true
  end
end

-- Group every hotel a supplier added to (absorb) into its rooms.
local function regroup_all(grouped)
  for id, g in pairs(grouped) do
    if g.dirty then
      g.dirty = nil
      local ok, err = pcall(regroup, g)
      if not ok then     -- absorb checked what regroup reads: a bug, not supplier data
        hm.log.error("room grouping failed", { hotel = id, err = tostring(err) })
        g.rooms, g.order = {}, {}
      end
    end
  end
end

-- A supplier's freshness in an answer: "cache" when all n of its items came
-- from the cache, else "live" (a reference price when some did).
local function supplier_freshness(cached, n)
  if cached > 0 and cached == n then return { source = "cache", referencePrice = true } end
  return { source = "live", referencePrice = cached > 0 }
end

-- Fan out one search; returns canonical hotel id -> { hotel, rooms = {roomTypeId -> Room} },
-- statuses, and the answer's overall freshness.
function M.search(req, stay, hotels)
  local jobs, plans = {}, {}
  local statuses, done = {}, {}
  local use_cache = CACHE_ON and not M.live_only(stay)
  if use_cache then note_searched(hotels) end
  -- every cached entry the answer is made of (for the answer level): its
  -- supplier, hotel code, age and TTL when read, and the freshness table
  -- its rates share (nil for "no availability")
  local parts = {}
  -- taken before any entry is read: an invalidation that overlaps the
  -- composing keeps the answer out of the cache (nil: one is running now)
  parts.epoch = use_cache and hm.cache.epoch() or nil
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
        local plan = { sup = sup, conn = conn, tmo = tmo, fetch = {}, wait = {}, keys = {}, locks = {},
                       cached = {}, hits = 0, misses = 0 }
        if not use_cache then
          plan.fetch = codes
        else
          for _, code in ipairs(codes) do
            local key = M.cache_key(sup, code, stay)
            local v, meta = hm.cache.get(key)
            local e = v and decode_entry(v)
            if e then
              plan.hits = plan.hits + 1
              local part = { sup = sup, code = tostring(code), age = meta.age or 0, ttl = meta.ttl or 0 }
              if e.h then
                part.fresh = cache_fresh(meta)
                plan.cached[#plan.cached + 1] = { sh = e.h, fresh = part.fresh }
              end
              parts[#parts + 1] = part
              maybe_refresh(sup, code, key, meta, stay)
            else
              plan.misses = plan.misses + 1
              plan.keys[code] = key
              local role, landed = hm.cache.flight(key, tmo / 1000 + 0.5)
              local le = role == "landed" and decode_entry(landed)
              if le then      -- another request's call landed just now
                plan.coalesced = (plan.coalesced or 0) + 1
                if le.h then plan.cached[#plan.cached + 1] = { sh = le.h, fresh = live_fresh() } end
              elseif role == "follow" then
                plan.wait[#plan.wait + 1] = code
              else            -- "lead" (or no memory for the flight: call anyway)
                plan.locks[key] = role == "lead" or nil
                plan.fetch[#plan.fetch + 1] = code
              end
            end
          end
          if plan.hits > 0 then stat("hits", plan.hits) end
          if plan.misses > 0 then stat("misses", plan.misses) end
        end
        if #plan.fetch > 0 or #plan.wait > 0 then
          local job = A.job(sup, "search", tmo, function() return run_plan(plan, stay, req) end)
          -- only waiting for other requests' calls: no supplier call, so no guard (qps, breaker)
          if #plan.fetch == 0 then job.supplier = nil end
          jobs[#jobs + 1] = job
          plans[#plans + 1] = plan
        else
          done[#done + 1] = plan
        end
      end
    end
  end
  local deadline = tonumber(hm.config.search_deadline_ms) or 1000
  -- gate: when this worker cannot keep up, the search waits for its turn
  -- before any supplier's deadline starts, or is told busy (nothing called)
  local results, busy = {}, nil
  if #jobs > 0 then results, busy = hm.fanout(jobs, { deadline_ms = deadline, gate = true }) end
  if not results then
    for _, plan in ipairs(plans) do
      for key in pairs(plan.locks) do release(key, nil, "busy") end
    end
    A.raise_busy(busy)
  end
  local grouped = {}
  local any_cache, max_age, min_ttl = false, 0, nil

  local function finish(plan, st, items)
    st.hotelCount = 0
    if plan.coalesced and plan.coalesced > 0 then stat("coalesced", plan.coalesced) end
    if use_cache then st.cache = { hits = plan.hits, misses = plan.misses, coalesced = plan.coalesced or 0 } end
    local all = {}
    for _, it in ipairs(plan.cached) do all[#all + 1] = it end
    for _, it in ipairs(items or {}) do all[#all + 1] = it end
    parts.items_of = parts.items_of or {}
    parts.items_of[plan.sup] = #all
    local ok, perr = pcall(absorb, grouped, plan.sup, all, stay, st)
    if not ok then
      st.status, st.error = "error", "bad connector result: " .. tostring(perr)
      hm.log.warn("connector result rejected", { supplier = plan.sup, err = tostring(perr) })
    end
    local cached = 0
    for _, it in ipairs(all) do
      if it.fresh.source == "cache" then
        cached = cached + 1
        any_cache = true
        if it.fresh.ageSeconds > max_age then max_age = it.fresh.ageSeconds end
        local left = it.fresh.ttlSeconds - it.fresh.ageSeconds
        if not min_ttl or left < min_ttl then min_ttl = left end
      end
    end
    st.freshness = supplier_freshness(cached, #all)
    statuses[#statuses + 1] = st
  end

  for _, plan in ipairs(done) do
    finish(plan, { supplier = plan.sup, status = "ok", latencyMs = 0 }, {})
  end
  for i, r in ipairs(results) do
    local plan = plans[i]
    -- a job refused by the guard or cut at its deadline may still hold locks
    for key in pairs(plan.locks) do release(key, nil, r.status ~= "ok" and r.status or "no result") end
    plan.locks = {}
    local st = { supplier = plan.sup, status = r.status, latencyMs = math.floor((r.latency_ms or 0) + 0.5) }
    local items
    if r.status == "ok" and type(r.value) ~= "table" then
      st.status, st.error = "error", "connector returned no result"
    elseif r.status ~= "ok" then
      local e = r.err
      st.error = type(e) == "table" and (e.message or e.kind) or tostring(e or r.status)
    else
      items = r.value.items
      plan.coalesced = (plan.coalesced or 0) + (r.value.coalesced or 0)
      plan.live_parts = r.value.parts
    end
    finish(plan, st, items)
  end
  regroup_all(grouped)
  C.sort_by(statuses, "supplier")
  local fresh = FRESH
  if any_cache then
    fresh = { source = "cache", ageSeconds = max_age, ttlSeconds = math.max(0, min_ttl or 0), referencePrice = true }
  end
  -- An answer is stored whole when every part of it is an entry now in the
  -- cache: read from it, or fetched by this search and stored (then it is
  -- stored as the next search would compose it from the entries, see
  -- answer_put). Not with a coalesced result (another request's call), a
  -- supplier in error or an entry the core would not keep.
  local storable = use_cache and parts.epoch ~= nil
  for _, plan in ipairs(done) do
    if (plan.coalesced or 0) > 0 then storable = false end
  end
  for _, plan in ipairs(plans) do
    if (plan.coalesced or 0) > 0 or not plan.live_parts then
      storable = false
    else
      for _, p in ipairs(plan.live_parts) do parts[#parts + 1] = p end
      parts.live = true
    end
  end
  for _, st in ipairs(statuses) do
    if st.status ~= "ok" then storable = false end
  end
  return grouped, statuses, fresh, storable and #parts > 0 and parts or nil
end

-- Build the HotelByte Hotel list from grouped results.
local function build_hotels(grouped, stay, max_rates, desc)
  local list = {}
  for _, g in pairs(grouped) do
    local h = g.hotel
    local rooms, min = {}, nil
    for _, cid in ipairs(g.order) do
      local room = g.rooms[cid]
      table.sort(room.rates, desc and net_desc or net_asc)
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
      table.sort(all, net_asc)
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

---------------------------------------------------------------------------
-- The answer level (issue 4, the Varnish way). Composing a search from its
-- cached entries costs ~1 ms of Lua (decode, pricing, signed ratePkgIds, room
-- grouping, encode); when every part of an answer is an entry in the cache
-- (read from it, or fetched by this very search and stored), its encoded
-- text is stored whole and the next identical search is served from it by
-- the core (hm.cache.answer) without any of that.
--   key:   every request field that changes the answer (see answer_key)
--   tags:  the union of its entries' tags (hotel:<supplier>:<code> and
--          supplier:<supplier>, as hm.cache.set_search sets them), so a
--          webhook about any part drops the whole answer
--   TTL:   the smallest remaining TTL of its entries: never longer, so the
--          core's clamps hold for it too; near check-in (live_only) it is
--          neither read nor written, and ARI paths never read it
-- The stored text is an agedoc (core/agedoc.c): a head line per part (a
-- cached entry: its age and TTL when read, whether it has rates, and
-- "supplier|code"), then the answer after its per-request "basic" (the
-- session id), which each hit puts in front. Each rate's
-- freshness.ageSeconds and the answer's own freshness are placeholders the
-- core fills in on every hit with the ages as they are then: all ages
-- advance together, so an entry's age is its age when the answer was stored
-- plus the answer's own age.
local ANSWER_V = "a2"
-- What shapes an answer besides the request: the script generation (a reload
-- may change the hotel data, the mapping table, pricing, fx or the secret that
-- signs ratePkgIds; the L1 cache outlives it), then the data and suppliers.
local ANSWER_GEN = hm.crypto.sha256_hex(table.concat({ tostring(hm.generation), data_mod, mapping_text,
                                                       table.concat(A.supplier_ids(), ",") }, "\n")):sub(1, 16)
local AGE_MARK = "\1hm-age:"                      -- part i's age: AGE_MARK .. i .. "\1"
local ANSWER_FRESH = { source = "cache", ageSeconds = "\1hm-age:max\1", ttlSeconds = "\1hm-left:min\1",
                       referencePrice = true }
local RA_ON = RA_RATE > 0 and hm.timer and hm.timer.at and RA_FRACTION or nil

-- The occupancy exactly as asked (rooms and children in request order: the
-- ratePkgIds carry it), unlike occ_key which normalises for the entries.
local function occ_exact(rooms)
  local parts = {}
  for i, r in ipairs(rooms) do
    local kids = {}
    for j, a in ipairs(r.children or {}) do kids[j] = tostring(a) end
    parts[i] = tostring(r.adults) .. "-" .. table.concat(kids, ".")
  end
  return table.concat(parts, "|")
end

-- kind: "rates" | "list"; hotels: canonical hotels in request order; extra:
-- the kind's own fields (sort, paging, maxRatesPerHotel, ...).
local function answer_key(kind, hotels, stay, extra)
  local ids = {}
  for i, h in ipairs(hotels) do ids[i] = h.id end
  local norm = table.concat({ kind, table.concat(ids, ","), stay.check_in, stay.check_out, occ_exact(stay.rooms),
                              stay.currency, stay.nationality or "", stay.residency or "",
                              table.concat(extra, ",") }, "\31")
  -- hashed: 50 hotel ids would not fit a cache key
  return ANSWER_V .. ":" .. ANSWER_GEN .. ":" .. hm.crypto.sha256_hex(norm)
end

-- A stored answer as the response body (rendered by the core), or nil. The
-- hit counts as a search of its hotels (hotness); a hot answer whose parts
-- near expiry refreshes them ahead, as composing would.
local function answer_get(key, basic, stay, hotels)
  local body, _, reads, expiring = hm.cache.answer(key, A.ok_prefix("basic", basic), RA_ON)
  if not body then return nil end
  note_searched(hotels)
  if expiring and reads >= RA_MIN_READS then
    for _, label in ipairs(expiring) do
      local sup, code = label:match("^([^|]+)|(.+)$")
      if sup then refresh_soon(sup, code, M.cache_key(sup, code, stay), stay) end
    end
  end
  return body
end

-- A supplier's status as a search composed from its entries shows it.
local function status_from_cache(st, items)
  local c = st.cache or {}
  return { supplier = st.supplier, status = "ok", latencyMs = 0, hotelCount = st.hotelCount,
           cache = { hits = (c.hits or 0) + (c.misses or 0), misses = 0, coalesced = 0 },
           freshness = supplier_freshness(items, items) }
end

-- The answer to this search as a response body: data (without basic and
-- freshness) encoded once into an agedoc, rendered for this request and,
-- parts given (M.search's answers made of entries), stored. With parts this
-- search fetched (parts.live), this request's answer says they are live
-- (ttlSeconds 0, referencePrice false), and the stored one is encoded again
-- as the next search would compose it from the entries: every part from the
-- cache, its age counted from now, the suppliers' statuses as cache hits.
-- One compose instead of two when an entry expired.
local function answer_put(key, parts, data, basic, fresh)
  local head, tags, seen, min_left, storable = {}, {}, {}, nil, parts and true or false
  local live_body
  if parts and parts.live then
    live_body = hm.cache.render(table.concat({ "0\n", '"freshness":', A.encode(fresh), ",",
                                               A.encode(data):sub(2), "}" }), A.ok_prefix("basic", basic))
    if not live_body then error("answer not rendered") end
    local now = hm.time.monotonic()
    for _, p in ipairs(parts) do
      if p.live then
        p.age = now - p.at
        if p.fresh then
          p.fresh.source, p.fresh.ttlSeconds, p.fresh.referencePrice = "cache", math.floor(p.ttl + 0.5), true
        end
      end
    end
    local sts = {}
    for i, st in ipairs(data.suppliers) do sts[i] = status_from_cache(st, parts.items_of[st.supplier] or 0) end
    data.suppliers = A.arr(sts)
  end
  if parts then
    fresh = FRESH
    for i, p in ipairs(parts) do
      if p.fresh then
        p.fresh.ageSeconds = AGE_MARK .. i .. "\1"
        fresh = ANSWER_FRESH
      end
      local label = p.sup .. "|" .. p.code
      -- a code with a line break would break the head: not stored, not refreshed
      if label:find("\n", 1, true) then storable, label = false, "" end
      head[i] = string.format("%.3f %.3f %d %s\n", p.age, p.ttl, p.fresh and 1 or 0, label)
      for _, t in ipairs({ "hotel:" .. p.sup .. ":" .. p.code, "supplier:" .. p.sup }) do
        if not seen[t] then seen[t] = true; tags[#tags + 1] = t end
      end
      local left = p.ttl - p.age
      if not min_left or left < min_left then min_left = left end
    end
  end
  local doc = table.concat({ #head, "\n", table.concat(head), '"freshness":', A.encode(fresh), ",",
                             A.encode(data):sub(2), "}" })
  -- more tags than an entry holds: an invalidation could miss it, so not stored
  if storable and #tags <= hm.cache.max_tags and min_left > 0 then
    -- L1 only: each node composes its own answers from the shared entries
    -- (a Redis write lands after we answer and could outlive an invalidation)
    local ok = hm.cache.set(key, doc, { ttl = min_left, tags = tags, l1_only = true, epoch = parts.epoch })
    if ok then stat("answer_stored") end
  end
  if live_body then return live_body end
  local body, err = hm.cache.render(doc, A.ok_prefix("basic", basic))
  if not body then error("answer not rendered: " .. tostring(err)) end
  return body
end

-- Parsed searches by request body (and currency header), per worker: a
-- repeated search (the cached case) finds its answer before its body is even
-- decoded (A.handler's before_body), without parsing, validating and keying
-- it again. Only bodies that parsed cleanly are kept, never one with relative
-- dates ("now()+7": its meaning changes with the day); emptied when full. A
-- memo hit whose answer is gone falls through to the full path, which does
-- not look the same key up twice (req.memo_key).
local memo, nmemo, MEMO_MAX = { list = {}, rates = {} }, 0, 4096

-- The core keeps the same memo (lua_memo.h) and answers a repeated search
-- without running this script at all when it can; it passes the request
-- here when it cannot (an unknown ticket, a limit refusing, the answer gone,
-- refresh-ahead due). Its hits come back once a second as hotness.
local core_memo = {}            -- handle -> memo entry
local next_handle, draining = 0, false
local SID_MARK = "\1hm-sid\1"
local SID_JSON = hm.json.encode(SID_MARK):sub(2, -2)   -- as it appears inside the prefix

local function drain()
  for h, n in pairs(hm.memo.drain()) do
    local m = core_memo[h]
    if m then note_searched(m.hotels, n) end
  end
  draining = nmemo > 0 and hm.timer.at(1, drain) and true or false
end

local function basic_of(kind, sid)
  if kind == "list" then return { destinationId = H.destination.id, sessionId = sid } end
  return { sessionId = sid }
end

local function memo_core(kind, req, m)
  if not (hm.timer and hm.timer.at) then return end   -- no timer: its hits could not count
  local prefix, after = A.ok_prefix("basic", basic_of(kind, m.session or SID_MARK)), nil
  if not m.session then
    local at = prefix:find(SID_JSON, 1, true)
    prefix, after = prefix:sub(1, at - 1), prefix:sub(at + #SID_JSON)
  end
  if not m.handle then next_handle = next_handle + 1; m.handle = next_handle end
  core_memo[m.handle] = m
  hm.memo.put(req.path, req.headers.currency or false, req.body, m.key, {
    prefix = prefix, after = after, session_header = kind == "list", live_at = M.live_at(m.stay),
    ra_fraction = RA_ON or 0, ra_min_reads = RA_MIN_READS, ra_per_s = RA_RATE, handle = m.handle })
  if not draining then draining = hm.timer.at(1, drain) and true or false end
end

local function memo_put(kind, req, key, stay, hotels, session)
  if not req.body or req.body:find("now(", 1, true) then return end
  if nmemo >= MEMO_MAX then
    memo, nmemo, core_memo = { list = {}, rates = {} }, 0, {}
    hm.memo.clear()
  end
  local old = memo[kind][req.body]
  if not old then nmemo = nmemo + 1 end
  local m = { key = key, stay = stay, hotels = hotels, session = session,
              currency = req.headers.currency or false, handle = old and old.handle }
  memo[kind][req.body] = m
  memo_core(kind, req, m)
end

local function memo_answer(kind, req)
  local m = req.body and memo[kind][req.body]
  if not m or m.currency ~= (req.headers.currency or false) or M.live_only(m.stay) then return nil end
  req.memo_key = m.key
  local sid = m.session or session_id()
  local hit = answer_get(m.key, basic_of(kind, sid), m.stay, m.hotels)
  if kind == "rates" then return hit and A.ok_body(req, hit) end
  return hit and A.ok_body(req, hit, { ["Session-Id"] = sid })
end
local LIST_FAST = { before_body = function(req) return memo_answer("list", req) end }
local RATES_FAST = { before_body = function(req) return memo_answer("rates", req) end }

hm.route("POST", "/api/search/hotelList", A.handler(function(req, body)
  local stay = parse_stay(body, req)
  local desc = sort_desc(body)
  local page = A.int(body, "pageNum", 1, 1)
  local size = A.int(body, "pageSize", 20, 1)
  if size > 100 then A.raise(A.CODE.page_size, "pageSize exceeds 100") end
  local max_rates = A.int(body, "maxRatesPerHotel", nil, 0)
  local hotels = resolve_hotels(body)
  local sid = session_id()
  local basic = basic_of("list", sid)
  local key = CACHE_ON and not M.live_only(stay)
              and answer_key("list", hotels, stay, { tostring(desc), page, size, tostring(max_rates) })
  if key then memo_put("list", req, key, stay, hotels) end
  local hit = key and key ~= req.memo_key and answer_get(key, basic, stay, hotels)
  if hit then return A.ok_body(req, hit, { ["Session-Id"] = sid }) end
  local grouped, statuses, fresh, parts = M.search(req, stay, hotels)
  local list = build_hotels(grouped, stay, max_rates, desc)
  local total = #list
  local from = (page - 1) * size + 1
  local pageList = {}
  for i = from, math.min(total, from + size - 1) do pageList[#pageList + 1] = list[i] end
  return A.ok_body(req, answer_put(key, key and parts, {
    list = A.arr(pageList),
    total = total, hasMore = from + size - 1 < total, pageNum = page, pageSize = size,
    suppliers = A.arr(statuses),
  }, basic, fresh), { ["Session-Id"] = sid })
end, LIST_FAST))

hm.route("POST", "/api/search/hotelRates", A.handler(function(req, body)
  local stay = parse_stay(body, req)
  local desc = sort_desc(body)
  if not A.val(body.hotelId) and #A.list(body, "hotelIds") == 0 then A.param("hotelId", "required") end
  local hotels = resolve_hotels(body)
  if #hotels == 0 then A.raise(A.CODE.not_found, "hotel not found: " .. tostring(A.val(body.hotelId))) end
  local max_rates = A.int(body, "maxRatesPerHotel", nil, 0)
  local basic = basic_of("rates", A.val(body.sessionId) or session_id())
  local key = CACHE_ON and not M.live_only(stay)
              and answer_key("rates", hotels, stay, { tostring(desc), tostring(max_rates) })
  if key then memo_put("rates", req, key, stay, hotels, A.val(body.sessionId)) end
  local hit = key and key ~= req.memo_key and answer_get(key, basic, stay, hotels)
  if hit then return A.ok_body(req, hit) end
  local grouped, statuses, fresh, parts = M.search(req, stay, hotels)
  local list = build_hotels(grouped, stay, max_rates, desc)
  local h = list[1]
  return A.ok_body(req, answer_put(key, key and parts, {
    hotelId = hotels[1].id,
    rooms = A.arr(h and h.rooms or {}),
    minPrice = h and h.minPrice or hm.json.null,
    isAvailable = h and h.isAvailable or false,
    suppliers = A.arr(statuses),
  }, basic, fresh))
end, RATES_FAST))

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
  local res, err, status = A.call(sup, "check_avail", tmo, function() return conn.check_avail(A.ctx(sup, req, tmo), rate) end)
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
