-- record_use: record a read of a manifest's report as a use (at most once a minute), which
-- expire relies on; a manifest deleted meanwhile is left alone.
--
-- KEYS[1]   manifest hash
-- Returns   1 if the manifest exists, else 0
local manifest = KEYS[1]
if redis.call('EXISTS', manifest) == 0 then return 0 end
touch(manifest)
return 1
