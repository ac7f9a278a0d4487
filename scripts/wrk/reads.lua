-- Signed-in reads by many customers: GET /api/v1/me/invoices and GET /api/v1/me/services in
-- turn, each request with the next customer's token. LOAD_DELAY_MS paces each connection.
package.path = (os.getenv("LOAD_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")
local tokens, i, n
local paths = { "/api/v1/me/invoices", "/api/v1/me/services" }
local delay_ms = tonumber(os.getenv("LOAD_DELAY_MS") or "0")

function init(args)
  tokens = common.tokens()
  -- Threads start at different customers.
  i = math.random(#tokens)
  n = 0
end

function request()
  i = i % #tokens + 1
  n = n + 1
  return wrk.format("GET", paths[n % 2 + 1], { ["Authorization"] = "Bearer " .. tokens[i] })
end

if delay_ms > 0 then
  function delay() return delay_ms end
end

function done(summary, latency, requests)
  common.done(os.getenv("LOAD_LABEL") or "reads", summary, latency)
end
