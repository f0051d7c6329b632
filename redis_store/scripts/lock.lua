-- KEYS: lock. ARGV: op ('acquire', 'renew', 'release'), token, ttl in ms.
-- A lock is a string holding its owner's token with an expiry; only the owner renews or
-- releases it.
local op, token = ARGV[1], ARGV[2]
if op == 'acquire' then
  if redis.call('SET', KEYS[1], token, 'NX', 'PX', ARGV[3]) then return 1 end
  -- Already ours: an acquire re-sent after a lost reply (failover retry) must not wait for
  -- its own lock. Refresh the expiry as a new acquire would.
  if redis.call('GET', KEYS[1]) == token then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return 1
  end
  return 0
end
if redis.call('GET', KEYS[1]) ~= token then return 0 end
if op == 'renew' then return redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return redis.call('DEL', KEYS[1])
