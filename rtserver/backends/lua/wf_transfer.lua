-- The workflow: move a follow-up to another advisor (both portfolios in one step).
-- KEYS: fu, old portfolio, new portfolio, advisors with a portfolio.
-- ARGV: expected old advisor, new advisor, cap, now, jobseeker
local cur = redis.call('HMGET', KEYS[1], 'advisor', 'status')
if not cur[1] then return {'missing'} end
if cur[1] ~= ARGV[1] then return {'retry'} end
if cur[1] == ARGV[2] then return {'same'} end
if cur[2] == 'active' then
  if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[3]) then return {'full'} end
  redis.call('SREM', KEYS[2], ARGV[5])
  redis.call('SADD', KEYS[3], ARGV[5])
end
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('HSET', KEYS[1], 'advisor', ARGV[2], 'since_ms', ARGV[4], 'updated_ms', ARGV[4])
return {'ok'}
