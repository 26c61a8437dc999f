-- Add (or update) members of an existing room, all or none.
-- KEYS: meta, members
-- ARGV: max_members, user1, role1, user2, role2...
-- Returns {'ok'} | {'missing'} | {'full', count}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'missing'}
end
local count = redis.call('HLEN', KEYS[2])
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then
    count = count + 1
  end
end
if count > tonumber(ARGV[1]) then
  return {'full', count}
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return {'ok'}
