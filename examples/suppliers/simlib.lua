-- suppliers/simlib.lua -- what every simulated supplier shares: fault
-- injection, inventory and bookings in hm.shared (so all workers agree),
-- booking numbers, and the /sim/NAME/_faults, _inventory and _reset routes.
--
-- Faults come from, in order: the request header
--   X-Sim-Fault: latency=200,jitter=50,throttle,error,timeout,garbage
-- then POST /sim/NAME/_faults {"latency_ms","jitter_ms","error_rate",
-- "throttle_rate","timeout_rate","garbage_rate"} (rates 0..1), then the
-- config: config.suppliers[NAME].sim = { latency_ms = 20, ... }.
local data = require("data.dubai")

local S = {}
S.data = data

-- A JSON value kept in hm.shared, decoded once per change (it is read on
-- every simulated request; decoding it each time showed in profiles).
local memo = {}
local function shared_json(key)
  local s = hm.shared.get(key)
  if not s then return nil end
  local m = memo[key]
  if m and m.s == s then return m.v end
  local v = hm.json.decode(s)
  memo[key] = { s = s, v = v }
  return v
end

-- Price overrides (POST /sim/NAME/_price): every simulator reads its rooms
-- through data.rooms_of, so an override set here changes what the supplier
-- quotes from the next request on (a "price changed" for rates already sold).
local raw_rooms_of = data.rooms_of
function data.rooms_of(supplier, hotel)
  local rooms = raw_rooms_of(supplier, hotel)
  local prices = shared_json("sim:" .. supplier .. ":prices")   -- { ["hotel:room"] = "123.00" }
  local code = hotel.suppliers[supplier] and hotel.suppliers[supplier].code
  if prices and code then
    for _, r in ipairs(rooms) do
      r.price = prices[code .. ":" .. r.code] or r.price
    end
  end
  return rooms
end


local function config_faults(name)
  local sup = hm.config.suppliers and hm.config.suppliers[name]
  return sup and sup.sim or {}
end

-- The faults in force for this request: { latency_ms, jitter_ms, throttle, error, timeout, garbage }.
function S.faults(name, req)
  local f = {}
  for k, v in pairs(config_faults(name)) do f[k] = v end
  for k, v in pairs(shared_json("sim:" .. name .. ":faults") or {}) do f[k] = v end
  local function roll(rate) return rate and rate > 0 and math.random() < rate end
  local out = { latency_ms = tonumber(f.latency_ms) or 0, jitter_ms = tonumber(f.jitter_ms) or 0,
    throttle = roll(f.throttle_rate), error = roll(f.error_rate), timeout = roll(f.timeout_rate),
    garbage = roll(f.garbage_rate) }
  local h = req and req.headers and req.headers["x-sim-fault"]
  if h then
    for item in h:gmatch("[^,%s]+") do
      local k, v = item:match("^(%w+)=(%d+)$")
      if k == "latency" then out.latency_ms = tonumber(v)
      elseif k == "jitter" then out.jitter_ms = tonumber(v)
      elseif out[item] ~= nil or item == "throttle" or item == "error" or item == "timeout" or item == "garbage" then
        out[item] = true
      end
    end
  end
  return out
end

-- Apply the faults. `respond` gives this supplier's own answers:
--   respond.throttle() / respond.error()  -> a handler result table
-- Returns a response to send now, or nil to go on normally.
function S.intercept(name, req, respond)
  hm.shared.incr("sim:" .. name .. ":calls", 1, 0)
  local f = S.faults(name, req)
  local delay = f.latency_ms + (f.jitter_ms > 0 and math.random(0, f.jitter_ms) or 0)
  if delay > 0 then hm.sleep(delay / 1000) end
  if f.timeout then hm.sleep(10); return { status = 504, body = "" } end
  if f.throttle then return respond.throttle() end
  if f.error then return respond.error() end
  if f.garbage then
    return { status = 200, headers = { ["Content-Type"] = "application/json" },
             body = "<html><body>502 Bad Gateway</body></html>{\"truncated\":" }
  end
  return nil
end

-- Inventory: rooms left for (hotel, room); starts at the room's allotment
-- (data file) or 5. take() is atomic across workers.
local function inv_key(name, hotel, room) return "sim:" .. name .. ":inv:" .. hotel .. ":" .. room end

function S.initial(name, hotel, room)
  local h = data.by_supplier[name] and data.by_supplier[name][hotel]
  for _, r in ipairs(h and data.rooms_of(name, h) or {}) do
    if r.code == room then return r.allotment or 5 end
  end
  return 0
end

function S.left(name, hotel, room)
  local v = hm.shared.get(inv_key(name, hotel, room))
  if v == nil then return S.initial(name, hotel, room) end
  return v
end

function S.take(name, hotel, room, n)
  local v = hm.shared.incr(inv_key(name, hotel, room), -(n or 1), S.initial(name, hotel, room), 0)
  if v == 0 then S.changed(name, "sold_out", hotel, room) end
  return v ~= nil
end

-- Change hooks: a simulator that pushes webhooks registers
-- S.on_change(name, fn(kind, hotel, room)), kind = "sold_out" | "available" |
-- "price"; called on _inventory, _price and when a booking takes the last room.
local hooks = {}
function S.on_change(name, fn) hooks[name] = fn end
function S.changed(name, kind, hotel, room)
  local fn = hooks[name]
  if fn then
    local ok, err = pcall(fn, kind, tostring(hotel), tostring(room))
    if not ok then hm.log.warn("sim change hook failed", { supplier = name, err = tostring(err) }) end
  end
end

function S.give(name, hotel, room, n)
  local v = hm.shared.incr(inv_key(name, hotel, room), n or 1, S.initial(name, hotel, room))
  if v and v > 0 and v <= (n or 1) then S.changed(name, "available", hotel, room) end
end

-- Push one webhook to the gateway (config.suppliers[name].webhook_url, else
-- this server's /webhooks/NAME), signed with webhook_secret (lib/webhook.lua),
-- from a timer so the request that caused it is not delayed. Only when
-- config.suppliers[name].webhooks is true.
function S.push_webhook(name, body)
  local cfg = (hm.config.suppliers or {})[name] or {}
  if cfg.webhooks ~= true or type(cfg.webhook_secret) ~= "string" then return false end
  local url = cfg.webhook_url or (hm.self_url() .. "/webhooks/" .. name)
  hm.timer.at(0, function()
    local headers = require("lib.webhook").headers(cfg.webhook_secret, body)
    local res, err = hm.http.request({ method = "POST", url = url, headers = headers, body = body, timeout_ms = 5000 })
    hm.shared.incr("sim:" .. name .. ":webhooks", 1, 0)
    if not res or res.status ~= 200 then
      hm.log.warn("sim webhook not accepted", { supplier = name, status = res and res.status, err = err })
    end
  end)
  return true
end

-- Bookings: stored as JSON under the supplier's booking reference.
function S.next_ref(name) return math.floor(hm.shared.incr("sim:" .. name .. ":seq", 1, 100000)) end
function S.put_booking(name, ref, b) hm.shared.set("sim:" .. name .. ":bk:" .. ref, hm.json.encode(b)) end
function S.get_booking(name, ref) return shared_json("sim:" .. name .. ":bk:" .. ref) end
-- client reference -> supplier reference (idempotency and lookups by client ref)
function S.ref_by_client(name, client_ref) return hm.shared.get("sim:" .. name .. ":cref:" .. client_ref) end
function S.link_client_ref(name, client_ref, ref)
  return hm.shared.add("sim:" .. name .. ":cref:" .. client_ref, tostring(ref))
end

-- Hotels of this supplier among the requested codes, with their rooms:
-- { { code, name, hotel = <canonical>, rooms = { {code, name, price, canonical} } } }
function S.hotels(name, codes)
  local out = {}
  for _, code in ipairs(codes) do
    local h = data.by_supplier[name] and data.by_supplier[name][tostring(code)]
    if h then
      out[#out + 1] = { code = h.suppliers[name].code, name = h.suppliers[name].name, hotel = h,
                        rooms = data.rooms_of(name, h) }
    end
  end
  return out
end

-- Price of one room for the stay: nightly price, +15 % on Friday/Saturday
-- nights (Dubai's weekend), times nights. Returns a decimal string.
function S.stay_price(nightly, check_in, nights)
  local day0 = require("lib.connector").day(check_in)
  local total = "0"
  for i = 0, nights - 1 do
    local dow = (day0 + i + 4) % 7      -- 1970-01-01 was a Thursday: 0 = Sunday
    local p = (dow == 5 or dow == 6) and hm.money.mul(nightly, "1.15") or nightly
    total = hm.money.add(total, hm.money.round(p, 2))
  end
  return hm.money.round(total, 2)
end

-- /sim/NAME/_faults, /sim/NAME/_inventory, /sim/NAME/_reset
function S.control_routes(name)
  local base = "/sim/" .. name
  hm.route("POST", base .. "/_faults", function(req)
    local ok, f = pcall(hm.json.decode, req.body or "")
    if not ok or type(f) ~= "table" then return { status = 400, json = { error = "body must be a JSON object" } } end
    hm.shared.set("sim:" .. name .. ":faults", hm.json.encode(f))
    return { json = { faults = f } }
  end)
  hm.route("GET", base .. "/_faults", function()
    return { json = { faults = shared_json("sim:" .. name .. ":faults") or hm.json.decode("{}") } }
  end)
  -- {"hotel": code, "room": code, "count": n} sets rooms left
  hm.route("POST", base .. "/_inventory", function(req)
    local ok, b = pcall(hm.json.decode, req.body or "")
    if not ok or type(b) ~= "table" or not b.hotel or not b.room or type(b.count) ~= "number" then
      return { status = 400, json = { error = "need hotel, room, count" } }
    end
    local before = S.left(name, tostring(b.hotel), tostring(b.room))
    hm.shared.set(inv_key(name, tostring(b.hotel), tostring(b.room)), b.count)
    if b.count <= 0 and before > 0 then S.changed(name, "sold_out", b.hotel, b.room)
    elseif b.count > 0 and before <= 0 then S.changed(name, "available", b.hotel, b.room) end
    return { json = { hotel = b.hotel, room = b.room, count = b.count } }
  end)
  -- {"hotel": code, "room": code, "price": "123.00"} sets the nightly price; "price": null restores it
  hm.route("POST", base .. "/_price", function(req)
    local ok, b = pcall(hm.json.decode, req.body or "")
    if not ok or type(b) ~= "table" or not b.hotel or not b.room then
      return { status = 400, json = { error = "need hotel, room, price" } }
    end
    local key, item = "sim:" .. name .. ":prices", tostring(b.hotel) .. ":" .. tostring(b.room)
    local p = nil
    if b.price ~= nil and b.price ~= hm.json.null then
      p = hm.money.norm(b.price)
      if not p or hm.money.cmp(p, "0") <= 0 then return { status = 400, json = { error = "price must be > 0" } } end
    end
    -- read-modify-write of one small map; control calls come from tests, one at a time
    local prices = {}
    for k, v in pairs(shared_json(key) or {}) do prices[k] = v end
    prices[item] = p
    hm.shared.set(key, next(prices) and hm.json.encode(prices) or nil)
    S.changed(name, "price", b.hotel, b.room)
    return { json = { hotel = b.hotel, room = b.room, price = p or hm.json.null } }
  end)
  -- supplier API calls served (fault-injected ones included)
  hm.route("GET", base .. "/_stats", function()
    return { json = { calls = hm.shared.get("sim:" .. name .. ":calls") or 0,
                      webhooks = hm.shared.get("sim:" .. name .. ":webhooks") or 0 } }
  end)
  hm.route("POST", base .. "/_reset", function()
    for _, k in ipairs(hm.shared.keys("sim:" .. name .. ":", 100000)) do hm.shared.delete(k) end
    return { json = { reset = name } }
  end)
end

return S
