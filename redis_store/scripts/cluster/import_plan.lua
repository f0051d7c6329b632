-- cluster/import_plan: a cluster step on slot {g}. What an import must know before it writes
-- (import_lookup): the scanners' IDs (registering those not known yet), the IDs and stored
-- values of the report's entities the store holds, and IDs reserved for the rest.
--
-- KEYS[1]   scanner registry
-- KEYS[2]   counters (the registry's epoch and the ID counters)
-- KEYS[3]   package data
-- KEYS[4]   package ids
-- KEYS[5]   distribution data
-- KEYS[6]   distribution ids
-- KEYS[7]   repository data
-- KEYS[8]   repository ids
-- ARGV[1]   an epoch token, taken if the registry has none yet
-- ARGV[2]   how many scanner identities follow: n
-- ARGV[3..] the n scanner identities; then, for each kind (pkg, dist, repo): how many IDs to
--           reserve beyond those missing, and the identity hashes to look up, end to end
-- Returns   import_lookup's answer
local dicts = {
  {name = 'pkg', data = KEYS[3], ids = KEYS[4]},
  {name = 'dist', data = KEYS[5], ids = KEYS[6]},
  {name = 'repo', data = KEYS[7], ids = KEYS[8]},
}
return import_lookup(KEYS[1], KEYS[2], dicts, ARGV, 2)
