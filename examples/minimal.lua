-- The smallest useful hotelmux config: one Lua route.
--   build/hotelmux -c examples/minimal.lua
--   curl localhost:8080/hello                         -> {"hello":"world"}
--   curl -H 'Authorization: Bearer change-me' localhost:8080/admin/status
return {
  listen = "127.0.0.1:8080",
  admin_token = "change-me",
  routes = {
    ["GET /hello"] = function(req)
      return { json = { hello = "world" } }
    end,
  },
}
