-- A node claims a media room, or learns which node holds it.
-- KEYS: the room's owner key (string: node id, with a lease)
-- ARGV: node_id, lease_ms
-- Returns the owner after the call: node_id when it was free or already ours (lease renewed).
local owner = redis.call('GET', KEYS[1])
if not owner or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
  return ARGV[1]
end
return owner
