-- policies/pricing.lua -- a connector's price (unified model, supplier
-- currency) -> the client's HotelByte Rate / tax block in the requested
-- currency. Money stays a decimal string (hm.money) until it is emitted as
-- HotelByte Money {currency, amount (JSON number, 2 decimals), amountText}.
--
--   net       what we pay the supplier for all rooms, all nights
--   taxes     included = already inside net; not included and not pay_at_hotel
--             = charged on top by the supplier (added to netRate);
--             pay_at_hotel = the guest pays at the property (never in netRate,
--             reported in tax.payAtHotel)
--   fx        config.fx = { USD = 1, EUR = 1.08, AED = 0.2723 }: value of one
--             unit in a common base; amount_in_B = amount_in_A * fx[A] / fx[B]
local M = {}

local money = hm.money

local function fx_table()
  return (hm.config and hm.config.fx) or { USD = 1 }
end

-- Convert a decimal string between currencies. Returns amount, currency
-- (unchanged currency when no rate is known for one side).
-- (hm.money takes decimal strings and numbers alike: no norm() needed first.)
function M.convert(amount, from, to)
  amount = amount or "0"
  if not to or not from or from == to then return money.round(amount, 2), from or to end
  local fx = fx_table()
  local a, b = fx[from], fx[to]
  if not a or not b then return money.round(amount, 2), from end
  return money.round(money.div(money.mul(amount, a), b, 6), 2), to
end

-- HotelByte Money from a decimal string.
function M.money(amount, currency)
  local s = money.round(amount or "0", 2)
  return { currency = currency, amount = money.to_number(s), amountText = s }
end

local function tax_type(t)
  local known = { VAT = true, SERVICE_CHARGE = true, CITY_TAX = true, TOURISM_FEE = true }
  return known[t or ""] and t or "OTHER"
end

-- price = connector price; cur = requested currency; nrooms >= 1.
-- Returns { rate = Rate (one room), totalRate = Rate (all rooms), tax = Tax,
--           net = "<decimal total in currency>", currency = <emitted currency> }
-- {netRate, grossRate, respectGrossRate}; per room when per_rooms (a count,
-- as a string) is given. (Not a closure inside normalise: one made per rate
-- would keep LuaJIT from compiling normalise.)
local function rate_of(n, g, cur, binding, per_rooms)
  local r = { netRate = M.money(per_rooms and money.div(n, per_rooms, 2) or n, cur) }
  if g then
    r.grossRate = M.money(per_rooms and money.div(g, per_rooms, 2) or g, cur)
    r.respectGrossRate = binding
  end
  return r
end

function M.normalise(price, cur, nrooms)
  nrooms = math.max(1, tonumber(nrooms) or 1)
  local src = price.currency or cur
  cur = cur or src
  local net, out_cur = M.convert(price.net, src, cur)
  local gross = price.gross and (M.convert(price.gross, src, cur)) or nil
  local included, on_top, at_hotel = "0", "0", "0"
  local items = {}
  for _, t in ipairs(price.taxes or {}) do
    local amt = M.convert(t.amount or "0", t.currency or src, out_cur)
    if t.pay_at_hotel then
      at_hotel = money.add(at_hotel, amt)
    elseif t.included then
      included = money.add(included, amt)
    else
      on_top = money.add(on_top, amt)
    end
    items[#items + 1] = { taxType = tax_type(t.type), taxName = t.name or "", amount = M.money(amt, out_cur),
                          desc = t.name or "", included = t.included and true or false,
                          payAtHotel = t.pay_at_hotel and true or false }
  end
  local total_net = money.add(net, on_top)
  local total_gross = gross and money.add(gross, on_top) or nil
  local tax = {
    total = M.money(money.add(money.add(included, on_top), at_hotel), out_cur),
    items = items,
    includedTotal = M.money(included, out_cur),       -- inside netRate already
    excludedTotal = M.money(on_top, out_cur),         -- added to netRate
    payAtHotel = M.money(at_hotel, out_cur),          -- paid by the guest at the hotel
  }
  local binding = price.binding and true or false
  return {
    rate = rate_of(total_net, total_gross, out_cur, binding, tostring(nrooms)),
    totalRate = rate_of(total_net, total_gross, out_cur, binding),
    tax = tax,
    net = money.round(total_net, 2),
    currency = out_cur,
  }
end

-- Cancellation fees converted: [{until, fee Money}].
function M.cancel_fees(fees, src, cur)
  local out = {}
  for _, f in ipairs(fees or {}) do
    local fee = f.fee or {}
    local amt, c = M.convert(fee.amount or "0", fee.currency or src, cur)
    out[#out + 1] = { ["until"] = f["until"], fee = M.money(amt, c) }
  end
  return out
end

function M.self_check()
  local p = M.normalise({ currency = "EUR", net = "100.00",
    taxes = { { type = "VAT", amount = "5", included = true },
              { type = "CITY_TAX", amount = "10", currency = "EUR", included = false },
              { type = "TOURISM_FEE", amount = "20", currency = "AED", pay_at_hotel = true } } }, "EUR", 2)
  if p.totalRate.netRate.amountText ~= "110.00" or p.rate.netRate.amountText ~= "55.00" then
    return false, "pricing: taxes on top not added"
  end
  return true
end

return M
