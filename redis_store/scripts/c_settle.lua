-- Cluster step, slot {m:<digest>}. KEYS: manifest hash. ARGV: the record list switched to.
-- Clears the pending reverse-index work once it is done, unless the records changed again.
if redis.call('HGET', KEYS[1], 'recs') == ARGV[1] then
  return redis.call('HDEL', KEYS[1], 'pending', 'dirty')
end
return 0
