-- The workflow: save a versioned record (callback, appointment) with its indexes.
-- Compare-and-set of a versioned record, and its sorted-set indexes in the same step.
-- KEYS: record, index1, index2... ARGV: expected version ('-': must not exist), new version, JSON,
-- then one (op, score, member) triple per index: op 'add' or 'rem'.
local v = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '-' then
  if v then return 0 end
elseif v ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
local k = 2
for i = 4, #ARGV, 3 do
  if ARGV[i] == 'add' then
    redis.call('ZADD', KEYS[k], ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('ZREM', KEYS[k], ARGV[i + 2])
  end
  k = k + 1
end
return 1
