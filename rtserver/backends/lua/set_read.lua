-- Move a read receipt forward, never back, and never past the room's head.
-- KEYS: meta, reads
-- ARGV: user, offset
-- Returns {'ok', stored_offset} | {'missing'}
local head = redis.call('HGET', KEYS[1], 'head')
if not head then
  return {'missing'}
end
local wanted = math.min(tonumber(ARGV[2]), tonumber(head))
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current and tonumber(current) >= wanted then
  return {'ok', tonumber(current)}
end
redis.call('HSET', KEYS[2], ARGV[1], wanted)
return {'ok', wanted}
