-- Store one chat message and publish it, as one atomic step.
-- KEYS: meta, log, reads, idempotency
-- ARGV: room, sender, name, text, has_key ('1'/'0'), key, ts_ms, retention (0: keep all), idempotency_ttl_ms, channel,
--       data (a notice's JSON object, '' for none)
-- Returns {'ok', offset} | {'dup', offset, stored_event_or_false} | {'missing'}
--
-- Why one script: the offset is taken (HINCRBY head), the entry written under id OFFSET-0, the
-- sender's read receipt moved and the event published with no other command in between. Redis
-- runs scripts one at a time per shard, so the room's channel carries events in offset order
-- whichever node sent them, and a message is never published unless it is stored.
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  return {'missing'}
end
local has_key = ARGV[5] == '1'
if has_key then
  local prior = redis.call('GET', KEYS[4])
  if prior then
    local sep = string.find(prior, ' ', 1, true)
    -- A key recorded under an earlier epoch of the room belongs to history that is gone.
    if sep and string.sub(prior, sep + 1) == epoch then
      local offset = string.sub(prior, 1, sep - 1)
      local entry = redis.call('XRANGE', KEYS[2], offset .. '-0', offset .. '-0')
      local stored = false
      if entry[1] then
        stored = entry[1][2][2]
      end
      return {'dup', tonumber(offset), stored}
    end
  end
end
local offset = redis.call('HINCRBY', KEYS[1], 'head', 1)
redis.call('HSET', KEYS[1], 'last_ts', ARGV[7])  -- for room lists: when the latest message came
local event = {type = 'message', room = ARGV[1], offset = offset, ts = tonumber(ARGV[7]),
               from = ARGV[2], name = ARGV[3], text = ARGV[4]}
if has_key then
  event.key = ARGV[6]
end
if ARGV[11] ~= '' then
  event.data = cjson.decode(ARGV[11])
end
local blob = cmsgpack.pack(event)
local retention = tonumber(ARGV[8])
if retention > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', retention, offset .. '-0', 'e', blob)
else
  redis.call('XADD', KEYS[2], offset .. '-0', 'e', blob)
end
-- The sender has read everything up to their own message.
local read = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '-1')
if offset > read then
  redis.call('HSET', KEYS[3], ARGV[2], offset)
end
if has_key then
  redis.call('SET', KEYS[4], offset .. ' ' .. epoch, 'PX', ARGV[9])
end
redis.call('SPUBLISH', ARGV[10], blob)
return {'ok', offset}
