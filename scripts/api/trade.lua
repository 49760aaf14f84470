-- api/trade.lua -- POST /api/trade/book, /api/trade/queryOrders,
-- /api/trade/cancel over the SQLite order ledger (hm.db).
--
-- Booking (DESIGN §5.5): the order row is written with status 1 Confirming
-- BEFORE the supplier is called; (appKey, customerReferenceNo) is UNIQUE, so a
-- repeat is 100001003 (HTTP 409). The supplier's answer moves it to 2
-- Confirmed / 4 Failed; a timeout or an uncertain answer leaves it Confirming
-- and it is reconciled with connector.query_order on the next queryOrders and
-- by a background sweep (worker 0, at startup and every reconcile_interval_s).
-- Any node may reconcile any order (nodes share the ledger), also one whose
-- booking call another node still has in flight. So:
--   * a supplier's "no such booking" is final only after the booking's window
--     (booking_time + the book timeout + reconcile_margin_s): before that the
--     booking may still be on its way;
--   * every status change is conditional on the status it changes from
--     (UPDATE ... WHERE status IN (...)): a late answer or a late reconcile
--     never overwrites a terminal status another node wrote.
-- Cancel is journaled the same way: cancel_sent is set before the supplier is
-- called, cleared with the result; an uncertain cancel (timeout, kill -9)
-- keeps it and is resolved by asking the supplier (query_order).
-- Config: ledger, book_timeout_ms (or suppliers[x].book_timeout_ms; default
-- max(timeout_ms, 8000)), cancel_timeout_ms (8000), query_timeout_ms (3000),
-- reconcile_margin_s (5), reconcile_delay_s (1), reconcile_interval_s (30).
local A = require("api.common")
local S = hm.scripts.search or error("api/trade.lua: list api/search.lua before it in scripts")
local P = require("policies.pricing")
local C = require("lib.connector")

local M = {}

local ST = { unknown = 0, confirming = 1, confirmed = 2, cancelled = 3, failed = 4, cancel_failed = 5 }

local SCHEMA = [[
CREATE TABLE IF NOT EXISTS orders (
  id INTEGER PRIMARY KEY,
  app_key TEXT NOT NULL,
  customer_ref TEXT NOT NULL,
  supplier TEXT NOT NULL,
  supplier_ref TEXT,
  hotel_confirm_no TEXT,
  status INTEGER NOT NULL,
  status_remark TEXT,
  rate_pkg_id TEXT NOT NULL,
  hotel_id TEXT,
  hotel_name TEXT,
  supplier_hotel TEXT,
  room_id TEXT,
  room_name TEXT,
  check_in TEXT, check_out TEXT,
  nights INTEGER, rooms INTEGER,
  currency TEXT, net TEXT,
  supplier_currency TEXT, supplier_net TEXT,
  holder TEXT, guests TEXT, cancel_fees TEXT,
  booking_time REAL, cancel_time REAL, cancel_reason TEXT,
  service_fee TEXT, refunded TEXT,
  updated_at REAL,
  UNIQUE (app_key, customer_ref)
);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
CREATE INDEX IF NOT EXISTS orders_supplier_ref ON orders(app_key, supplier_ref);
]]
-- Columns added since the first ledger: ALTERed into older files at load.
local ADDED = { cancel_sent = "REAL" }

local ledger_path = hm.config.ledger or "hotelmux-ledger.sqlite"
local db = hm.db.open(ledger_path)
do
  -- load time: synchronous on the control thread, fails the (re)load loudly
  local ok, err = db:exec(SCHEMA)
  if not ok then error("ledger " .. ledger_path .. ": " .. tostring(err)) end
  local cols, cerr = db:exec("PRAGMA table_info(orders)")
  if not cols then error("ledger " .. ledger_path .. ": " .. tostring(cerr)) end
  local have = {}
  for _, c in ipairs(cols) do have[c.name] = true end
  for name, ty in pairs(ADDED) do
    if not have[name] then
      local aok, aerr = db:exec("ALTER TABLE orders ADD COLUMN " .. name .. " " .. ty)
      -- another node may have added it between our PRAGMA and ALTER
      if not aok and not tostring(aerr):match("duplicate column") then
        error("ledger " .. ledger_path .. ": " .. tostring(aerr))
      end
    end
  end
  db:exec("CREATE INDEX IF NOT EXISTS orders_cancel_sent ON orders(cancel_sent)")
end
M.db = db

local function check(r, err, what)
  if r == nil then
    hm.log.error("ledger failed", { op = what, err = tostring(err) })
    A.raise(A.CODE.internal, "order ledger unavailable")
  end
  return r
end

---------------------------------------------------------------------------
-- Ledger row -> HotelByte HotelOrder.
local function iso(t) if not t then return nil end return C.iso(math.floor(t)) end
local function decode(s, default)
  if not s then return default end
  local ok, v = pcall(hm.json.decode, s)
  if ok then return v end
  return default
end

function M.order_json(o)
  local holder = decode(o.holder, {})
  local guests = decode(o.guests, {})
  local rooms = {}
  for i = 1, (o.rooms or 1) do
    local gs = {}
    for _, g in ipairs(guests) do if (g.roomIndex or 1) == i then gs[#gs + 1] = g end end
    rooms[i] = { roomIndex = i, roomTypeId = o.room_id, roomTypeName = { en = o.room_name },
                 hotelId = o.hotel_id, ratePkgId = o.rate_pkg_id, guests = A.arr(gs) }
  end
  local total = o.net and P.money(o.net, o.currency) or nil
  return {
    status = o.status, statusRemark = o.status_remark or "",
    checkIn = o.check_in, checkOut = o.check_out, nightCount = o.nights, roomCount = o.rooms,
    bookingTime = iso(o.booking_time), hotelConfirmNo = o.hotel_confirm_no or "",
    holder = holder, customerReferenceNo = o.customer_ref,
    cancelTime = iso(o.cancel_time), cancelReason = o.cancel_reason or "",
    refundedPrice = o.refunded and P.money(o.refunded, o.currency) or nil,
    supplier = A.SUPPLIER_NUM[o.supplier] or 0, supplierName = o.supplier,
    supplierReferenceNo = o.supplier_ref or "",
    totalRate = total and { netRate = total } or nil,
    rate = total and { netRate = P.money(hm.money.div(o.net, tostring(o.rooms or 1), 2), o.currency) } or nil,
    serviceFee = o.service_fee and P.money(o.service_fee, o.currency) or nil,
    cancelFees = A.arr(decode(o.cancel_fees, {})),
    hotel = { id = o.hotel_id, name = { en = o.hotel_name } },
    rooms = A.arr(rooms),
  }
end

local function get(app, ref)
  local rows = check(db:exec("SELECT * FROM orders WHERE app_key = ? AND customer_ref = ?", app, ref), nil, "get")
  return rows[1]
end

local function refresh(o)
  local fresh = get(o.app_key, o.customer_ref)
  if fresh then for k, v in pairs(fresh) do o[k] = v end end
  return o
end

-- Move o to `status` only while it is still in one of the statuses `from`
-- (another node may have decided first). fields.cancel_sent: false clears the
-- cancel journal, a number sets it. Clearing only clears the journal entry
-- the decision was based on (o.cancel_sent as read): a cancel another node
-- journaled meanwhile stays journaled. Returns true when this update won; o
-- is re-read either way.
local function set_status(o, status, from, fields)
  fields = fields or {}
  local clear_cancel = fields.cancel_sent == false and 1 or 0
  local args = { status, fields.remark, fields.supplier_ref, fields.hotel_confirm_no, fields.cancel_time,
    fields.cancel_reason, fields.service_fee, fields.refunded, clear_cancel,
    type(fields.cancel_sent) == "number" and fields.cancel_sent or nil, hm.time.now(), o.id }
  local n, marks = 12, {}
  for i = 1, #from do marks[i] = "?"; n = n + 1; args[n] = from[i] end
  local where = "id = ? AND status IN (" .. table.concat(marks, ", ") .. ")"
  if clear_cancel == 1 then
    where = where .. " AND cancel_sent IS ?"
    n = n + 1; args[n] = o.cancel_sent
  end
  local r = check(db:exec([[UPDATE orders SET status = ?, status_remark = COALESCE(?, status_remark),
      supplier_ref = COALESCE(?, supplier_ref),
      hotel_confirm_no = COALESCE(?, hotel_confirm_no), cancel_time = COALESCE(?, cancel_time),
      cancel_reason = COALESCE(?, cancel_reason), service_fee = COALESCE(?, service_fee),
      refunded = COALESCE(?, refunded),
      cancel_sent = CASE WHEN ? = 1 THEN NULL ELSE COALESCE(?, cancel_sent) END,
      updated_at = ? WHERE ]] .. where, unpack(args, 1, n)), nil, "update")
  refresh(o)
  return (r.changes or 0) > 0
end
local OPEN = { 0, 1 }            -- non-terminal: the booking's outcome is not known yet

---------------------------------------------------------------------------
-- Validation (errors name the field).
local function name_field(t, prefix, f)
  local v = A.val(t[f])
  if type(v) ~= "string" or not v:match("%S") then A.param(prefix .. f, "required") end
  if #v > 100 then A.param(prefix .. f, "too long") end
  return v
end

local function parse_book(body)
  local ref = A.str(body, "customerReferenceNo", true)
  if #ref > 64 or not ref:match("^[%w%-_%.:/]+$") then
    A.param("customerReferenceNo", "1..64 characters of letters, digits, - _ . : /")
  end
  local sup, t = S.decode_pkg(body)
  local holder = A.val(body.holder)
  if type(holder) ~= "table" then A.param("holder", "required") end
  local h = { firstName = name_field(holder, "holder.", "firstName"), lastName = name_field(holder, "holder.", "lastName") }
  local email = A.val(holder.email)
  if email ~= nil then
    if type(email) ~= "string" or not email:match("^[^@%s]+@[^@%s]+%.[^@%s]+$") then A.param("holder.email", "not an e-mail address") end
    h.email = email
  end
  local phone = A.val(holder.phone)
  if phone ~= nil then
    if type(phone) ~= "table" then A.param("holder.phone", "must be an object") end
    h.phone = { countryCode = A.val(phone.countryCode), countryNumber = A.val(phone.countryNumber),
                number = A.val(phone.number) }
  end
  local guests = A.val(body.guests)
  if type(guests) ~= "table" or #guests == 0 then A.param("guests", "at least one guest required") end
  local nrooms = #(t.o or { {} })
  local gout, per_room = {}, {}
  for i, g in ipairs(guests) do
    local p = "guests[" .. i .. "]."
    if type(g) ~= "table" then A.param("guests[" .. i .. "]", "must be an object") end
    local ri = A.val(g.roomIndex) or 1
    if type(ri) ~= "number" or ri < 1 or ri > nrooms or ri ~= math.floor(ri) then
      A.param(p .. "roomIndex", "must be 1.." .. nrooms)
    end
    local age = A.val(g.age)
    if age ~= nil and (type(age) ~= "number" or age < 0 or age > 120) then A.param(p .. "age", "must be 0..120") end
    gout[i] = { roomIndex = ri, firstName = name_field(g, p, "firstName"), lastName = name_field(g, p, "lastName"),
                nationalityCode = A.val(g.nationalityCode), age = age, isChild = A.val(g.isChild) and true or false }
    per_room[ri] = true
  end
  for r = 1, nrooms do
    if not per_room[r] then A.param("guests", "room " .. r .. " has no guest") end
  end
  return ref, sup, t, h, gout
end

-- Connector order from a ledger row (holder and guests in the connector's
-- snake_case, as book() gets them).
local function connector_order(o)
  local _, t = A.decode_id(o.rate_pkg_id)
  t = t or {}
  local holder = decode(o.holder, {})
  local guests = {}
  for i, g in ipairs(decode(o.guests, {})) do
    guests[i] = { room_index = g.roomIndex, first_name = g.firstName, last_name = g.lastName, age = A.val(g.age),
                  is_child = g.isChild }
  end
  return { customer_ref = o.customer_ref, supplier_ref = o.supplier_ref, key = t.k, hotel_id = o.supplier_hotel,
           room_id = t.r, check_in = o.check_in, check_out = o.check_out, nights = o.nights, rooms = t.o,
           currency = t.c, price = t.p, price_currency = t.pc,   -- price: the expected net (decimal string)
           hotel_confirm_no = o.hotel_confirm_no,
           holder = { first_name = holder.firstName, last_name = holder.lastName, email = A.val(holder.email),
                      phone = A.val(holder.phone) },
           guests = guests }
end

local function book_timeout(sup, conn)
  local sc = (hm.config.suppliers or {})[sup] or {}
  return tonumber(sc.book_timeout_ms) or tonumber(hm.config.book_timeout_ms) or
         math.max(A.timeout_ms(sup, conn), 8000)
end

local STATUS_OF = { confirmed = ST.confirmed, pending = ST.confirming, cancelled = ST.cancelled, failed = ST.failed }

local function cancel_timeout(sup, conn)
  return math.max(A.timeout_ms(sup, conn), tonumber(hm.config.cancel_timeout_ms) or 8000)
end
local function margin_s() return tonumber(hm.config.reconcile_margin_s) or 5 end

-- Until when a supplier may still be processing this order's booking call
-- (sent by any node): a "no such booking" before then is not an answer.
local function book_window_end(o, conn)
  return (o.booking_time or 0) + book_timeout(o.supplier, conn) / 1000 + margin_s()
end

-- Ask the supplier about one order: res or nil (logged).
local function ask(o, req, conn, order)
  local tmo = math.max(A.timeout_ms(o.supplier, conn), tonumber(hm.config.query_timeout_ms) or 3000)
  local res, err = A.call(o.supplier, "query_order", tmo, function()
    return conn.query_order(A.ctx(o.supplier, req, tmo), order)
  end)
  if not res then
    hm.log.warn("reconcile: supplier did not answer", { supplier = o.supplier, ref = o.customer_ref,
      err = type(err) == "table" and err.message or tostring(err) })
  end
  return res
end

-- Ask the supplier about one non-terminal order and update the ledger.
function M.reconcile(o, req)
  if o.status ~= ST.confirming and o.status ~= ST.unknown then return o end
  local conn = A.connector(o.supplier)
  if not conn or not conn.query_order then return o end
  local order = connector_order(o)
  local window_open = hm.time.now() < book_window_end(o, conn)
  if not o.supplier_ref and conn.features and conn.features.query_by_customer_ref == false then
    -- The supplier finds bookings by its own id only (Agoda). Without it, the
    -- connector may replay the booking request (idempotent at the supplier on
    -- our reference): not while the first call may still be in flight.
    if window_open then return o end
    order.replay_book = true
  end
  local res = ask(o, req, conn, order)
  if not res then return o end
  if res.status == "not_found" then
    if not window_open then
      set_status(o, ST.failed, OPEN, { remark = "reconciled: the supplier has no booking for this reference" })
    end
  elseif STATUS_OF[res.status] and STATUS_OF[res.status] ~= o.status then
    set_status(o, STATUS_OF[res.status], OPEN, { remark = "reconciled with the supplier",
      supplier_ref = res.supplier_ref and tostring(res.supplier_ref), hotel_confirm_no = res.hotel_confirm_no })
  elseif res.supplier_ref and not o.supplier_ref then
    set_status(o, o.status, { o.status }, { supplier_ref = tostring(res.supplier_ref) })
  end
  return o
end

function M.reconcile_any(o, req)
  if o.status == ST.confirming or o.status == ST.unknown then return M.reconcile(o, req) end
  return M.reconcile_cancel(o, req)
end

-- An order whose cancel call had no certain answer (timeout, 5xx, the node
-- killed): the supplier says whether it is cancelled. "Still booked" is final
-- only once the cancel call can no longer be in flight.
function M.reconcile_cancel(o, req)
  if not o.cancel_sent or o.status == ST.cancelled then return o end
  local conn = A.connector(o.supplier)
  if not conn or not conn.query_order then return o end
  local res = ask(o, req, conn, connector_order(o))
  if not res then return o end
  if res.status == "cancelled" then
    set_status(o, ST.cancelled, { ST.confirmed, ST.cancel_failed }, { remark = "cancelled (reconciled with the supplier)",
      cancel_time = o.cancel_sent, cancel_sent = false })
  elseif hm.time.now() > o.cancel_sent + cancel_timeout(o.supplier, conn) / 1000 + margin_s() then
    set_status(o, o.status, { o.status }, { remark = "cancel not completed: the supplier says " ..
      (res.status == "confirmed" and "it is still booked" or tostring(res.status)), cancel_sent = false })
  end
  return o
end

---------------------------------------------------------------------------
hm.route("POST", "/api/trade/book", A.handler(function(req, body)
  local ref, sup, t, holder, guests = parse_book(body)
  local conn, why = A.connector(sup)
  if not conn then return A.fail(req, A.CODE.dependency, sup .. ": " .. tostring(why)) end
  local nrooms = #(t.o or { {} })
  local norm = P.normalise({ currency = t.pc, net = t.p or "0" }, t.c, nrooms)
  local now = hm.time.now()
  local ins, err = db:exec([[INSERT INTO orders (app_key, customer_ref, supplier, status, status_remark, rate_pkg_id,
      hotel_id, hotel_name, supplier_hotel, room_id, room_name, check_in, check_out, nights, rooms, currency, net,
      supplier_currency, supplier_net, holder, guests, booking_time, updated_at)
      VALUES (?, ?, ?, 1, 'booking sent to the supplier', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]],
    req.app, ref, sup, A.val(body.ratePkgId), t.hid, t.hn, t.h, t.r, t.rn, t.ci, t.co, C.nights(t.ci, t.co), nrooms,
    norm.currency, norm.net, t.pc, t.p, hm.json.encode(holder), hm.json.encode(guests), now, now)
  if not ins then
    if tostring(err):match("^constraint: UNIQUE") then
      return A.fail(req, A.CODE.duplicate, "duplicate customerReferenceNo: " .. ref)
    end
    check(nil, err, "insert")
  end
  local o = get(req.app, ref)
  local order = connector_order(o)
  order.holder = { first_name = holder.firstName, last_name = holder.lastName, email = holder.email, phone = holder.phone }
  order.guests = {}
  for i, g in ipairs(guests) do
    order.guests[i] = { room_index = g.roomIndex, first_name = g.firstName, last_name = g.lastName, age = g.age,
                        is_child = g.isChild }
  end
  order.remarks = A.val(body.remarks)
  local tmo = book_timeout(sup, conn)
  local res, berr, status = A.call(sup, "book", tmo, function() return conn.book(A.ctx(sup, req, tmo), order) end)
  -- Every update below is conditional on the order still being open: another
  -- node's reconcile may have learnt the outcome from the supplier meanwhile.
  if res then
    local st = STATUS_OF[res.status] or ST.confirming
    if st == ST.cancelled then st = ST.confirming end
    local fields = { supplier_ref = res.supplier_ref and tostring(res.supplier_ref), hotel_confirm_no = res.hotel_confirm_no }
    if st == ST.confirmed then fields.remark = "confirmed by the supplier"
    elseif st == ST.failed then fields.remark = "supplier refused: " .. tostring(res.reason or res.signal or "failed")
    else fields.remark = "supplier is confirming" end
    if res.cancel_fees then
      check(db:exec("UPDATE orders SET cancel_fees = ? WHERE id = ?",
        hm.json.encode(P.cancel_fees(res.cancel_fees, t.pc, norm.currency)), o.id), nil, "fees")
    end
    -- The supplier's own "confirmed" wins even over a Failed that a reconcile
    -- wrote after the booking's window (an answer later than the margin).
    set_status(o, st, st == ST.confirmed and { ST.unknown, ST.confirming, ST.failed } or OPEN, fields)
  else
    local kind = type(berr) == "table" and berr.kind or status
    local msg = type(berr) == "table" and (berr.message or berr.kind) or tostring(berr)
    if status == "circuit_open" or status == "throttled" and not (type(berr) == "table" and berr.status) then
      -- refused before the supplier was called
      set_status(o, ST.failed, OPEN, { remark = "supplier not called: " .. tostring(status) })
    elseif kind == "bad_request" or kind == "auth" then
      set_status(o, ST.failed, OPEN, { remark = "supplier refused: " .. msg })
    else
      -- timeout, network, 5xx, garbage, duplicate: uncertain -> stays Confirming
      set_status(o, ST.confirming, OPEN, { remark = "supplier answer uncertain (" .. tostring(kind) .. "); reconciling" })
    end
  end
  local j = M.order_json(o)
  return A.ok(req, { order = j, status = j.status, customerReferenceNo = ref,
                     supplierReferenceNo = j.supplierReferenceNo })
end))

hm.route("POST", "/api/trade/queryOrders", A.handler(function(req, body)
  local crefs = A.list(body, "customerReferenceNos")
  local srefs = A.list(body, "supplierReferenceNos")
  local statuses = A.list(body, "statusList")
  local want = {}
  for i, s in ipairs(statuses) do
    if type(s) ~= "number" or s < 0 or s > 5 then A.param("statusList[" .. i .. "]", "must be 0..5") end
    want[s] = true
  end
  if #crefs + #srefs > 100 then A.param("customerReferenceNos", "at most 100 references") end
  local rows = {}
  local seen = {}
  local function add(rs) for _, o in ipairs(rs) do if not seen[o.id] then seen[o.id] = true; rows[#rows + 1] = o end end end
  for i, r in ipairs(crefs) do
    if type(r) ~= "string" then A.param("customerReferenceNos[" .. i .. "]", "must be a string") end
    add(check(db:exec("SELECT * FROM orders WHERE app_key = ? AND customer_ref = ?", req.app, r), nil, "query"))
  end
  for i, r in ipairs(srefs) do
    if type(r) ~= "string" then A.param("supplierReferenceNos[" .. i .. "]", "must be a string") end
    add(check(db:exec("SELECT * FROM orders WHERE app_key = ? AND supplier_ref = ?", req.app, r), nil, "query"))
  end
  if #crefs == 0 and #srefs == 0 then
    add(check(db:exec("SELECT * FROM orders WHERE app_key = ? ORDER BY id DESC LIMIT 100", req.app), nil, "query"))
  end
  -- non-terminal orders and uncertain cancels: ask the suppliers, concurrently
  local pending = {}
  for _, o in ipairs(rows) do
    if o.status == ST.confirming or o.status == ST.unknown or o.cancel_sent then pending[#pending + 1] = o end
  end
  if #pending == 1 then
    M.reconcile_any(pending[1], req)
  elseif #pending > 1 then
    local jobs = {}
    for i, o in ipairs(pending) do
      if i > 32 then break end
      jobs[#jobs + 1] = { name = "reconcile-" .. i, fn = function() M.reconcile_any(o, req); return true end }
    end
    hm.fanout(jobs, { deadline_ms = tonumber(hm.config.query_deadline_ms) or 5000 })
    for _, o in ipairs(pending) do refresh(o) end
  end
  local out = {}
  for _, o in ipairs(rows) do
    if #statuses == 0 or want[o.status] then out[#out + 1] = M.order_json(o) end
  end
  return A.ok(req, { orders = A.arr(out), total = #out })
end))

hm.route("POST", "/api/trade/cancel", A.handler(function(req, body)
  local ref = A.str(body, "customerReferenceNo")
  local sref = A.str(body, "supplierReferenceNo")
  if not ref and not sref then A.param("customerReferenceNo", "required") end
  local o
  if ref then o = get(req.app, ref)
  else
    o = check(db:exec("SELECT * FROM orders WHERE app_key = ? AND supplier_ref = ?", req.app, sref), nil, "get")[1]
  end
  if not o then return A.fail(req, A.CODE.not_found, "order not found") end
  local reason = A.str(body, "reason")
  local function answer()
    return A.ok(req, { serviceFee = P.money(o.service_fee or "0", o.currency), status = o.status,
                       order = M.order_json(o) })
  end
  if o.status == ST.cancelled then return answer() end -- idempotent
  if o.status == ST.confirming or o.status == ST.unknown then M.reconcile(o, req) end
  if o.status ~= ST.confirmed and o.status ~= ST.cancel_failed then
    return A.fail(req, A.CODE.param, "invalid parameter customerReferenceNo: order status " .. o.status ..
                  " cannot be cancelled")
  end
  local conn, why = A.connector(o.supplier)
  if not conn then return A.fail(req, A.CODE.dependency, o.supplier .. ": " .. tostring(why)) end
  local CANCELLABLE = { ST.confirmed, ST.cancel_failed }
  -- an earlier cancel without a certain answer: it may have gone through
  if o.cancel_sent then
    M.reconcile_cancel(o, req)
    if o.status == ST.cancelled then return answer() end
  end
  -- journal first: a crash from here on leaves cancel_sent for the reconciler
  local sent = hm.time.now()
  if not set_status(o, o.status, CANCELLABLE, { remark = "cancellation sent to the supplier", cancel_sent = sent }) then
    return answer()       -- another node cancelled it meanwhile
  end
  local tmo = cancel_timeout(o.supplier, conn)
  local res, err, status = A.call(o.supplier, "cancel", tmo, function()
    return conn.cancel(A.ctx(o.supplier, req, tmo), connector_order(o))
  end)
  if res and res.status == "cancelled" then
    local fee = res.fee or {}
    local fee_amt = P.convert(fee.amount or "0", fee.currency or o.supplier_currency, o.currency)
    set_status(o, ST.cancelled, CANCELLABLE, { remark = "cancelled", cancel_time = hm.time.now(),
      cancel_reason = reason or "", service_fee = fee_amt, refunded = hm.money.sub(o.net or "0", fee_amt),
      cancel_sent = false })
    return answer()
  end
  local kind = type(err) == "table" and err.kind or status
  if not res and (status == "circuit_open" or status == "throttled" and not (type(err) == "table" and err.status)) then
    -- refused before the supplier was called: nothing was sent
    set_status(o, o.status, CANCELLABLE, { remark = "cancel not sent: " .. tostring(status), cancel_sent = false })
    return S.error_answer(req, err, status, o.supplier)
  end
  -- A refusal may be "already cancelled" (a retry, or another node's cancel):
  -- the supplier's own record decides.
  M.reconcile_cancel(o, req)
  if o.status == ST.cancelled then return answer() end
  if res or kind == "bad_request" or kind == "not_found" then
    local why_not = res and tostring(res.reason or res.status)
                    or tostring(type(err) == "table" and err.message or err)
    set_status(o, ST.cancel_failed, CANCELLABLE, { remark = (res and "cancel failed: " or "cancel refused: ") .. why_not,
      cancel_sent = false })
    return answer()
  end
  -- timeout, 5xx, garbage: uncertain; cancel_sent stays for the reconciler
  return S.error_answer(req, err, status, o.supplier)
end))

---------------------------------------------------------------------------
-- Background reconciliation: worker 0, shortly after start and then every
-- reconcile_interval_s (default 30), for orders left Confirming or with a
-- cancel of uncertain outcome.
function M.sweep()
  local rows = db:exec("SELECT * FROM orders WHERE status IN (0, 1) OR cancel_sent IS NOT NULL ORDER BY id LIMIT 200")
  for _, o in ipairs(rows or {}) do
    local ok, err = pcall(M.reconcile_any, o, nil)
    if not ok then hm.log.warn("reconcile failed", { ref = o.customer_ref, err = tostring(err) }) end
  end
end

local function arm(delay)
  if not (hm.timer and hm.timer.at) then return end
  hm.timer.at(delay, function()
    local ok, err = pcall(M.sweep)
    if not ok then hm.log.warn("reconcile sweep failed", { err = tostring(err) }) end
    arm(tonumber(hm.config.reconcile_interval_s) or 30)
  end)
end

function M.init_worker()
  if hm.worker_id == 0 then arm(tonumber(hm.config.reconcile_delay_s) or 1) end
end

return M
