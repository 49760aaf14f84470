-- The one-command demo: the hotelmux gateway plus five simulated suppliers,
-- all served by this one process (the suppliers live under /sim/NAME).
--   build/hotelmux -c examples/demo.lua [--listen 127.0.0.1:8080]
-- Client credentials: appKey "demo", appSecret "demo-secret" (POST /api/auth/ticket).
return {
  listen = "127.0.0.1:8080",
  admin_token = "change-me",
  access_log = true,
  lua_path = { "../scripts", "." },

  -- The client API (HotelByte-compatible), then the simulated suppliers.
  scripts = {
    "../scripts/api/auth.lua",
    "../scripts/api/search.lua",
    "../scripts/api/trade.lua",     -- after search.lua (uses it)
    "../scripts/api/webhooks.lua",  -- POST /webhooks/{supplier}: signed supplier pushes invalidate the search cache
    "../scripts/api/content.lua",   -- GET /api/content/hotel/{id}: static content, CDN-cacheable
    "suppliers/hotelbeds.lua",
    "suppliers/expedia.lua",
    "suppliers/agoda.lua",
    "suppliers/derbysoft.lua",
    "suppliers/dida.lua",
  },

  -- The order ledger (SQLite; relative to this file's directory).
  ledger = "hotelmux-ledger.sqlite",
  -- Room mapping table (CSV: supplier, supplier hotel code, room code or name,
  -- canonical room id); wins over the hotel data and the similarity model.
  -- Relative paths are looked up like require (this directory, then lua_path).
  room_mapping_csv = "data/rooms.csv",
  -- Currency conversion for pricing.lua: the value of one unit in a common base.
  fx = { USD = 1, EUR = 1.08, AED = 0.2723, GBP = 1.27 },
  search_deadline_ms = 1000,
  -- L2 cache (shared by nodes) and cross-node invalidation: uncomment with a
  -- Redis running (redis-server). Without it the cache is in this process only.
  -- redis = "127.0.0.1:6379",
  -- Search cache (scripts/api/search.lua): hot entries are refreshed in the
  -- background shortly before they expire, at most this many a second.
  refresh_ahead_per_s = 20,

  -- The web page (examples/web/): http://127.0.0.1:8080/ui/ and /ui/ops.
  static = { ["/ui/"] = "web" },

  -- Client apps. limits (per appKey; HotelByte's defaults are 100 QPS overall,
  -- 10 for checkAvail/book, 50 for queryOrders): the demo allows more, for load tests.
  apps = { demo = { secret = "demo-secret", name = "Demo travel agency",
                    limits = { qps = 20000, ari_qps = 2000, orders_qps = 2000, daily = 100000000 } } },

  -- base_url starting with "/" means "this server" (the simulated suppliers).
  -- webhooks = true: the supplier pushes sold-out / price-changed events to
  -- POST /webhooks/NAME, signed with webhook_secret (scripts/lib/webhook.lua);
  -- only then may its search answers be cached up to 300 s (else 60 s).
  suppliers = {
    hotelbeds = { connector = "connectors.hotelbeds", base_url = "/sim/hotelbeds",
                  api_key = "hb-demo-key", secret = "hb-demo-secret", timeout_ms = 300, qps = 200,
                  webhooks = true, webhook_secret = "hb-demo-webhook-secret" },
    expedia   = { connector = "connectors.expedia", base_url = "/sim/expedia",
                  api_key = "ex-demo-key", secret = "ex-demo-secret", timeout_ms = 300, qps = 200 },
    agoda     = { connector = "connectors.agoda", base_url = "/sim/agoda",
                  site_id = "1812345", api_key = "ag-demo-key", timeout_ms = 300, qps = 200,
                  webhooks = true, webhook_secret = "ag-demo-webhook-secret" },
    -- DerbySoft stay dates are hotel-local: hotel_utc_offset is the demo hotels' zone.
    derbysoft = { connector = "connectors.derbysoft", base_url = "/sim/derbysoft",
                  token = "ds-demo-token", distributor_id = "HOTELMUX", supplier_id = "DEMOHOTELS",
                  hotel_utc_offset = "+04:00", timeout_ms = 300, qps = 200 },
    dida      = { connector = "connectors.dida", base_url = "/sim/dida",
                  client_id = "DidaDemo", license_key = "dd-demo-license", timeout_ms = 300, qps = 200,
                  webhooks = true, webhook_secret = "dd-demo-webhook-secret" },
  },
}
