-- lib: helpers shared by every script; redis_store.scripts puts this file in front of each
-- one, and maps a Lua error's line back to the file it is in.
-- Errors are returned as "REDIS_STORE <code> <detail>" so the client can raise its own
-- exception types; every script validates before its first write.

local CHUNK = 1000 -- stay far below Lua's C stack limit when unpacking
local KINDS = {'pkg', 'dist', 'repo', 'file'}

local function fail(code, detail)
  return redis.error_reply('REDIS_STORE ' .. code .. ' ' .. (detail or ''))
end

-- Run a variadic command over items in chunks; returns the concatenated results.
local function chunked(cmd, key, items)
  local out = {}
  for i = 1, #items, CHUNK do
    local last = math.min(i + CHUNK - 1, #items)
    local r = redis.call(cmd, key, unpack(items, i, last))
    if type(r) == 'table' then
      for _, v in ipairs(r) do out[#out + 1] = v end
    end
  end
  return out
end

-- list[first..] cut into groups of size items: {{list[first], ..., list[first+size-1]}, ...}.
local function groups(list, first, size)
  local out = {}
  for i = first, #list - size + 1, size do
    local group = {}
    for j = 1, size do group[j] = list[i + j - 1] end
    out[#out + 1] = group
  end
  return out
end

-- One entity dictionary: its data, ids and refs hashes.
local function dictionary(data, ids, refs)
  return {data = data, ids = ids, refs = refs}
end

-- The 12 dictionary keys from list[first] on (data, ids, refs of pkg, dist, repo, file),
-- by kind: D.pkg, D.dist, D.repo, D.file.
local function dictionaries(list, first)
  local out = {}
  for t, kind in ipairs(KINDS) do
    local at = first + (t - 1) * 3
    out[kind] = dictionary(list[at], list[at + 1], list[at + 2])
  end
  return out
end

-- The 6 keys of one layer (manifest set, scanned set, pkg, dist, repo, file artifact lists).
local function layer_keys(group)
  return {manifests = group[1], scanned = group[2], pkg = group[3], dist = group[4],
          repo = group[5], file = group[6]}
end

-- Insert an entity if its identity is new. value = 16-byte identity hash .. JSON fields.
local function upsert(dict, seq, counter, value)
  local identity = string.sub(value, 1, 16)
  local id = redis.call('HGET', dict.ids, identity)
  if id then return id end
  id = tostring(redis.call('HINCRBY', seq, counter, 1))
  redis.call('HSET', dict.ids, identity, id)
  redis.call('HSET', dict.data, id, value)
  return id
end

-- Whether an entity can take the ID an import chose for it: the ID it has, or, when its
-- identity is not stored, an ID no entity holds. An ID the writer reserved ('+') must name a
-- new entity; one it remembers ('=') may name an entity reclaimed since, which is created
-- again under its old ID (IDs are never handed out twice: it names nothing else). Returns
-- whether to create it; nil when the writer's view is stale (the store holds the identity
-- under another ID, or another entity under that ID): it plans again.
local function claimable(dict, id, value, how)
  local current = redis.call('HGET', dict.ids, string.sub(value, 1, 16))
  if current then
    if current == id and how == '=' then return false end
    return nil
  end
  if redis.call('HEXISTS', dict.data, id) == 1 then return nil end
  return true
end

-- Drop references (one unless count is given) to an entity; reclaim it when nothing uses it
-- any more.
local function unref(dict, id, count)
  if id == '0' or id == '' then return end
  local n = redis.call('HINCRBY', dict.refs, id, -(count or 1))
  if n <= 0 then
    redis.call('HDEL', dict.refs, id)
    local value = redis.call('HGET', dict.data, id)
    if value then
      redis.call('HDEL', dict.ids, string.sub(value, 1, 16))
      redis.call('HDEL', dict.data, id)
    end
  end
end

local function addref(refs, id, count)
  if id == '0' or id == '' then return end
  redis.call('HINCRBY', refs, id, count or 1)
end

-- Count references per ID before taking them, so a shared ID costs one HINCRBY.
local function tally(counts, id)
  if id ~= '0' and id ~= '' then counts[id] = (counts[id] or 0) + 1 end
end

local function split(s, sep)
  local out = {}
  if s == nil or s == false or s == '' then return out end
  for part in string.gmatch(s, '([^' .. sep .. ']+)') do out[#out + 1] = part end
  return out
end

-- Reverse-index record "pid:did:rid" -> its package, distribution and repository IDs.
local function record_ids(record)
  local p, d, r = string.match(record, '^(%d+):(%d+):(%d+)$')
  return p, d, r
end

-- Drop the references an index record held (its package, distribution, repository).
local function unref_record(D, record)
  local p, d, r = record_ids(record)
  unref(D.pkg, p); unref(D.dist, d); unref(D.repo, r)
end

-- Add a bucket number to a comma list; returns the new list and whether it changed.
local function list_add(list, item)
  if list == nil or list == false or list == '' then return item, true end
  for part in string.gmatch(list, '([^,]+)') do
    if part == item then return list, false end
  end
  return list .. ',' .. item, true
end

local function list_remove(list, item)
  local out = {}
  for part in string.gmatch(list or '', '([^,]+)') do
    if part ~= item then out[#out + 1] = part end
  end
  return table.concat(out, ',')
end

-- Take a manifest out of a record's bucket set; once the set is empty, take the bucket out of
-- the record's list, and once no bucket is left, drop the record and give back its references.
local function leave_record(D, name_hash, bucket_set, record, manifest_id, bucket)
  if redis.call('SREM', bucket_set, manifest_id) == 0 or redis.call('SCARD', bucket_set) > 0 then
    return
  end
  local list = list_remove(redis.call('HGET', name_hash, record), bucket)
  if list == '' then
    redis.call('HDEL', name_hash, record)
    unref_record(D, record)
  else
    redis.call('HSET', name_hash, record, list)
  end
end

-- A write of a manifest made under its lock carries the holder's token, and is refused once
-- the lock is not the writer's any more (expired, or taken by another indexer): a holder that
-- lost its lock never writes after another took it. '' is a write made without the lock.
local function check_fence(lock, token)
  if token ~= '' and redis.call('GET', lock) ~= token then return fail('LOCK_LOST', '') end
  return nil
end

-- A report write of an index run (a writer's "run" token and a sequence number growing
-- within it) that arrives after a later write of the same run, such as a delayed request a
-- client sent again after a timeout, is late: it is dropped, so it never replaces what the
-- run wrote after it.
local function is_late(manifest, run, sequence)
  if run == '' then return false end
  local v = redis.call('HMGET', manifest, 'run', 'seq')
  return v[1] == run and tonumber(v[2] or '0') > tonumber(sequence)
end

local function note_run(manifest, run, sequence)
  if run ~= '' then redis.call('HSET', manifest, 'run', run, 'seq', sequence) end
end

-- Scanner IDs hold only for the registry that handed them out: its epoch (a token in the
-- counters, set with the first scanner) is new once the server lost its data. A caller
-- without the counters in its keys (a cluster step: another slot) passes ''.
local function check_epoch(counters, epoch)
  if epoch ~= '' and redis.call('HGET', counters, 'epoch') ~= epoch then
    return fail('STALE_SCANNERS', '')
  end
  return nil
end

-- Server time in seconds: when a manifest was last indexed or read (for expiry).
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1])
end

-- Record a use of the manifest at most once a minute, so reads stay cheap.
local function touch(manifest)
  local t = now()
  local used = tonumber(redis.call('HGET', manifest, 'used') or '0')
  if t - used >= 60 then redis.call('HSET', manifest, 'used', t) end
end

-- The name in a stored package value (16-byte identity hash, then the JSON array
-- ["name", ...]): read directly when it has no escapes, else decoded.
local function package_name(value)
  local name = string.match(value, '^%["([^"\\]*)"', 17)
  if name then return name end
  return cjson.decode(string.sub(value, 17))[1]
end

-- A manifest's plan: {generation, ID, layers, records, one package name per record}, or {}
-- for an unknown manifest (what a write of its records or its deletion names its keys by).
local function plan_of(manifest, package_data)
  local v = redis.call('HMGET', manifest, 'gen', 'id', 'layers', 'recs')
  if not v[1] then return {} end
  local out = {v[1], v[2], v[3] or '', v[4] or ''}
  local package_ids = {}
  for i, record in ipairs(split(v[4], ',')) do package_ids[i] = string.match(record, '^(%d+):') end
  for _, value in ipairs(chunked('HMGET', package_data, package_ids)) do
    if value then out[#out + 1] = package_name(value) else out[#out + 1] = '' end
  end
  return out
end

-- What an import must learn in {g} before it writes (import_plan, cluster/import_plan): the
-- scanners' IDs, registering those not known yet (ARGV[first] counts them, their identities
-- follow), then per kind (pkg, dist, repo; dicts[t] = {name, data, ids}) how many IDs to
-- reserve beyond those missing and the identity hashes to look up, 16 bytes each, end to
-- end. Returns {epoch, manifest counter, {scanner IDs}, then per kind {first reserved ID,
-- how many reserved, {per hash: ID or false, value or false}}}.
local function import_lookup(registry, counters, dicts, argv, first)
  redis.call('HSETNX', counters, 'epoch', argv[first - 1])
  local out = {redis.call('HGET', counters, 'epoch'),
               redis.call('HGET', counters, 'manifest') or '0'}
  local n = tonumber(argv[first])
  local scanner_ids = {}
  for i = first + 1, first + n do
    local id = redis.call('HGET', registry, argv[i])
    if not id then
      id = tostring(redis.call('HINCRBY', counters, 'scanner', 1))
      redis.call('HSET', registry, argv[i], id)
    end
    scanner_ids[#scanner_ids + 1] = id
  end
  out[#out + 1] = scanner_ids
  local at = first + 1 + n
  for _, dict in ipairs(dicts) do
    local extra, packed = tonumber(argv[at]), argv[at + 1]
    at = at + 2
    local hashes = {}
    for i = 1, #packed / 16 do hashes[i] = string.sub(packed, i * 16 - 15, i * 16) end
    local ids = chunked('HMGET', dict.ids, hashes)
    local known = {}
    for i = 1, #hashes do
      if ids[i] then known[#known + 1] = ids[i] end
    end
    local values = chunked('HMGET', dict.data, known)
    local found, missing, k = {}, 0, 0
    for i = 1, #hashes do
      if ids[i] then
        k = k + 1
        found[#found + 1] = ids[i]
        found[#found + 1] = values[k]
      else
        missing = missing + 1
        found[#found + 1] = false
        found[#found + 1] = false
      end
    end
    local reserve, start = missing + extra, 0
    if reserve > 0 then
      start = redis.call('HINCRBY', counters, dict.name, reserve) - reserve + 1
    end
    out[#out + 1] = {start, reserve, found}
  end
  return out
end

-- Validate an index record "pid:did:rid" of a package named name: nil, or the error reply.
local function check_record(D, record, name)
  local p, d, r = record_ids(record)
  local value = redis.call('HGET', D.pkg.data, p)
  if not value then return fail('UNKNOWN_ID', 'package ' .. p) end
  if package_name(value) ~= name then
    return fail('NAME_MISMATCH', 'package ' .. p)
  end
  if d ~= '0' and redis.call('HEXISTS', D.dist.data, d) == 0 then
    return fail('UNKNOWN_ID', 'distribution ' .. d)
  end
  if r ~= '0' and redis.call('HEXISTS', D.repo.data, r) == 0 then
    return fail('UNKNOWN_ID', 'repository ' .. r)
  end
  return nil
end

-- Append the layer digests in digests a manifest hash does not list yet to its 'layers';
-- returns whether the list changed.
local function add_layers(manifest, digests)
  local layers = redis.call('HGET', manifest, 'layers') or ''
  local have = {}
  for _, d in ipairs(split(layers, ',')) do have[d] = true end
  local changed = false
  for _, d in ipairs(digests) do
    if not have[d] then
      have[d] = true
      if layers == '' then layers = d else layers = layers .. ',' .. d end
      changed = true
    end
  end
  if changed then redis.call('HSET', manifest, 'layers', layers) end
  return changed
end

-- The entity IDs a layer's artifacts reference, once per reference, by kind (a package
-- artifact "pid,scid,src,..." references its package and its source).
local function artifact_ids(L)
  local out = {pkg = {}, dist = {}, repo = {}, file = {}}
  for _, e in ipairs(redis.call('LRANGE', L.pkg, 0, -1)) do
    local p, _, src = string.match(e, '^(%d+),(%d+),(%d+)')
    out.pkg[#out.pkg + 1] = p
    out.pkg[#out.pkg + 1] = src
  end
  for t = 2, 4 do
    local kind = KINDS[t]
    for _, e in ipairs(redis.call('LRANGE', L[kind], 0, -1)) do
      out[kind][#out[kind] + 1] = string.match(e, '^(%d+)')
    end
  end
  return out
end

-- Reclaim a layer no manifest uses: give back what its artifacts referenced, delete its keys.
local function drop_layer(L, D)
  local ids = artifact_ids(L)
  for _, kind in ipairs(KINDS) do
    for _, id in ipairs(ids[kind]) do unref(D[kind], id) end
  end
  redis.call('DEL', L.manifests, L.scanned, L.pkg, L.dist, L.repo, L.file)
end

-- list[first..last] as a new list (copied item by item: unpack has a stack limit).
local function slice(list, first, last)
  local out = {}
  for i = first, last do out[#out + 1] = list[i] end
  return out
end

-- Items packed into two arguments: their bytes end to end, and their lengths, comma-separated
-- (a client packs thousands of items faster as two arguments than as thousands).
local function unpacked(blob, lengths)
  local out, at = {}, 1
  for n in string.gmatch(lengths, '%d+') do
    local last = at + tonumber(n) - 1
    out[#out + 1] = string.sub(blob, at, last)
    at = last + 1
  end
  return out
end

-- Every item from position first on (a variadic tail of KEYS or ARGV).
local function rest(list, first)
  return slice(list, first, #list)
end
