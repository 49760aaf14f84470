-- api/auth.lua -- POST /api/auth/ticket {appKey, appSecret, ttl} -> {ticket}
-- (JWT HS256; ttl in seconds, default 24 h, at most 365 days).
local A = require("api.common")

hm.route("POST", "/api/auth/ticket", A.handler(function(req, body)
  local key = A.str(body, "appKey", true)
  local secret = A.str(body, "appSecret", true)
  local ttl = A.val(body.ttl)
  if ttl ~= nil and (type(ttl) ~= "number" or ttl <= 0) then A.param("ttl", "must be a positive number of seconds") end
  ttl = math.min(math.floor(ttl or 86400), 365 * 86400)
  local app = (hm.config.apps or {})[key]
  if not app or not hm.crypto.equal(tostring(app.secret or ""), secret) then
    return A.fail(req, A.CODE.auth, "authentication failed: bad appKey or appSecret")
  end
  local now = math.floor(hm.time.now())
  local ticket = A.jwt_sign({ sub = key, iat = now, exp = now + ttl, jti = hm.crypto.random_hex(8) })
  return A.ok(req, { ticket = ticket, expiresIn = ttl, expireTime = now + ttl })
end, { public = true }))

return {}
