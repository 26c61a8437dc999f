-- Retention (rtserver/retention): drop the due tail of a newest-first list of JSON items with a
-- "ts" field (a user's pre-call results). KEYS: the list. ARGV: cutoff_ms, limit.
-- Returns {deleted, ts of the oldest item kept or -1, 1 when more are due beyond the limit}
local cutoff, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local n = 0
while true do
  local last = redis.call('LINDEX', KEYS[1], -1)
  if not last then
    return {n, -1, 0}
  end
  local ok, item = pcall(cjson.decode, last)
  local ts = ok and type(item) == 'table' and tonumber(item.ts) or nil
  if ts == nil then
    return {n, -1, 0}  -- not ours to judge: kept
  end
  if ts >= cutoff then
    return {n, ts, 0}
  end
  if n >= limit then
    return {n, ts, 1}
  end
  redis.call('RPOP', KEYS[1])
  n = n + 1
end
