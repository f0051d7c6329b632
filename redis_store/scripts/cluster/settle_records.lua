-- cluster/settle_records: a cluster step on slot {m:<digest>}. Clears the pending
-- reverse-index work once it is done, unless the records changed again.
--
-- KEYS[1]   manifest hash
-- ARGV[1]   the record list switched to
-- Returns   the number of marks cleared
local manifest = KEYS[1]
local switched_to = ARGV[1]
if redis.call('HGET', manifest, 'recs') == switched_to then
  return redis.call('HDEL', manifest, 'pending', 'dirty')
end
return 0
