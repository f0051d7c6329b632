-- KEYS: manifest hash, report. Returns the stored report (or nil) and records the read as
-- a use of the manifest (at most once a minute), which expiry policies rely on.
local blob = redis.call('GET', KEYS[2])
if blob then touch(KEYS[1]) end
return blob
