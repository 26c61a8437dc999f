-- The pre-call check (rtserver/precall/stores.py): keep the latest results of a user.
-- KEYS: the user's list. ARGV: the result (JSON), how many to keep. One script: atomic on a cluster too.
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
