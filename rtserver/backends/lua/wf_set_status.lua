-- The workflow: opt a follow-up out or back in (the cap counts active ones).
-- KEYS: fu, portfolio. ARGV: expected advisor, status, cap, now, jobseeker
local cur = redis.call('HMGET', KEYS[1], 'advisor', 'status')
if not cur[1] then return {'missing'} end
if cur[1] ~= ARGV[1] then return {'retry'} end
if cur[2] == ARGV[2] then return {'same'} end
if ARGV[2] == 'active' then
  if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'full'} end
  redis.call('SADD', KEYS[2], ARGV[5])
else
  redis.call('SREM', KEYS[2], ARGV[5])
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated_ms', ARGV[4])
return {'ok'}
