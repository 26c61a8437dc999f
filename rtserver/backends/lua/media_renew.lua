-- The holder of a media room extends its lease, or lets it go.
-- KEYS: the room's owner key
-- ARGV: node_id, lease_ms (0: release)
-- Returns 1 when the room was this node's (renewed or released), 0 when another node or nobody holds it.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 1
