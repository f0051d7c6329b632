-- delete_manifest: delete one manifest with its report, scanned set and index records,
-- every layer no other manifest uses, and the entities nothing references any more.
--
-- KEYS[1]      manifest hash
-- KEYS[2]      manifest scanned set
-- KEYS[3]      report
-- KEYS[4]      lock
-- KEYS[5]      manifest table
-- KEYS[6..17]  the 12 dictionary keys (data, ids, refs of pkg, dist, repo, file)
-- KEYS[18..]   per layer, 6 keys: manifest set, scanned set, pkg, dist, repo, file lists;
--              then per index record, 2 keys: its name hash, its bucket set
-- ARGV[1]      the generation the caller planned with
-- ARGV[2]      the caller's lock token, or ''
-- ARGV[3]      number of layers
-- ARGV[4]      the manifest's bucket number
-- ARGV[5..]    the manifest's index records, aligned with their keys
-- Returns      DELETED, GONE, LOCKED or RETRY
local manifest, scanned, report, lock, manifest_table = KEYS[1], KEYS[2], KEYS[3], KEYS[4],
  KEYS[5]
local D = dictionaries(KEYS, 6)
local planned_generation, token, layer_count, bucket = ARGV[1], ARGV[2], tonumber(ARGV[3]),
  ARGV[4]
local records = rest(ARGV, 5)
local layers = groups(KEYS, 18, 6)
local record_keys = groups(KEYS, 18 + layer_count * 6, 2)
local generation = redis.call('HGET', manifest, 'gen')
if not generation then return 'GONE' end
if generation ~= planned_generation then return 'RETRY' end
local holder = redis.call('GET', lock)
if holder and holder ~= token then return 'LOCKED' end
local manifest_id = redis.call('HGET', manifest, 'id')
for i, record in ipairs(records) do
  leave_record(D, record_keys[i][1], record_keys[i][2], record, manifest_id, bucket)
end
for i = 1, layer_count do
  local L = layer_keys(layers[i])
  redis.call('SREM', L.manifests, manifest_id)
  if redis.call('SCARD', L.manifests) == 0 then drop_layer(L, D) end
end
redis.call('DEL', manifest, scanned, report)
redis.call('HDEL', manifest_table, manifest_id)
return 'DELETED'
