-- wrk script for scripts/benchmark_load.py and `deploy.py bench` (through the lb): a realistic mix of ENT pages over many sessions.
-- sessions file (tab-separated, one session a line): cookie, username, then weighted URLs; a URL
-- 'POST:PATH|FORM' is a form the session posts (bench_sessions.py: a roll call and its correction).
-- Every request carries X-Request-Start (as nginx sets it) so that load shedding can work.
-- Paced when PREAU_PACE_MS is set (deploy.py bench's lb_overload): each wrk thread starts one request
-- every PREAU_PACE_MS ms (an offered rate of threads x 1000 / PREAU_PACE_MS req/s, whatever the
-- answers); without it (lb_mix, the app's benchmark) there is no delay(): closed loop, each
-- connection sends its next request as soon as it has the answer.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } preau_timeval;
int gettimeofday(preau_timeval *tv, void *tz);
]]
local tv = ffi.new("preau_timeval")

local function now()
  ffi.C.gettimeofday(tv, nil)
  return string.format("t=%d.%03d", tonumber(tv.tv_sec), math.floor(tonumber(tv.tv_usec) / 1000))
end

local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

-- wrk looks for delay() once, when it loads the script: defined only when paced. wrk calls it
-- before each request of a connection (the first one too) and waits the milliseconds it returns.
-- The thread hands out start times PREAU_PACE_MS apart: a connection whose answer came back
-- (a fast waiting page as well as a page) waits for the next free one, as a user shown the
-- waiting page (Retry-After, no automatic refresh) does not retry in a tight loop. A start time
-- already past (every connection was busy) is not made up for: the rate offered never exceeds
-- the pace.
local pace_ms = tonumber(os.getenv("PREAU_PACE_MS") or "") or 0
if pace_ms > 0 then
  local next_start = 0
  function delay()
    local t = now_ms()
    next_start = math.max(next_start + pace_ms, t)
    return math.floor(next_start - t + 0.5)
  end
end

local sessions = {}
local login_every = tonumber(os.getenv("PREAU_LOGIN_EVERY") or "100")
local password = os.getenv("PREAU_BENCH_PASSWORD") or "bench-preau-2026"
local counter = 0
statuses = {}  -- global: done() reads it from each thread
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1] or "sessions.tsv"
  for line in io.lines(path) do
    local fields = {}
    for field in string.gmatch(line, "[^\t]+") do table.insert(fields, field) end
    table.insert(sessions, {cookie = fields[1], username = fields[2], urls = {select(3, unpack(fields))}})
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

-- A browser's CSRF cookie (Django's secret, set at its first page): it comes with every request,
-- so that a page's forms (the logout button on every page) reuse it instead of making a new one.
csrf_token = "benchcsrftokenbenchcsrftoken0123"

function request()
  counter = counter + 1
  local s = sessions[math.random(#sessions)]
  if counter % login_every == 0 then
    -- A login (Argon2 check + new session): the CSRF cookie and field carry the same token; over
    -- HTTPS (through the load balancer) Django also wants a same-origin Referer, as a browser sends.
    local token = csrf_token
    local body = "username=" .. s.username .. "&password=" .. password .. "&csrfmiddlewaretoken=" .. token
    return wrk.format("POST", "/connexion/", {
      ["Cookie"] = "csrftoken=" .. token,
      ["Referer"] = wrk.scheme .. "://" .. wrk.headers["Host"] .. "/connexion/",
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Request-Start"] = now()}, body)
  end
  local url = s.urls[math.random(#s.urls)]
  local path, form = string.match(url, "^POST:([^|]+)|(.*)$")
  if path then
    -- A form the session posts (a teacher's roll call save or its correction): the session's
    -- CSRF cookie and field, and the same-origin Referer a browser sends over HTTPS.
    return wrk.format("POST", path, {
      ["Cookie"] = "sessionid=" .. s.cookie .. "; csrftoken=" .. csrf_token,
      ["Referer"] = wrk.scheme .. "://" .. wrk.headers["Host"] .. path,
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Request-Start"] = now()}, form .. "&csrfmiddlewaretoken=" .. csrf_token)
  end
  return wrk.format("GET", url, {["Cookie"] = "sessionid=" .. s.cookie .. "; csrftoken=" .. csrf_token,
                                 ["X-Request-Start"] = now()})
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, n in pairs(counts) do merged[status] = (merged[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(merged) do table.insert(parts, string.format('"%d": %d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    'PREAU_RESULT {"requests": %d, "duration_s": %.2f, "rps": %.1f, "p50_ms": %.1f, "p90_ms": %.1f, ' ..
    '"p95_ms": %.1f, "p99_ms": %.1f, "max_ms": %.1f, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d, "status": %d}, "statuses": {%s}, "pace_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, e.connect, e.read, e.write, e.timeout, e.status,
    table.concat(parts, ", "), pace_ms))
end
