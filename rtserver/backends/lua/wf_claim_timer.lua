-- The workflow: take a due timer once (several nodes: one fires it). KEYS: timers. ARGV: member, due.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
