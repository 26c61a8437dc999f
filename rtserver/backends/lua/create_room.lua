-- Create a room (or find it) and add members, atomically.
-- KEYS: meta, members, log, reads
-- ARGV: kind, title, epoch (used only if the room is new), created_ms, max_members, user1, role1, user2, role2...
-- Returns {'ok', kind, epoch, title, created_ms} | {'conflict', existing_kind} | {'full', count}
-- Nothing is written unless the whole call succeeds. A room whose meta is missing is new: whatever
-- else is left of it (a log, members, receipts) is dropped, and it gets the fresh epoch, so clients
-- that knew its earlier history are told to start over instead of resuming into different offsets.
local meta, members = KEYS[1], KEYS[2]
local found = redis.call('HMGET', meta, 'kind', 'epoch', 'title', 'created_ms')
local fresh = not found[1]
if not fresh and found[1] ~= ARGV[1] then
  return {'conflict', found[1]}
end
local count = 0
if not fresh then
  count = redis.call('HLEN', members)
end
for i = 6, #ARGV, 2 do
  if fresh or redis.call('HEXISTS', members, ARGV[i]) == 0 then
    count = count + 1
  end
end
if count > tonumber(ARGV[5]) then
  return {'full', count}
end
if fresh then
  redis.call('DEL', members, KEYS[3], KEYS[4])
  redis.call('HSET', meta, 'kind', ARGV[1], 'title', ARGV[2], 'epoch', ARGV[3], 'created_ms', ARGV[4], 'head', 0)
  redis.call('HDEL', meta, 'last_ts')
  found = {ARGV[1], ARGV[3], ARGV[2], ARGV[4]}
end
for i = 6, #ARGV, 2 do
  redis.call('HSET', members, ARGV[i], ARGV[i + 1])
end
return {'ok', found[1], found[2], found[3], found[4]}
