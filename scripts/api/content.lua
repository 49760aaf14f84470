-- api/content.lua -- GET /api/content/hotel/{id}: a hotel's static content
-- (name, address, star rating, coordinates, rooms with names) from the hotel
-- data module (config.hotel_data, default examples/data/dubai.lua).
--
-- L3 of the cache design: the body is kept in hm.cache (L1, and L2 when Redis
-- is configured) for a day, tagged "content:hotel:<id>", and answered with
--   Cache-Control: public, max-age=86400
--   ETag: "<sha-256 of the body, 128 bits>"      (If-None-Match -> 304)
-- so a CDN or browser can hold it.
--
-- Auth: HotelByte requires a ticket on every /api path and so do we (the
-- ticket also rate-limits per app). `public` is deliberate: RFC 9111 §3.5
-- forbids a shared cache to store an answer to a request with Authorization
-- unless the answer says `public` (or s-maxage / must-revalidate). The content
-- is the same for every app, so a CDN in front of hotelmux may store it and
-- serve it to other clients; the CDN holds its own ticket (or forwards the
-- client's) when it revalidates with If-None-Match. Without a valid ticket the
-- answer is the usual 401 envelope, which no cache stores (not `public`).
local A = require("api.common")

local data_mod = (hm.config and hm.config.hotel_data) or "data.dubai"
local H = require(data_mod)

local M = {}
local MAX_AGE = 86400

local by_id = {}
for _, h in ipairs(H.hotels) do by_id[h.id] = h end

local function supplier_order()
  local ids = {}
  for id in pairs(hm.config.suppliers or {}) do ids[#ids + 1] = id end
  table.sort(ids)
  return ids
end

function M.content(h)
  local rooms = {}
  for _, r in ipairs(h.rooms or {}) do
    local name
    for _, s in ipairs(supplier_order()) do
      if r.suppliers[s] then name = r.suppliers[s].name; break end
    end
    if not name then for _, v in pairs(r.suppliers) do name = v.name; break end end
    rooms[#rooms + 1] = { roomTypeId = r.id, roomTypeName = { en = name or r.id } }
  end
  return { id = h.id, name = { en = h.name }, star = h.star, address = { en = h.address },
           latlngCoordinator = { google = { lat = h.lat, lng = h.lng } },
           destinationId = H.destination.id, destinationName = H.destination.name,
           countryCode = H.destination.country, rooms = A.arr(rooms) }
end

local function etag_of(body) return '"' .. hm.crypto.sha256_hex(body):sub(1, 32) .. '"' end

-- If-None-Match: "*", or a list of (weak or strong) tags; weak comparison (RFC 9110 §13.1.2).
local function matches(inm, etag)
  if not inm then return false end
  if inm:match("^%s*%*%s*$") then return true end
  for tag in inm:gmatch('[^,]+') do
    tag = tag:gsub("^%s+", ""):gsub("%s+$", ""):gsub("^W/", "")
    if tag == etag then return true end
  end
  return false
end

hm.route("GET", "/api/content/hotel/{id}", A.handler(function(req)
  local id = req.params.id
  local key = "content:hotel:" .. id
  local body = hm.cache.get(key)
  if not body then
    local h = by_id[id]
    if not h then A.raise(A.CODE.not_found, "hotel not found: " .. id) end
    local r = A.ok(req, M.content(h))
    body = r.body
    hm.cache.set(key, body, { ttl = MAX_AGE, tags = { key, "content" } })
  end
  local etag = etag_of(body)
  local headers = { ["Cache-Control"] = "public, max-age=" .. MAX_AGE, ETag = etag }
  if matches(req.headers["if-none-match"], etag) then
    return { status = 304, headers = headers, body = "" }
  end
  local r = { status = 200, headers = { ["Content-Type"] = "application/json" }, body = body }
  for k, v in pairs(headers) do r.headers[k] = v end
  r.headers["Request-Id"] = req.id
  return r
end))

return M
