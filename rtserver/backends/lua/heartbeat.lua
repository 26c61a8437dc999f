-- A node says it is alive, and learns which nodes are.
-- KEYS: nodes (zset node -> last heartbeat, ms of Redis server time)
-- ARGV: node_id
-- Returns {now_ms, 1 if this node was not registered (new, or swept while it was cut off), {node, ms, ...}}
-- Server time, not the nodes' clocks: liveness is judged on one clock whatever the nodes' skew.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now, ARGV[1])
return {now, added, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
