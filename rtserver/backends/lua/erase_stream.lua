-- A person's erasure (rtserver/backends/erasure.py): one chunk of the rewrite of a room's stream.
-- KEYS: the room's meta, its log, the copy being written (rt:{room:ID}:erase:N:USER).
-- ARGV: after (the last offset copied, 0 to start), count, user, tombstone text, scrubbed quote,
--       erased sender, generation (the room's 'rewrites' when this rewrite started; '' to start),
--       1 if an earlier chunk changed something, then the quotes to scrub from notices.
-- Returns {'restart'} (another rewrite of the room finished meanwhile: start again)
--       | {'more' | 'done', changed, last offset copied, generation, idempotency keys of the erased...}
--
-- Why a copy: a stream entry cannot be edited in place and XADD refuses an id below the last one.
-- Each chunk copies the next `count` entries (OFFSET-0 ids kept) with the person's messages made
-- tombstones; the chunk that reaches the end of the log swaps the copy in (RENAME) in the same
-- script, so messages appended between chunks are copied too and the room's head, epoch and
-- offsets never change. What retention trimmed meanwhile is trimmed from the copy (XTRIM MINID).
-- Rewritten entries carry rw = 1: a node comparing the entry it last saw after a reconnection
-- (check_stream.lua) does not take the erasure for lost history.
local meta, log, copy = KEYS[1], KEYS[2], KEYS[3]
local after, count, user = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local tomb, scrubbed, erased = ARGV[4], ARGV[5], ARGV[6]
local rewrites = tonumber(redis.call('HGET', meta, 'rewrites') or '0')
if ARGV[7] == '' then
  redis.call('DEL', copy)
elseif tonumber(ARGV[7]) ~= rewrites then
  redis.call('DEL', copy)
  return {'restart'}
end

local function replace_plain(text, quote, by)
  local out, init = {}, 1
  while true do
    local s, e = string.find(text, quote, init, true)
    if not s then
      break
    end
    table.insert(out, string.sub(text, init, s - 1))
    table.insert(out, by)
    init = e + 1
  end
  table.insert(out, string.sub(text, init))
  return table.concat(out)
end

local start = '-'
if after > 0 then
  start = (after + 1) .. '-0'
end
local entries = redis.call('XRANGE', log, start, '+', 'COUNT', count)
local changed, keys, last = 0, {}, after
for _, entry in ipairs(entries) do
  local blob = entry[2][2]
  local e = cmsgpack.unpack(blob)
  local new = nil
  if e.from == user then
    if e.key then
      table.insert(keys, e.key)
    end
    e.from, e.name, e.text, e.key, e.data, e.rw = erased, '', tomb, nil, {erased = true}, 1
    new = cmsgpack.pack(e)
  elseif e.from == 'system' and #ARGV > 8 then
    local text = e.text
    for i = 9, #ARGV do
      if ARGV[i] ~= '' then
        text = replace_plain(text, ARGV[i], scrubbed)
      end
    end
    if text ~= e.text then
      e.text, e.rw = text, 1
      new = cmsgpack.pack(e)
    end
  end
  if new then
    changed = changed + 1
  end
  redis.call('XADD', copy, entry[1], 'e', new or blob)
  last = tonumber(string.match(entry[1], '^(%d+)'))
end
if #entries == count then
  return {'more', changed, last, rewrites, unpack(keys)}
end
local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)
if first[1] == nil or (changed == 0 and ARGV[8] ~= '1') then
  redis.call('DEL', copy)  -- nothing kept, or nothing to change: the log stays as it is
  return {'done', changed, last, rewrites, unpack(keys)}
end
redis.call('XTRIM', copy, 'MINID', first[1][1])
redis.call('RENAME', copy, log)
redis.call('HINCRBY', meta, 'rewrites', 1)
return {'done', changed, last, rewrites, unpack(keys)}
