-- Retention (rtserver/retention): delete the appointments of a user's index that were for a time
-- before the cutoff, from both the advisor's and the jobseeker's index.
-- KEYS: rt:{wf}:aps:USER (ids by start). ARGV: cutoff_ms, limit, the prefix rt:{wf}:
-- Every key is in the {wf} slot. Returns {deleted, 1 when more may be due, oldest score kept or -1}
local cutoff, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local function esc(id)
  return (id:gsub('%%', '%%25'):gsub('{', '%%7B'):gsub('}', '%%7D'))
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. cutoff, 'LIMIT', 0, limit)
local n = 0
for _, id in ipairs(ids) do
  local key = ARGV[3] .. 'ap:' .. esc(id)
  local data = redis.call('HGET', key, 'd')
  if data then
    local ap = cjson.decode(data)
    n = n + redis.call('DEL', key)
    redis.call('ZREM', ARGV[3] .. 'aps:' .. esc(ap.advisor), id)
    redis.call('ZREM', ARGV[3] .. 'aps:' .. esc(ap.jobseeker), id)
  end
  redis.call('ZREM', KEYS[1], id)
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {n, #ids == limit and 1 or 0, oldest[2] and tonumber(oldest[2]) or -1}
