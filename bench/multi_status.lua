-- wrk script of bench/multi_status.py: rotate pre-built multi-status bodies, check answers.
--
--   wrk -t1 -c16 -d10s -s bench/multi_status.lua http://127.0.0.1:PORT -- BODIES LENGTHS
--
-- BODIES holds one JSON body per line; LENGTHS the length of each correct answer, as
-- the server gave them during the correctness check. An answer that is not HTTP 200 or
-- whose length is not one of those is counted as wrong. The last line printed is
-- `RESULT key=value ...`, read by bench/multi_status.py.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  prepared = {}
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(args[1]) do
    prepared[#prepared + 1] = wrk.format("POST", "/v1/multi-status", headers, line)
  end
  valid = {}
  for line in io.lines(args[2]) do
    valid[tonumber(line)] = true
  end
  -- Threads start at different places of the rotation.
  index = (id * 97) % #prepared
  wrong = 0
  checked = 0
end

function request()
  index = index % #prepared + 1
  return prepared[index]
end

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 or not valid[#body] then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local wrong_total, checked_total = 0, 0
  for _, thread in ipairs(threads) do
    wrong_total = wrong_total + thread:get("wrong")
    checked_total = checked_total + thread:get("checked")
  end
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d wrong=%d checked=%d connect=%d read=%d write=%d"
      .. " status=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, wrong_total, checked_total, errors.connect,
    errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(99)
  ))
end
