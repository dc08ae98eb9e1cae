-- wrk script for learnapp's benchmark. One script, chosen by its first argument:
--
--   wrk ... -s bench.lua <url> -- plain
--       the URL as given, with the -H headers (the trivial route, a single page)
--   wrk ... -s bench.lua <url> -- paths FILE
--       cycle through FILE's lines: "path<TAB>cookie" (GET)
--   wrk ... -s bench.lua <url> -- posts FILE
--       FILE's lines "path<TAB>cookie<TAB>body" as form POSTs, each sent once; lines are
--       dealt to threads in turn. Running past the end wraps around and is reported.
--   wrk -tN -cN ... -s bench.lua <url> -- cycle FILE START_PATH
--       FILE's lines "cookie<TAB>csrf": each learner POSTs START_PATH, then POSTs the
--       attempt the redirect names. Needs one connection per thread (-t equal to -c), so that
--       each response belongs to the request sent just before it.
--
-- done() prints one line "BENCH_JSON {...}" with requests, duration, errors and latency
-- percentiles in microseconds, for bench/wrk.py to parse.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local FORM = "application/x-www-form-urlencoded"

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    table.insert(fields, field)
  end
  return fields
end

local function my_lines(file)
  -- The lines of FILE dealt to this thread: line i goes to thread (i mod threads).
  local mine, i = {}, 0
  for line in io.lines(file) do
    if line ~= "" then
      if i % nthreads == tid then
        table.insert(mine, split(line))
      end
      i = i + 1
    end
  end
  return mine
end

wrapped = 0
sent = 0

function init(args)
  mode = args[1] or "plain"
  nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
  if mode == "paths" then
    pool = {}
    for _, f in ipairs(my_lines(args[2])) do
      local headers = {}
      if f[2] and f[2] ~= "" then headers["Cookie"] = f[2] end
      table.insert(pool, wrk.format("GET", f[1], headers))
    end
    index = 0
    request = function()
      index = index % #pool + 1
      return pool[index]
    end
  elseif mode == "posts" then
    pool = {}
    for _, f in ipairs(my_lines(args[2])) do
      table.insert(pool, wrk.format("POST", f[1], { Cookie = f[2], ["Content-Type"] = FORM }, f[3]))
    end
    index = 0
    request = function()
      index = index + 1
      if index > #pool then
        index = 1
        wrapped = wrapped + 1
      end
      sent = sent + 1
      return pool[index]
    end
  elseif mode == "cycle" then
    learners = my_lines(args[2])
    start_path = args[3]
    index = 0
    pending = nil -- the submit to send next, once a start has answered
    current = nil
    request = function()
      if pending ~= nil then
        local r = pending
        pending = nil
        return r
      end
      index = index % #learners + 1
      current = learners[index]
      return wrk.format("POST", start_path, { Cookie = current[1], ["Content-Type"] = FORM },
        "csrf_token=" .. current[2])
    end
    response = function(status, headers, body)
      local location = headers["Location"] or headers["location"]
      if status == 302 and location and current ~= nil then
        local path = location:match("(/quizzes/attempts/%d+)$")
        if path then
          -- A start answered: submit that attempt next. (A submit answers with the same
          -- kind of redirect; `current` is cleared then, so it starts the next learner.)
          pending = wrk.format("POST", path, { Cookie = current[1], ["Content-Type"] = FORM },
            "csrf_token=" .. current[2])
          current = nil
          return
        end
      end
      current = nil
    end
  end
end

function done(summary, latency, requests)
  local total_wrapped, total_sent = 0, 0
  for _, thread in ipairs(threads) do
    total_wrapped = total_wrapped + (tonumber(thread:get("wrapped")) or 0)
    total_sent = total_sent + (tonumber(thread:get("sent")) or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "mean": %.1f, "max": %d}, ' ..
    '"wrapped": %d, "sent": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max, total_wrapped, total_sent))
end
