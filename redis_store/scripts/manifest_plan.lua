-- manifest_plan: what a later write of the manifest needs to name its keys. Read only.
--
-- KEYS[1]   manifest hash
-- KEYS[2]   package data
-- Returns   {generation, ID, layers, records, one package name per record}, or {} for an
--           unknown manifest
return plan_of(KEYS[1], KEYS[2])
