-- What a node learns about a room's stream when it (re)subscribes, and the repair of lost history.
-- KEYS: meta, log
-- ARGV: known_epoch ('' when none yet), last_offset seen, sha1 of the last event seen ('' when none),
--       fresh epoch to install if the history was rewritten
-- Returns {'gone'}                         the room no longer exists (Redis lost its data)
--       | {'epoch', epoch}                 the room was recreated under another epoch
--       | {'rewritten', new_epoch}         the history went back in time (a crash lost acknowledged
--                                          writes): the fresh epoch is installed so every client
--                                          learns it cannot resume
--       | {'ok', epoch, head, newest_event_or_false}
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'head')
if not meta[1] then
  return {'gone'}
end
local epoch, head = meta[1], tonumber(meta[2])
if ARGV[1] ~= '' and epoch ~= ARGV[1] then
  return {'epoch', epoch}
end
local last = tonumber(ARGV[2])
if ARGV[1] ~= '' and last > 0 then
  local rewritten = head < last
  if not rewritten and ARGV[3] ~= '' then
    local entry = redis.call('XRANGE', KEYS[2], last .. '-0', last .. '-0')
    -- (no entry at all: trimmed by retention, which is not a rewrite)
    -- (an entry rewritten by a person's erasure, marked rw, is not lost history: erase_stream.lua)
    rewritten = entry[1] ~= nil and redis.sha1hex(entry[1][2][2]) ~= ARGV[3]
      and cmsgpack.unpack(entry[1][2][2]).rw == nil
  end
  if rewritten then
    redis.call('HSET', KEYS[1], 'epoch', ARGV[4])
    return {'rewritten', ARGV[4]}
  end
end
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local event = false
if newest[1] then
  event = newest[1][2][2]
end
return {'ok', epoch, head, event}
