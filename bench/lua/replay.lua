-- Replays requests from a file the bench wrote, one per line, cycling:
--   METHOD <TAB> path <TAB> X-User-ID [<TAB> JSON body]
-- All randomness (ids, skewed tags, users, bodies) is decided in Python, so a run is
-- reproducible and this script does no work per request beyond picking the next one.
-- Usage: wrk ... -s replay.lua URL -- REQUESTS_FILE
-- done() prints one machine-readable line: BENCH_RESULT {json}.

local requests = {}
local count = 0
local next_index = 1

local function split_tabs(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  local path = args[1]
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in file:lines() do
    if line ~= "" then
      local f = split_tabs(line)
      local headers = { ["X-User-ID"] = f[3] }
      local body = nil
      if f[4] ~= nil and f[4] ~= "" then
        headers["Content-Type"] = "application/json"
        body = f[4]
      end
      count = count + 1
      requests[count] = wrk.format(f[1], f[2], headers, body)
    end
  end
  file:close()
  assert(count > 0, "no requests in " .. path)
end

function request()
  local r = requests[next_index]
  next_index = next_index + 1
  if next_index > count then
    next_index = 1
  end
  return r
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeout_errors":%d,' ..
    '"status_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
