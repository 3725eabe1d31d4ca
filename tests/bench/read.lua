-- wrk script for the read rows of `make bench` (tests/bench/run.py).
-- Headers come from the environment so the API key never shows in `ps`:
--   BENCH_API_KEY   sent as x-api-key when set
--   BENCH_HEADERS   more request headers, one "Name: value" a line (the 304
--                   row's If-None-Match, the German row's Accept-Language,
--                   the htmx row's HX-Request)
-- No response() hook: wrk then counts every status >= 400 as an error at full
-- speed; run.py probes each URL once beforehand for the exact status.

-- Every row asks as a browser does, accepting gzip: the static file is then
-- whitenoise's compressed copy, the status page its compressed stored copy.
wrk.headers["Accept-Encoding"] = "gzip"

local key = os.getenv("BENCH_API_KEY")
if key and key ~= "" then
  wrk.headers["x-api-key"] = key
end
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
