-- Shared by the wrk scripts of scripts/load: the bearer tokens of many seeded customers (one
-- a line, from `guichet bench seed-sessions`), and a one-line summary that scripts/load reads.
local M = {}

function M.tokens()
  local path = os.getenv("LOAD_TOKENS") or "tokens.txt"
  local list = {}
  for line in io.lines(path) do
    if #line > 0 then list[#list + 1] = line end
  end
  assert(#list > 0, "no token in " .. path)
  return list
end

function M.done(label, summary, latency)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT %s requests=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
    label, summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end

return M
