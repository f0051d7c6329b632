-- cluster/import_entities: a cluster step on slot {g}, the first write of an import. Gives
-- the report's entities the IDs the writer chose (claimable), takes a reference for every
-- use the import will make of them (those a layer or record already held go back after,
-- with cluster/release_entities), and hands out the manifest's ID.
--
-- KEYS[1]      counters (the registry's epoch, the manifest counter)
-- KEYS[2]      manifest table (ID -> digest)
-- KEYS[3..11]  package, distribution, repository dictionaries (data, ids, refs each)
-- ARGV[1]      the epoch of the scanner IDs
-- ARGV[2]      the manifest digest
-- ARGV[3..6]   packages: IDs (comma-separated), values and their lengths (packed), and one
--              character per package: '=' found stored, '+' new (see claimable)
-- ARGV[7..10]  distributions, as packages
-- ARGV[11..14] repositories, as packages
-- ARGV[15..17] per kind, the references to take: "ID:count" items, comma-separated
-- Returns      {'OK', manifest ID}, {'RETRY', 'entity'} (nothing written), or
--              STALE_SCANNERS
local counters, manifest_table = KEYS[1], KEYS[2]
local D = {pkg = dictionary(KEYS[3], KEYS[4], KEYS[5]),
           dist = dictionary(KEYS[6], KEYS[7], KEYS[8]),
           repo = dictionary(KEYS[9], KEYS[10], KEYS[11])}
local KIND = {'pkg', 'dist', 'repo'}
local err = check_epoch(counters, ARGV[1])
if err then return err end
local new_entities = {}
for t, kind in ipairs(KIND) do
  local at = 3 + (t - 1) * 4
  local ids, values = split(ARGV[at], ','), unpacked(ARGV[at + 1], ARGV[at + 2])
  local new = {}
  for i = 1, #ids do
    local fresh = claimable(D[kind], ids[i], values[i], string.sub(ARGV[at + 3], i, i))
    if fresh == nil then return {'RETRY', 'entity'} end
    if fresh then new[#new + 1] = {ids[i], values[i]} end
  end
  new_entities[kind] = new
end
for t, kind in ipairs(KIND) do
  for _, e in ipairs(new_entities[kind]) do
    redis.call('HSET', D[kind].ids, string.sub(e[2], 1, 16), e[1])
    redis.call('HSET', D[kind].data, e[1], e[2])
  end
  for item in string.gmatch(ARGV[14 + t], '[^,]+') do
    local id, count = string.match(item, '^(%d+):(%d+)$')
    addref(D[kind].refs, id, tonumber(count))
  end
end
local manifest_id = tostring(redis.call('HINCRBY', counters, 'manifest', 1))
redis.call('HSET', manifest_table, manifest_id, ARGV[2])
return {'OK', manifest_id}
