-- import_plan: what an import must know before it writes: the scanners' IDs (registering
-- those not known yet), the IDs and stored values of the report's entities the store
-- holds, IDs reserved for the rest, and the manifest as it stands. Writes only the
-- registry (insert-if-absent) and the ID counters (reservations; an unused ID is a gap).
--
-- KEYS[1]   scanner registry
-- KEYS[2]   counters (the registry's epoch and the ID counters)
-- KEYS[3]   manifest hash
-- KEYS[4]   report
-- KEYS[5]   lock
-- KEYS[6]   package data
-- KEYS[7]   package ids
-- KEYS[8]   distribution data
-- KEYS[9]   distribution ids
-- KEYS[10]  repository data
-- KEYS[11]  repository ids
-- ARGV[1]   the importer's lock token, or '' (it holds none)
-- ARGV[2]   an epoch token, taken if the registry has none yet
-- ARGV[3]   how many scanner identities follow: n
-- ARGV[4..] the n scanner identities (JSON ["name", "version", "kind"]); then, for each
--           kind (pkg, dist, repo): how many IDs to reserve beyond those missing, and the
--           identity hashes to look up, 16 bytes each, end to end
-- Returns   import_lookup's answer (epoch, manifest counter, scanner IDs, per kind the
--           reserved IDs and what was found), then the manifest's plan (plan_of) and the
--           stored report or false; {} (nothing written) while another holds the lock
local holder = redis.call('GET', KEYS[5])
if holder and holder ~= ARGV[1] then return {} end
local dicts = {
  {name = 'pkg', data = KEYS[6], ids = KEYS[7]},
  {name = 'dist', data = KEYS[8], ids = KEYS[9]},
  {name = 'repo', data = KEYS[10], ids = KEYS[11]},
}
local out = import_lookup(KEYS[1], KEYS[2], dicts, ARGV, 3)
out[#out + 1] = plan_of(KEYS[3], KEYS[6])
out[#out + 1] = redis.call('GET', KEYS[4]) or false
return out
