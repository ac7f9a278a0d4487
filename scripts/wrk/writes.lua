-- The write mix: each customer in turn orders the seeded monthly plan (POST
-- /api/v1/me/orders), then pays it with the card on file (POST /api/v1/me/orders/{id}/pay).
-- Each thread walks its own share of the customers (every LOAD_THREADS-th one; two threads
-- never act for one customer at once) with one request in flight (-c = -t): an order's 201
-- makes the next request its payment, any other answer moves to the next customer.
package.path = (os.getenv("LOAD_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local common = require("common")
local tokens, i, pay_id
local order_body = '{"lines":[{"plan":"bench-monthly"}]}'
local debug = os.getenv("LOAD_DEBUG")

local threads = tonumber(os.getenv("LOAD_THREADS") or "1")
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  tokens = common.tokens()
  i = (tid or 0) % #tokens + 1
end

local function next_customer()
  i = i + threads
  if i > #tokens then i = (tid or 0) % #tokens + 1 end
end

function request()
  local h = { ["Authorization"] = "Bearer " .. tokens[i], ["Content-Type"] = "application/json" }
  if pay_id then
    return wrk.format("POST", "/api/v1/me/orders/" .. pay_id .. "/pay", h, "{}")
  end
  return wrk.format("POST", "/api/v1/me/orders", h, order_body)
end

function response(status, headers, body)
  if debug and status >= 300 then
    io.write(string.format("%s %d %s\n", pay_id and "pay" or "order", status, string.sub(body, 1, 120)))
  end
  local id = status == 201 and not pay_id and string.match(body, '"id":"([^"]+)"')
  if id then
    pay_id = id
  else
    pay_id = nil
    next_customer()
  end
end

function done(summary, latency, requests)
  common.done(os.getenv("LOAD_LABEL") or "writes", summary, latency)
end
