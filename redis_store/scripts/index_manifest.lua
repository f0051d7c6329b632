-- index_manifest: replace a manifest's index records with a new list, in one step:
-- validate every new record's IDs first, then add and remove reverse-index entries.
--
-- KEYS[1]     manifest hash
-- KEYS[2]     lock
-- KEYS[3..14] the 12 dictionary keys (data, ids, refs of pkg, dist, repo, file)
-- KEYS[15..]  per changed record, 2 keys: its name hash, its bucket set
-- ARGV[1]     the generation the caller planned with
-- ARGV[2]     the new record list
-- ARGV[3]     the manifest's bucket number
-- ARGV[4]     the manifest's new generation (a random token)
-- ARGV[5]     the writer's lock token, or '' (written without the lock)
-- ARGV[6..]   per changed record, 3 values: record "pid:did:rid", package name, '+' or '-'
-- Returns     OK, RETRY (the manifest changed since it was planned), or an error reply
local manifest, lock, D = KEYS[1], KEYS[2], dictionaries(KEYS, 3)
local changed_keys = groups(KEYS, 15, 2)
local planned_generation, record_list, bucket, new_generation = ARGV[1], ARGV[2], ARGV[3],
  ARGV[4]
local token = ARGV[5]
local changes = groups(ARGV, 6, 3)
local generation = redis.call('HGET', manifest, 'gen')
if not generation then return fail('UNKNOWN_MANIFEST', '') end
local err = check_fence(lock, token)
if err then return err end
if generation ~= planned_generation then return 'RETRY' end
local manifest_id = redis.call('HGET', manifest, 'id')
for _, change in ipairs(changes) do
  local record, name, op = change[1], change[2], change[3]
  if op == '+' then
    local invalid = check_record(D, record, name)
    if invalid then return invalid end
  end
end
for i, change in ipairs(changes) do
  local record, op = change[1], change[3]
  local name_hash, bucket_set = changed_keys[i][1], changed_keys[i][2]
  local p, d, r = record_ids(record)
  local buckets = redis.call('HGET', name_hash, record)
  if op == '+' then
    redis.call('SADD', bucket_set, manifest_id)
    if not buckets then addref(D.pkg.refs, p); addref(D.dist.refs, d); addref(D.repo.refs, r) end
    local list, grew = list_add(buckets, bucket)
    if grew then redis.call('HSET', name_hash, record, list) end
  else
    leave_record(D, name_hash, bucket_set, record, manifest_id, bucket)
  end
end
redis.call('HSET', manifest, 'recs', record_list, 'gen', new_generation)
return 'OK'
