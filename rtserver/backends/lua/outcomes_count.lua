-- Interview outcomes (rtserver/outcomes/stores.py): count a period's interviews by outcome.
-- KEYS: a zset of ids (all, or one advisor's), the meta hash. ARGV: since, until (exclusive).
-- Counted where the data is: one reply of a few numbers, however many interviews the period holds
-- (about 1 µs per record: a year of 100 interviews a day is ~40 ms of Redis time).
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '(' .. ARGV[2])
local counts = {}
for _, id in ipairs(ids) do
  local meta = redis.call('HGET', KEYS[2], id)
  if meta then
    local outcome = string.match(meta, '^(%S+)')
    counts[outcome] = (counts[outcome] or 0) + 1
  end
end
local out = {}
for outcome, n in pairs(counts) do
  table.insert(out, outcome)
  table.insert(out, n)
end
return out
