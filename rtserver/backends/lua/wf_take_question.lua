-- The workflow: take the start of a jobseeker's unanswered wait, once. KEYS: questions. ARGV: jobseeker.
local since = redis.call('HGET', KEYS[1], ARGV[1])
if since then redis.call('HDEL', KEYS[1], ARGV[1]) end
return since
