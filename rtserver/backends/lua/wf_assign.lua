-- The workflow (rtserver/workflow/redis_store.py): assign a jobseeker to an advisor within the cap.
-- KEYS: fu, portfolio, advisors with a portfolio. ARGV: advisor, room, cap, now, jobseeker
local cur = redis.call('HGET', KEYS[1], 'advisor')
if cur then
  if cur ~= ARGV[1] then return {'conflict', cur} end
  return {'same'}
end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'full'} end
redis.call('HSET', KEYS[1], 'advisor', ARGV[1], 'status', 'active', 'room', ARGV[2], 'since_ms', ARGV[4],
           'updated_ms', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[1])
return {'ok'}
