-- Loaded by bench/tools.py into wrk: an optional pool of Bearer tokens (one per line, used round
-- robin) and, at the end, the counts and the full latency histogram as JSON.
local pool_file = os.getenv("BENCH_WRK_TOKENS")

if pool_file then
  local tokens, n = {}, 0
  for line in io.lines(pool_file) do tokens[#tokens + 1] = line end
  function request()
    n = n % #tokens + 1
    return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[n] })
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_WRK_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "histogram": [',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout))
  for i = 1, #latency do
    local value, count = latency(i)
    out:write(string.format('%s[%d, %d]', i > 1 and ", " or "", value, count))
  end
  out:write("]}\n")
  out:close()
end
