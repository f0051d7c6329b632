-- cluster/check_records: a cluster step on slot {g}. Validates every record to add (its
-- IDs exist, the package has that name), then takes one reference per ID of each, before
-- the records enter the reverse index; cluster/release_entities gives back those a record
-- already held.
--
-- KEYS[1]   package data
-- KEYS[2]   package refs
-- KEYS[3]   distribution data
-- KEYS[4]   distribution refs
-- KEYS[5]   repository data
-- KEYS[6]   repository refs
-- ARGV[1]   n, the number of records to add
-- ARGV[2..] n pairs (record "pid:did:rid", package name), then package IDs whose names the
--           caller needs
-- Returns   the names of the trailing package IDs (false for an unknown ID), or an error
local D = {pkg = {data = KEYS[1], refs = KEYS[2]}, dist = {data = KEYS[3], refs = KEYS[4]},
           repo = {data = KEYS[5], refs = KEYS[6]}}
local n = tonumber(ARGV[1])
local additions = groups(slice(ARGV, 2, 1 + 2 * n), 1, 2)
local package_ids = rest(ARGV, 2 + 2 * n)
for _, addition in ipairs(additions) do
  local err = check_record(D, addition[1], addition[2])
  if err then return err end
end
local counts = {pkg = {}, dist = {}, repo = {}}
for _, addition in ipairs(additions) do
  local p, d, r = record_ids(addition[1])
  tally(counts.pkg, p); tally(counts.dist, d); tally(counts.repo, r)
end
for _, kind in ipairs({'pkg', 'dist', 'repo'}) do
  for id, c in pairs(counts[kind]) do addref(D[kind].refs, id, c) end
end
local names = {}
for _, id in ipairs(package_ids) do
  local value = redis.call('HGET', D.pkg.data, id)
  if value then names[#names + 1] = package_name(value) else names[#names + 1] = false end
end
return names
