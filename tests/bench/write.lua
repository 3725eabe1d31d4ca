-- wrk script for the writes row of `make bench` (tests/bench/run.py):
-- POST /api/incidents, then PATCH /api/incidents/<the returned id> resolving
-- it. Each wrk thread keeps a queue of created ids; a connection that is free
-- PATCHes a queued id, else POSTs a new incident. Statuses are counted per
-- thread and summed in done().
--   BENCH_API_KEY     the x-api-key
--   BENCH_MONITOR_ID  a monitor the new incidents affect

wrk.headers["x-api-key"] = os.getenv("BENCH_API_KEY") or ""
wrk.headers["Content-Type"] = "application/json"

local create_body = string.format(
  '{"title": "Bench write", "status": "investigating", '
    .. '"message": "Created by make bench.", "monitorIds": ["%s"]}',
  os.getenv("BENCH_MONITOR_ID") or "")
local patch_body = '{"status": "resolved", "message": "Resolved by make bench."}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

pending = {}
created = 0
patched = 0
statuses = {}

function request()
  local id = table.remove(pending)
  if id then
    return wrk.format("PATCH", "/api/incidents/" .. id, nil, patch_body)
  end
  return wrk.format("POST", "/api/incidents", nil, create_body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status == 201 then
    created = created + 1
    local id = string.match(body, '"id"%s*:%s*"(inc_[a-z0-9]+)"')
    if id then
      table.insert(pending, id)
    end
  elseif status == 200 then
    patched = patched + 1
  end
end

function done(summary, latency, requests)
  local total_created, total_patched, total_statuses = 0, 0, {}
  for _, thread in ipairs(threads) do
    total_created = total_created + (thread:get("created") or 0)
    total_patched = total_patched + (thread:get("patched") or 0)
    for status, count in pairs(thread:get("statuses") or {}) do
      total_statuses[status] = (total_statuses[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total_statuses) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, '
      .. '"created": %d, "patched": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    total_created, total_patched, table.concat(parts, ", ")))
end
