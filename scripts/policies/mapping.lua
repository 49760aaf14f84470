-- policies/mapping.lua -- which supplier offers are the same physical room.
--
-- Pipeline (the seed's): an authoritative mapping table first (GIATA-style
-- CSV: supplier, supplier hotel id, supplier room id or name -> canonical
-- room id), then the similarity model in C (hm.mapping: attribute extraction
-- + token / char 3-gram vectors + conflict penalties). Rules here are what an
-- integration engineer tunes; the heavy lifting stays in core/roomname.c.
--
-- A wrong merge is worse than none (a guest books the wrong bed), so an offer
-- whose best match scores below merge_threshold stays its own room.
--
--   local mapping = require("policies.mapping")
--   mapping.load_table_csv(csv_text)            -- optional, wins over the model
--   local rooms = mapping.group(hotel_id, offers)
--     offers: { { supplier=, room_id=, room_name=, price="123.40", ... }, ... }
--     rooms:  { { id=, name=, attributes=, names={ [supplier]=original name },
--                 offers={ cheapest first }, source="table"|"model" }, ... }
--             cheapest room first
--   mapping.to_csv(hotel_id, rooms)             -- confirmed matches -> CSV rows
--   mapping.best_room(rooms, supplier, name)    -- the model's pick for one name, or nil
--   mapping.assign(rooms, supplier, names)      -- one supplier's names at once, one-to-one
--   mapping.place(rooms, items, ...)            -- assign, supplier by supplier (group, hotelRates)
--   mapping.attributes({ names })               -- { class, type, bed, bedCount, view, ... }
--
-- The thresholds below are the one source of truth: hotelRates
-- (scripts/api/search.lua) and `hotelmux map` (explain, --best, --suggest)
-- read them from this file.
local M = {}

-- Score >= merge_threshold: same room. Measured on the Expedia/Booking pairs,
-- gold pairs mostly score >= 0.6; different bed types score <= 0.3.
M.merge_threshold = 0.55
-- The best group must beat the runner-up by this much, else no merge
-- (two look-alike canonical rooms: do not guess).
M.min_margin = 0.02
-- Never merge two different room names of the same supplier into one room
-- (a supplier lists each of its rooms once; two names = two rooms).
M.same_supplier_keeps_rooms = true

-- ------------------------------------------------------------ mapping table
M.table = {}

local function key(supplier, hotel_id, room)
  return tostring(supplier or "") .. "\0" .. tostring(hotel_id or "") .. "\0" ..
    string.lower(tostring(room or ""))
end

-- One CSV line -> fields (double quotes, "" escapes).
local function csv_fields(line)
  local out, i, n = {}, 1, #line
  while i <= n + 1 do
    if line:sub(i, i) == '"' then
      local buf, j = {}, i + 1
      while j <= n do
        local ch = line:sub(j, j)
        if ch == '"' then
          if line:sub(j + 1, j + 1) == '"' then buf[#buf + 1] = '"'; j = j + 2
          else j = j + 1; break end
        else buf[#buf + 1] = ch; j = j + 1 end
      end
      out[#out + 1] = table.concat(buf)
      i = j + 1                                 -- skip the comma
    else
      local j = line:find(",", i, true) or (n + 1)
      out[#out + 1] = line:sub(i, j - 1)
      i = j + 1
    end
  end
  return out
end

-- CSV text with rows supplier,hotel_id,room (id or name),canonical_room_id
-- (a header row starting with "supplier" and lines starting with "#" are
-- skipped). Returns rows loaded.
function M.load_table_csv(text)
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if line ~= "" and not line:match("^%s*#") and not line:lower():match("^supplier,") then
      local f = csv_fields(line)
      if #f >= 4 and f[4] ~= "" then
        M.table[key(f[1], f[2], f[3])] = f[4]
        n = n + 1
      end
    end
  end
  return n
end

-- Same from a file, when the sandbox grants io (the CLI, tests).
function M.load_table_file(path)
  if not io or not io.open then return nil, "io not available" end
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text = f:read("*a")
  f:close()
  return M.load_table_csv(text)
end

-- Canonical room id from the table (room id first, then room name), or nil.
function M.lookup(supplier, hotel_id, room_id, room_name)
  return (room_id and M.table[key(supplier, hotel_id, room_id)]) or
    (room_name and M.table[key(supplier, hotel_id, room_name)]) or nil
end

-- ------------------------------------------------------------------ groups
local function cheaper(a, b)
  local pa, pb = a.price, b.price
  if pa == nil then return false end
  if pb == nil then return true end
  if hm and hm.money then
    local ok, c = pcall(hm.money.cmp, pa, pb)
    if ok then return c < 0 end
  end
  return (tonumber(pa) or math.huge) < (tonumber(pb) or math.huge)
end

local function new_room(id, offer, source)
  return { id = id, name = offer.room_name, source = source,
           attributes = hm.mapping.parse(offer.room_name or ""),
           names = { [offer.supplier or "?"] = offer.room_name },
           members = { offer.room_name or "" }, offers = {} }
end

local function add(room, offer)
  room.offers[#room.offers + 1] = offer
  local s = offer.supplier or "?"
  if room.names[s] == nil then room.names[s] = offer.room_name end
  local seen = false
  for _, m in ipairs(room.members) do if m == offer.room_name then seen = true end end
  if not seen then room.members[#room.members + 1] = offer.room_name or "" end
end

-- Does room already hold a different room name of this supplier?
local function supplier_clash(room, offer)
  if not M.same_supplier_keeps_rooms then return false end
  local have = room.names[offer.supplier or "?"]
  return have ~= nil and have ~= offer.room_name
end

-- The room an unmapped supplier room joins, by the model: rooms is a list of
-- { names = { [supplier] = that supplier's name }, members = { names } }.
-- Returns room, score (>= merge_threshold, beating the runner-up by
-- min_margin) or nil, best score (the offer stays its own room).
function M.best_room(rooms, supplier, name)
  local best, best_s, second_s = nil, -1, -1
  for _, r in ipairs(rooms) do
    if not supplier_clash(r, { supplier = supplier, room_name = name }) then
      local s = 0
      for _, m in ipairs(r.members) do
        local v = (m == name) and 1 or hm.mapping.score(name or "", m)
        if v > s then s = v end
      end
      if s > best_s then best, best_s, second_s = r, s, best_s
      elseif s > second_s then second_s = s end
    end
  end
  if best and best_s >= M.merge_threshold and best_s - second_s >= M.min_margin then
    return best, best_s
  end
  return nil, math.max(best_s, 0)
end

-- The attributes of a room with several supplier names: per attribute, the
-- value most names state (ties: the first name's). Cheap: a few parses.
local ATTR_CACHE, ATTR_N = {}, 0
local function parse_cached(name)
  local a = ATTR_CACHE[name]
  if not a then
    if ATTR_N > 4096 then ATTR_CACHE, ATTR_N = {}, 0 end
    a = hm.mapping.parse(name)
    ATTR_CACHE[name], ATTR_N = a, ATTR_N + 1
  end
  return a
end

-- One name's vote for v as the value of field (first seen first in order).
local function vote(votes, field, v)
  if v == nil or v == "" then return end
  local t = votes[field] or { order = {} }
  votes[field] = t
  if not t[v] then t[v] = 0; t.order[#t.order + 1] = v end
  t[v] = t[v] + 1
end

function M.attributes(names)
  local votes = {}
  for _, n in ipairs(names) do
    local a = parse_cached(n or "")
    vote(votes, "class", a.tier[1])
    vote(votes, "type", a.unit[1])
    vote(votes, "bed", #a.beds > 0 and table.concat(a.beds, "+") or nil)
    vote(votes, "bedCount", a.bed_count > 0 and a.bed_count or nil)
    vote(votes, "view", #a.view > 0 and table.concat(a.view, "+") or nil)
    vote(votes, "tower", a.tower)
    vote(votes, "accessible", a.accessible or nil)
    vote(votes, "smoking", a.smoking)
    vote(votes, "bedrooms", a.bedrooms > 0 and a.bedrooms or nil)
  end
  local out = {}
  for field, t in pairs(votes) do
    local best, n = nil, 0
    for _, v in ipairs(t.order) do if t[v] > n then best, n = v, t[v] end end
    out[field] = best
  end
  out.class = out.class or "standard"
  out.type = out.type or "room"
  return out
end

-- One supplier's room names onto rooms at once. A supplier lists each of
-- its rooms once, so this is a one-to-one assignment, not one argmax per
-- name: the best-scoring pair of a name and a free room is decided first
-- (core/roomassign.c), a merged room is taken, and the next name picks among
-- the rooms left. So the plain "King Room" is not pulled into "Deluxe Room,
-- 1 King Bed" once "Deluxe King Room" has it. A merge still needs
-- merge_threshold and min_margin over the other free rooms.
-- rooms: as for best_room; names: distinct names of supplier.
-- Returns out[i] = { room = the room | nil (own room), score = its best }.
function M.assign(rooms, supplier, names)
  local out = {}
  if not M.same_supplier_keeps_rooms then      -- no one-room-per-name rule: each name alone
    for i, n in ipairs(names) do
      local r, sc = M.best_room(rooms, supplier, n)
      out[i] = { room = r, score = sc }
    end
    return out
  end
  local sup = supplier or "?"
  local open, members, rest, at = {}, {}, {}, {}
  for _, r in ipairs(rooms) do
    if r.names[sup] == nil then open[#open + 1] = r; members[#members + 1] = r.members end
  end
  for i, n in ipairs(names) do
    local own                                  -- this very name is in a room already (the table)
    for _, r in ipairs(rooms) do if r.names[sup] == n then own = r; break end end
    if own then out[i] = { room = own, score = 1 }
    else rest[#rest + 1] = n; at[#at + 1] = i end
  end
  local picks = hm.mapping.assign(rest, members, M.merge_threshold, M.min_margin)
  for k, p in ipairs(picks) do
    out[at[k]] = { room = p.merged and open[p.room] or nil, score = p.score }
  end
  return out
end

-- The model's grouping of items (offers, supplier rooms) into rooms:
-- supplier by supplier, in the order of each supplier's first item, its
-- distinct names are assigned to the rooms so far (M.assign); a name left
-- over makes a new room, which the later suppliers can join. Items with the
-- same supplier and name always share a room.
--   supplier_of(item), name_of(item): its supplier and room name
--   new_room(item) -> room (first item of a name no room takes; appended to rooms here)
--   join(room, item, score, merged): put item into room
function M.place(rooms, items, supplier_of, name_of, new_room, join)
  local by_sup, order = {}, {}
  for _, it in ipairs(items) do
    local s = supplier_of(it) or "?"
    local t = by_sup[s]
    if not t then t = { names = {}, items = {} }; by_sup[s] = t; order[#order + 1] = s end
    local n = name_of(it) or ""
    if not t.items[n] then t.items[n] = {}; t.names[#t.names + 1] = n end
    local l = t.items[n]
    l[#l + 1] = it
  end
  for _, s in ipairs(order) do
    local t = by_sup[s]
    local picks = M.assign(rooms, s, t.names)
    for i, n in ipairs(t.names) do
      local its, room = t.items[n], picks[i].room
      local merged = room ~= nil
      if not merged then room = new_room(its[1]); rooms[#rooms + 1] = room end
      for _, it in ipairs(its) do join(room, it, picks[i].score, merged) end
    end
  end
  return rooms
end

function M.group(hotel_id, offers)
  local sorted = {}
  for i, o in ipairs(offers or {}) do sorted[i] = o end
  table.sort(sorted, cheaper)                  -- cheapest first everywhere below
  local rooms, by_id, rest = {}, {}, {}
  for _, o in ipairs(sorted) do
    local id = M.lookup(o.supplier, hotel_id, o.room_id, o.room_name)
    if id then                                 -- 1. the table wins
      local r = by_id[id]
      if not r then
        r = new_room(id, o, "table"); by_id[id] = r; rooms[#rooms + 1] = r
      end
      add(r, o)
    else
      rest[#rest + 1] = o
    end
  end
  -- 2. the model, for the rest: suppliers in the order of their cheapest offer
  M.place(rooms, rest, function(o) return o.supplier end, function(o) return o.room_name end,
    function(o)
      local r = new_room("auto:" .. (hm.mapping.parse(o.room_name or "").normalised or ""), o, "model")
      -- two unmerged rooms may normalise alike: keep ids unique
      local id, n = r.id, 1
      while by_id[id] do n = n + 1; id = r.id .. "#" .. n end
      r.id = id; by_id[id] = r
      return r
    end,
    function(r, o, score, merged)
      if merged then r.score = math.min(r.score or 1, score) end
      add(r, o)
    end)
  for _, r in ipairs(rooms) do table.sort(r.offers, cheaper); r.members = nil end
  table.sort(rooms, function(a, b) return cheaper(a.offers[1], b.offers[1]) end)
  return rooms
end

-- Confirmed groups -> mapping-table CSV rows (header included), so a reviewed
-- grouping becomes authoritative next time.
function M.to_csv(hotel_id, rooms)
  local function q(s)
    s = tostring(s or "")
    if s:find('[,"\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
    return s
  end
  local out, seen = { "supplier,hotel_id,room,canonical_room_id" }, {}
  for _, r in ipairs(rooms) do
    for _, o in ipairs(r.offers) do
      local line = table.concat({ q(o.supplier), q(hotel_id), q(o.room_id or o.room_name), q(r.id) }, ",")
      if not seen[line] then seen[line] = true; out[#out + 1] = line end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

return M
