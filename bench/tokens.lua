-- wrk script: every request carries one seeded user's access token. wrk's threads take
-- disjoint slices of the token file (as many tokens as connections), and each thread
-- rotates through its slice, so K connections act as K distinct users.
-- Arguments after `--`: <tokens file> <method> <number of threads>.

local threads_started = 0

function setup(thread)
  thread:set("thread_index", threads_started)
  threads_started = threads_started + 1
end

local mine = {}
local next_token = 1
local method = "GET"
local body = nil

function init(args)
  method = args[2] or "GET"
  local thread_count = tonumber(args[3] or "1")
  local n = 0
  for line in io.lines(args[1]) do
    if n % thread_count == thread_index then
      table.insert(mine, line)
    end
    n = n + 1
  end
  if method == "POST" then body = "{}" end
end

function request()
  local token = mine[next_token]
  next_token = next_token % #mine + 1
  local headers = { ["Content-Type"] = "application/json" }
  if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format(method, nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, ' ..
    '"bytes": %d, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.bytes, e.status,
    e.connect + e.read + e.write + e.timeout))
end
