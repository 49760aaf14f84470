-- tests/bench/world1000.lua -- a 1,000-hotel demo world for bench_cached.py.
-- bench_cached.py installs it as data/dubai.lua in a folder ahead of
-- examples/ on lua_path (so the gateway and every simulator see the same
-- world) and the real demo data as data/dubai_real.lua, used as templates:
-- hotel i copies template (i mod 6): its suppliers (each under a new, unique
-- hotel code), rooms, room codes and prices (+ i cents, so hotels differ).
local T = require("data.dubai_real")
local N = 1000

local H = { destination = T.destination, currency = T.currency, hotels = {} }
local BASE = { hotelbeds = 1000000, expedia = 20000000, agoda = 3000000, dida = 400000 }

local function code_of(sup, i)
  if BASE[sup] then return tostring(BASE[sup] + i) end
  return string.format("BN%04d", i)   -- derbysoft: alphanumeric codes
end

for i = 1, N do
  local t = T.hotels[(i - 1) % #T.hotels + 1]
  local sups = {}
  for sup, m in pairs(t.suppliers) do sups[sup] = { code = code_of(sup, i), name = m.name .. " " .. i } end
  local rooms = {}
  for _, r in ipairs(t.rooms) do
    local rs = {}
    for sup, s in pairs(r.suppliers) do
      rs[sup] = { code = s.code, name = s.name, price = string.format("%.2f", tonumber(s.price) + i / 100) }
    end
    rooms[#rooms + 1] = { id = r.id, suppliers = rs }
  end
  H.hotels[i] = { id = string.format("HM-DXB-B%04d", i), name = t.name .. " " .. i, star = t.star,
                  address = t.address, lat = t.lat, lng = t.lng, suppliers = sups, rooms = rooms }
end

H.by_supplier = T.index_by_supplier(H.hotels)
H.rooms_of = T.rooms_of
return H
