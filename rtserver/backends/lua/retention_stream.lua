-- Retention (rtserver/retention): delete the due prefix of a room's stream, by id.
-- KEYS: the room's log. ARGV: cutoff_ms (entries stamped before are due), limit.
-- Returns {deleted, ts of the oldest entry kept or -1, 1 when more are due beyond the limit}
--
-- Why XTRIM MINID: entry ids are OFFSET-0, so the due prefix is every id below the first entry
-- kept; one XTRIM drops it whole (stream nodes freed at once), and the room's head, hence the
-- offsets of new messages, are untouched. One script: a second node running it at the same
-- time finds the prefix gone and deletes nothing twice.
local cutoff, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', limit + 1)
local n, kept_ts, more = 0, -1, 0
for i, entry in ipairs(entries) do
  local ts = cmsgpack.unpack(entry[2][2]).ts
  if ts >= cutoff then
    kept_ts = ts
    break
  end
  if i > limit then
    kept_ts, more = ts, 1
    break
  end
  n = i
end
if n > 0 then
  local last = tonumber(string.match(entries[n][1], '^(%d+)'))
  redis.call('XTRIM', KEYS[1], 'MINID', (last + 1) .. '-0')
end
return {n, kept_ts, more}
