-- lock: a manifest's index lock, a string holding its owner's token with an expiry; only
-- the owner renews or releases it.
--
-- KEYS[1]   lock
-- ARGV[1]   'acquire', 'renew' or 'release'
-- ARGV[2]   the owner's token
-- ARGV[3]   expiry in ms (acquire, renew)
-- Returns   1 when it succeeded, else 0
local lock = KEYS[1]
local op, token, ttl_ms = ARGV[1], ARGV[2], ARGV[3]
if op == 'acquire' then
  if redis.call('SET', lock, token, 'NX', 'PX', ttl_ms) then return 1 end
  -- Already ours: an acquire re-sent after a lost reply (failover retry) must not wait for
  -- its own lock. Refresh the expiry as a new acquire would.
  if redis.call('GET', lock) == token then
    redis.call('PEXPIRE', lock, ttl_ms)
    return 1
  end
  return 0
end
if redis.call('GET', lock) ~= token then return 0 end
if op == 'renew' then return redis.call('PEXPIRE', lock, ttl_ms) end
return redis.call('DEL', lock)
