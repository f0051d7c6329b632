-- index_report: the stored report, recording the read as a use of the manifest (at most
-- once a minute), which expiry relies on.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   report
-- Returns   the encoded report, or nil
local manifest, report = KEYS[1], KEYS[2]
local blob = redis.call('GET', report)
if blob then touch(manifest) end
return blob
