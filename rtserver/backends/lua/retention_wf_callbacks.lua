-- Retention (rtserver/retention): delete a jobseeker's callback requests made before the cutoff
-- that are no longer pending (open and claimed ones are kept until they are closed).
-- KEYS: rt:{wf}:cbs:JOBSEEKER (ids by creation), rt:{wf}:cbpending:JOBSEEKER.
-- ARGV: cutoff_ms, limit (requests looked at), the callback hash prefix (rt:{wf}:cb:).
-- Every key is in the {wf} slot. Returns {deleted, 1 when more may be due, oldest score kept or -1}
-- (more only when some went: a run of pending requests never makes the sweep spin on this key)
local cutoff, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local function esc(id)
  return (id:gsub('%%', '%%25'):gsub('{', '%%7B'):gsub('}', '%%7D'))
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. cutoff, 'LIMIT', 0, limit)
local n = 0
for _, id in ipairs(ids) do
  local key = ARGV[3] .. esc(id)
  local data = redis.call('HGET', key, 'd')
  local pending = false
  if data then
    local status = cjson.decode(data).status
    pending = status == 'open' or status == 'claimed'
  end
  if not pending then
    n = n + redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {n, (n > 0 and #ids == limit) and 1 or 0, oldest[2] and tonumber(oldest[2]) or -1}
