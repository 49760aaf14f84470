-- The demo's world: hotels in Dubai, each sold by several simulated suppliers
-- under that supplier's own code and names (as real suppliers do), plus the
-- GIATA-style mapping the gateway uses: supplier + supplier hotel code ->
-- canonical id. Codes for hotelbeds/dida/derbysoft come from the real captures
-- where the capture had a Dubai hotel; the rest are made up.
--
-- Per supplier room entry: code, name (as that supplier spells it), and
-- price = net per room per night in the supplier's currency.
--
-- rooms: the gateway's room table (canonical room -> each supplier's code).
-- extra_rooms: rooms a supplier sells that this table does not list (a room
-- type the supplier added, not yet mapped). hotelRates groups them by the
-- optional CSV mapping table (config room_mapping_csv, examples/data/rooms.csv)
-- and else by the similarity model (scripts/policies/mapping.lua):
--   Rove Downtown, Expedia "Rover Room, 2 Twin Beds"  -> merged into RV-TWN
--   Hilton, Agoda "Twin Guest Room" + Expedia "Room, 2 Twin Beds" -> one new
--     twin room; never into the king room (a wrong merge books the wrong bed)
--   Citymax, Agoda "Smart Room" -> CM-STD by the CSV table (the model alone
--     would keep it apart: the name says nothing)
local H = {}

H.destination = { id = "DXB", name = "Dubai", country = "AE" }

-- Each supplier sells in its own currency (pricing.lua converts).
H.currency = { hotelbeds = "EUR", expedia = "USD", agoda = "USD", derbysoft = "AED", dida = "USD" }

H.hotels = {
  { id = "HM-DXB-0001", name = "Golden Sands Hotel Apartments", star = 3,
    address = "Al Mankhool Road, Bur Dubai", lat = 25.2541, lng = 55.2922,
    suppliers = {
      hotelbeds = { code = "162651", name = "Golden Sands Hotel Apartments" },
      expedia   = { code = "1147233", name = "Golden Sands Hotel Apartments, Dubai" },
      dida      = { code = "15420", name = "GOLDEN SANDS HOTEL APARTMENTS" },
      agoda     = { code = "249518", name = "Golden Sands Hotel Apartments (Bur Dubai)" },
    },
    rooms = {
      { id = "STUDIO", suppliers = {
        hotelbeds = { code = "STU.ST", name = "STUDIO STANDARD", price = "78.00" },
        expedia   = { code = "200774123", name = "Studio, 1 Queen Bed", price = "86.00" },
        dida      = { code = "301", name = "Studio Apartment", price = "84.50" },
        agoda     = { code = "1034", name = "Studio", price = "88.00" } } },
      { id = "APT-1BR", suppliers = {
        hotelbeds = { code = "APT.B1", name = "APARTMENT ONE BEDROOM", price = "112.00" },
        expedia   = { code = "200774124", name = "Apartment, 1 Bedroom", price = "125.00" },
        dida      = { code = "302", name = "One Bedroom Apartment", price = "121.00" } } },
    } },
  { id = "HM-DXB-0002", name = "Rove Downtown", star = 3,
    address = "312 Al Sa'ada Street, Downtown Dubai", lat = 25.2048, lng = 55.2790,
    suppliers = {
      hotelbeds = { code = "731321", name = "Rove Downtown" },
      expedia   = { code = "10629446", name = "Rove Downtown Dubai" },
      derbysoft = { code = "DXBRD", name = "ROVE DOWNTOWN" },
      dida      = { code = "15588", name = "Rove Downtown Hotel" },
    },
    rooms = {
      { id = "RV-DBL", suppliers = {
        hotelbeds = { code = "DBL.ST", name = "DOUBLE STANDARD", price = "64.00" },
        expedia   = { code = "215533881", name = "Rover Room, 1 Queen Bed", price = "71.00" },
        derbysoft = { code = "RVQ", name = "Rover Room Queen", price = "255.00" },
        dida      = { code = "401", name = "Standard Queen Room", price = "69.90" } } },
      { id = "RV-TWN", suppliers = {
        hotelbeds = { code = "TWN.ST", name = "TWIN STANDARD", price = "66.00" },
        derbysoft = { code = "RVT", name = "Rover Room Twin", price = "262.00" } } },
    },
    extra_rooms = {
      expedia = { { code = "215533882", name = "Rover Room, 2 Twin Beds", price = "70.50" } },
    } },
  { id = "HM-DXB-0003", name = "JW Marriott Marquis Hotel Dubai", star = 5,
    address = "Sheikh Zayed Road, Business Bay", lat = 25.1856, lng = 55.2580,
    suppliers = {
      expedia   = { code = "1511412", name = "JW Marriott Marquis Hotel Dubai" },
      agoda     = { code = "602914", name = "JW Marriott Marquis Dubai" },
      derbysoft = { code = "DXBJW", name = "JW MARRIOTT MARQUIS HOTEL DUBAI" },
      hotelbeds = { code = "183441", name = "JW Marriott Marquis Dubai" },
    },
    rooms = {
      { id = "DLX-KING", suppliers = {
        expedia   = { code = "201911874", name = "Deluxe Room, 1 King Bed", price = "189.00" },
        agoda     = { code = "7781", name = "Deluxe King", price = "182.00" },
        derbysoft = { code = "DLXK", name = "Deluxe Guest Room King", price = "695.00" },
        hotelbeds = { code = "DBL.DX", name = "DOUBLE DELUXE", price = "171.00" } } },
      { id = "EXEC", suppliers = {
        expedia   = { code = "201911880", name = "Executive Room, 1 King Bed", price = "262.00" },
        derbysoft = { code = "EXEK", name = "Executive Room King, Lounge Access", price = "960.00" } } },
    } },
  { id = "HM-DXB-0004", name = "Atlantis, The Palm", star = 5,
    address = "Crescent Road, The Palm Jumeirah", lat = 25.1304, lng = 55.1171,
    suppliers = {
      hotelbeds = { code = "87425", name = "Atlantis The Palm" },
      expedia   = { code = "1066582", name = "Atlantis, The Palm" },
      agoda     = { code = "254410", name = "Atlantis The Palm Hotel" },
      dida      = { code = "16017", name = "ATLANTIS THE PALM" },
      derbysoft = { code = "DXBATL", name = "Atlantis, The Palm Dubai" },
    },
    rooms = {
      { id = "OCEAN-KING", suppliers = {
        hotelbeds = { code = "DBL.OV", name = "DOUBLE OCEAN VIEW", price = "398.00" },
        expedia   = { code = "200126570", name = "Ocean King Room", price = "445.00" },
        agoda     = { code = "9021", name = "Ocean King", price = "439.00" },
        dida      = { code = "501", name = "Ocean View King Room", price = "432.00" },
        derbysoft = { code = "OCK", name = "Ocean King", price = "1620.00" } } },
      { id = "PALM-QQ", suppliers = {
        hotelbeds = { code = "TWN.PV", name = "TWIN PALM VIEW", price = "355.00" },
        expedia   = { code = "200126571", name = "Palm Queen Room, 2 Queen Beds", price = "399.00" },
        dida      = { code = "502", name = "Palm View Two Queen Beds", price = "388.00" } } },
    } },
  { id = "HM-DXB-0005", name = "Citymax Hotel Al Barsha", star = 3,
    address = "Al Barsha 1, near Mall of the Emirates", lat = 25.1136, lng = 55.1980,
    suppliers = {
      agoda     = { code = "1088321", name = "Citymax Hotel Al Barsha at the Mall" },
      dida      = { code = "17702", name = "CITYMAX AL BARSHA" },
      expedia   = { code = "9011202", name = "Citymax Hotel Al Barsha" },
    },
    rooms = {
      { id = "CM-STD", suppliers = {
        agoda     = { code = "5512", name = "Standard Double", price = "52.00" },
        dida      = { code = "601", name = "Standard Double Room", price = "49.00" },
        expedia   = { code = "202771010", name = "Standard Room, 1 Double Bed", price = "55.00" } } },
    },
    extra_rooms = {
      agoda = { { code = "5513", name = "Smart Room", price = "58.00" } },
    } },
  { id = "HM-DXB-0006", name = "Hilton Dubai Al Habtoor City", star = 5,
    address = "Al Habtoor City, Sheikh Zayed Road", lat = 25.1850, lng = 55.2536,
    suppliers = {
      derbysoft = { code = "DXBHA", name = "Hilton Dubai Al Habtoor City" },
      hotelbeds = { code = "401879", name = "Hilton Dubai Al Habtoor City" },
      expedia   = { code = "13401991", name = "Hilton Dubai Al Habtoor City" },
      agoda     = { code = "5560310", name = "Hilton Dubai Al Habtoor City Hotel" },
    },
    rooms = {
      { id = "HIL-KING", suppliers = {
        derbysoft = { code = "K1", name = "King Guest Room", price = "540.00" },
        hotelbeds = { code = "DBL.KG", name = "DOUBLE KING BED", price = "139.00" },
        expedia   = { code = "214009120", name = "Room, 1 King Bed", price = "152.00" } } },
    },
    extra_rooms = {
      agoda   = { { code = "8830", name = "Twin Guest Room", price = "158.00" } },
      expedia = { { code = "214009121", name = "Room, 2 Twin Beds", price = "155.00" } },
    } },
}

-- supplier -> supplier hotel code -> canonical hotel (the mapping table)
function H.index_by_supplier(hotels)
  local by = {}
  for _, h in ipairs(hotels) do
    for sup, m in pairs(h.suppliers) do
      by[sup] = by[sup] or {}
      by[sup][m.code] = h
    end
  end
  return by
end
H.by_supplier = H.index_by_supplier(H.hotels)

-- The rooms one supplier sells in one hotel: { {code, name, price, canonical}, ... }
-- (canonical = nil for its extra_rooms).
function H.rooms_of(supplier, hotel)
  local out = {}
  for _, r in ipairs(hotel.rooms) do
    local s = r.suppliers[supplier]
    if s then out[#out + 1] = { code = s.code, name = s.name, price = s.price, canonical = r.id } end
  end
  for _, s in ipairs((hotel.extra_rooms or {})[supplier] or {}) do
    out[#out + 1] = { code = s.code, name = s.name, price = s.price }
  end
  return out
end

return H
