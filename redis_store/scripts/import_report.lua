-- import_report: write a finished report whole, in one step: its entities with the IDs the
-- writer chose (import_plan), the manifest and its layers, each layer's artifacts and scanner
-- markers, the index records and their reverse index, the manifest's scanner markers and the
-- report. What claircore's controller would leave behind, without its steps in between.
-- Everything is checked before the first write. Lists of items that may hold any bytes come
-- packed (see unpacked): their bytes end to end, and their lengths.
--
-- KEYS[1]      counters (the registry's epoch, the manifest counter)
-- KEYS[2]      manifest table
-- KEYS[3]      manifest hash
-- KEYS[4]      manifest scanned set
-- KEYS[5]      report
-- KEYS[6]      lock
-- KEYS[7..15]  package, distribution, repository dictionaries (data, ids, refs each)
-- KEYS[16..]   per layer, 5 keys (its manifest set, scanned set, package, distribution and
--              repository artifact lists); then per changed record, 2 keys (its name hash,
--              its bucket set)
-- ARGV[1]      what the writer planned with: '' for a manifest that does not exist, else
--              its generation
-- ARGV[2]      the manifest's bucket (for a new manifest: the bucket the next manifest ID
--              falls in, as the writer expects it)
-- ARGV[3]      the manifest's new generation (a random token)
-- ARGV[4]      the writer's lock token, or '' (then nobody may hold the lock)
-- ARGV[5]      the epoch of the scanner IDs
-- ARGV[6]      the encoded report
-- ARGV[7]      the manifest digest
-- ARGV[8]      the layer digests, comma-separated, in order
-- ARGV[9]      the manifest's record list (sorted, comma-separated)
-- ARGV[10]     '1' when no report may be stored yet (the writer saw none), else '0'
-- ARGV[11]     every scanner's ID, comma-separated (marked on the manifest and each layer)
-- ARGV[12..15] packages: IDs (comma-separated), values and their lengths (packed), and one
--              character per package: '=' found stored (or remembered), '+' given a reserved
--              ID (see claimable)
-- ARGV[16..19] distributions, as packages
-- ARGV[20..23] repositories, as packages
-- ARGV[24..25] every layer's artifacts (packed): per layer its package, distribution and
--              repository artifacts, in append order
-- ARGV[26]     how many artifacts of each kind each layer has (3 counts per layer)
-- ARGV[27]     the changed records "pid:did:rid", comma-separated (their keys name their
--              package names)
-- ARGV[28]     one character per changed record: '+' added, '-' removed
-- ARGV[29]     '1' to release the lock (the writer took it for the import), else '0'
-- Returns      {'OK', manifest ID}, {'RETRY', why, the manifest counter}, {'LOCKED'} (another
--              holds the lock), or an error reply (LOCK_LOST, STALE_SCANNERS)
local counters, manifest_table, manifest, scanned, report, lock =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local D = {pkg = dictionary(KEYS[7], KEYS[8], KEYS[9]),
           dist = dictionary(KEYS[10], KEYS[11], KEYS[12]),
           repo = dictionary(KEYS[13], KEYS[14], KEYS[15])}
local KIND = {'pkg', 'dist', 'repo'}
local planned, bucket, generation, token, epoch = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local blob, digest, layer_list, record_list = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local expect_no_report = ARGV[10] == '1'
local scanner_ids = split(ARGV[11], ',')

local function retry(why)
  return {'RETRY', why, redis.call('HGET', counters, 'manifest') or '0'}
end

-- Checks, before anything is written.
local err = check_epoch(counters, epoch)
if err then return err end
if token == '' then
  if redis.call('EXISTS', lock) == 1 then return {'LOCKED'} end
else
  err = check_fence(lock, token)
  if err then return err end
end
local manifest_id = redis.call('HGET', manifest, 'id')
if planned == '' then
  if manifest_id then return retry('manifest') end
  local next_id = tonumber(redis.call('HGET', counters, 'manifest') or '0') + 1
  if tostring(math.floor(next_id / 512)) ~= bucket then return retry('bucket') end
elseif redis.call('HGET', manifest, 'gen') ~= planned then
  return retry('manifest')
end
if expect_no_report and redis.call('EXISTS', report) == 1 then return retry('report') end
local new_entities = {}
for t, kind in ipairs(KIND) do
  local at = 12 + (t - 1) * 4
  local ids, values = split(ARGV[at], ','), unpacked(ARGV[at + 1], ARGV[at + 2])
  local how = ARGV[at + 3]
  local identities = {}
  for i = 1, #values do identities[i] = string.sub(values[i], 1, 16) end
  local current = chunked('HMGET', D[kind].ids, identities)
  local new = {ids = {}, pairs = {}, data = {}, set = {}}
  for i = 1, #ids do
    if current[i] then  -- stored: under the ID the writer found it by, or it is stale
      if current[i] ~= ids[i] or string.sub(how, i, i) ~= '=' then return retry('entity') end
    else  -- new, or reclaimed since the writer saw it: created under the writer's ID
      new.ids[#new.ids + 1] = ids[i]
      new.set[ids[i]] = true
      new.pairs[#new.pairs + 1] = identities[i]
      new.pairs[#new.pairs + 1] = ids[i]
      new.data[#new.data + 1] = ids[i]
      new.data[#new.data + 1] = values[i]
    end
  end
  -- an ID that names another entity: the writer's view is stale
  for _, taken in ipairs(chunked('HMGET', D[kind].data, new.ids)) do
    if taken then return retry('entity') end
  end
  new_entities[kind] = new
end

-- Writes.
for _, kind in ipairs(KIND) do
  local new = new_entities[kind]
  chunked('HSET', D[kind].ids, new.pairs)
  chunked('HSET', D[kind].data, new.data)
end
local digests = split(layer_list, ',')
if not manifest_id then
  manifest_id = tostring(redis.call('HINCRBY', counters, 'manifest', 1))
  redis.call('HSET', manifest_table, manifest_id, digest)
  redis.call('HSET', manifest, 'id', manifest_id, 'layers', layer_list)
else
  add_layers(manifest, digests)
end
local artifacts = unpacked(ARGV[24], ARGV[25])
local counts = split(ARGV[26], ',')
local refs = {pkg = {}, dist = {}, repo = {}}
local next_artifact = 1
for l = 1, #digests do
  local base = 16 + (l - 1) * 5
  local L = {manifests = KEYS[base], scanned = KEYS[base + 1], pkg = KEYS[base + 2],
             dist = KEYS[base + 3], repo = KEYS[base + 4]}
  redis.call('SADD', L.manifests, manifest_id)
  chunked('SADD', L.scanned, scanner_ids)
  for t, kind in ipairs(KIND) do
    local count = tonumber(counts[(l - 1) * 3 + t])
    if count > 0 then
      local seen = {}
      for _, e in ipairs(redis.call('LRANGE', L[kind], 0, -1)) do
        seen[string.match(e, '^[^\n]*')] = true
      end
      local new = {}
      for i = next_artifact, next_artifact + count - 1 do
        local artifact = artifacts[i]
        local identity = string.match(artifact, '^[^\n]*')
        if not seen[identity] then
          seen[identity] = true
          new[#new + 1] = artifact
          if kind == 'pkg' then
            local p, _, src = string.match(identity, '^(%d+),(%d+),(%d+)')
            tally(refs.pkg, p); tally(refs.pkg, src)
          else
            tally(refs[kind], string.match(identity, '^(%d+)'))
          end
        end
      end
      if #new > 0 then chunked('RPUSH', L[kind], new) end
      next_artifact = next_artifact + count
    end
  end
end
local changed = split(ARGV[27], ',')
local ops = ARGV[28]
local record_keys = 16 + #digests * 5
for i, record in ipairs(changed) do
  if string.sub(ops, i, i) == '+' then
    local name_hash, bucket_set = KEYS[record_keys + 2 * i - 2], KEYS[record_keys + 2 * i - 1]
    redis.call('SADD', bucket_set, manifest_id)
    if redis.call('HSETNX', name_hash, record, bucket) == 1 then
      local p, d, r = record_ids(record)
      tally(refs.pkg, p); tally(refs.dist, d); tally(refs.repo, r)
    else
      local list, grew = list_add(redis.call('HGET', name_hash, record), bucket)
      if grew then redis.call('HSET', name_hash, record, list) end
    end
  end
end
-- references taken before the old records give theirs back, so that nothing the new
-- records use is reclaimed in between; a new entity's count is set, not added to
for _, kind in ipairs(KIND) do
  local is_new, counts = new_entities[kind].set, {}
  for id, count in pairs(refs[kind]) do
    if is_new[id] then
      counts[#counts + 1] = id
      counts[#counts + 1] = count
    else
      addref(D[kind].refs, id, count)
    end
  end
  chunked('HSET', D[kind].refs, counts)
end
for i, record in ipairs(changed) do
  if string.sub(ops, i, i) == '-' then
    local name_hash, bucket_set = KEYS[record_keys + 2 * i - 2], KEYS[record_keys + 2 * i - 1]
    leave_record(D, name_hash, bucket_set, record, manifest_id, bucket)
  end
end
chunked('SADD', scanned, scanner_ids)
redis.call('HSET', manifest, 'recs', record_list, 'gen', generation)
redis.call('SET', report, blob)
touch(manifest)
if ARGV[29] == '1' then redis.call('DEL', lock) end
return {'OK', manifest_id}
