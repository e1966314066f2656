-- wrk script for bench/memory.sh: cycles through the routes a
-- zero-config wanjia serves without a session, so that the short load
-- touches routing, the error envelope, the rate limiter (Redis), the
-- database ping and the metrics registry rather than one route.
local paths = {
  "/healthz",
  "/readyz",            -- pings SQLite and the embedded Redis
  "/metrics",
  "/api/openapi.json",
  "/api/mp/me",         -- rate limiter (Redis) then 401 without a token
  "/api/nope",          -- 404 envelope
}
local i = 0

request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
