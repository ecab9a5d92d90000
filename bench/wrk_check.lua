-- wrk script for bench/decisions.py: single suppression checks at a fixed total rate.
-- After each answer, a connection waits for the next free slot of one shared
-- schedule (one slot every 1000/rate ms), so the connections together send
-- `rate` requests/s as long as the server keeps up. Latency runs from each
-- request's actual send (wrk's measure), not from its slot: a server that
-- falls behind shows a lower achieved rate and only part of its queueing
-- (coordinated omission; wrk2 corrects for it, but Debian does not ship it).
-- Arguments (after `--`): customers, api key, rate (requests/s).
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_usec; } sf_timeval;
int gettimeofday(sf_timeval *tv, void *tz);
]])
local tv = ffi.new("sf_timeval")

local function now_ms()
   ffi.C.gettimeofday(tv, nil)
   return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

local customers, key, interval_ms = 20000, "", 0
local next_slot = nil
local counter = 0

function init(args)
   customers = tonumber(args[1]) or customers
   key = args[2] or key
   interval_ms = 1000 / (tonumber(args[3]) or 1000)
   counter = math.random(0, customers - 1)
end

function delay()
   local now = now_ms()
   if next_slot == nil or next_slot < now - 1000 then
      next_slot = now -- start, or more than a second behind: no burst to catch up
   end
   local slot = next_slot
   next_slot = next_slot + interval_ms
   local wait = slot - now
   if wait < 0 then
      return 0
   end
   return math.floor(wait)
end

function request()
   counter = counter + 1
   local path = "/v1/suppression/check?channel=email&purpose=marketing&email=user"
      .. (counter % customers) .. "@example.com"
   return wrk.format("GET", path, { ["X-API-Key"] = key })
end

function done(summary, latency, requests)
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p90_us":%d,'
         .. '"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
      summary.requests, summary.duration,
      summary.errors.connect + summary.errors.read + summary.errors.write
         + summary.errors.status + summary.errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max))
end
