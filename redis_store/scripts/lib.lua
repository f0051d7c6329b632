-- Shared helpers, prepended to every script by redis_store.scripts.
-- Errors are returned as "REDIS_STORE <code> <detail>" so the client can map them to
-- its exception types; every script validates before its first write.

local CHUNK = 1000 -- stay far below Lua's C stack limit when unpacking

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

-- Insert an entity if its identity is new. value = 16-byte identity hash .. JSON fields.
local function upsert(ids, data, seq, counter, value)
  local hkey = string.sub(value, 1, 16)
  local id = redis.call('HGET', ids, hkey)
  if id then return id end
  id = tostring(redis.call('HINCRBY', seq, counter, 1))
  redis.call('HSET', ids, hkey, id)
  redis.call('HSET', data, id, value)
  return id
end

-- Drop references (one unless count is given) to an entity; reclaim it when nothing uses it
-- any more.
local function unref(data, ids, refs, id, count)
  if id == '0' or id == '' then return end
  local n = redis.call('HINCRBY', refs, id, -(count or 1))
  if n <= 0 then
    redis.call('HDEL', refs, id)
    local v = redis.call('HGET', data, id)
    if v then
      redis.call('HDEL', ids, string.sub(v, 1, 16))
      redis.call('HDEL', data, id)
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

-- Reverse-index record "pid:did:rid" -> its three IDs.
local function record_ids(rec)
  local p, d, r = string.match(rec, '^(%d+):(%d+):(%d+)$')
  return p, d, r
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

-- Server time in seconds: when a manifest was last indexed or read (for expiry).
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1])
end

-- Record a use of the manifest at most once a minute, so reads stay cheap.
local function touch(m)
  local t = now()
  local used = tonumber(redis.call('HGET', m, 'used') or '0')
  if t - used >= 60 then redis.call('HSET', m, 'used', t) end
end

-- The name in a stored package value (16-byte identity hash, then the JSON array
-- ["name", ...]): read directly when it has no escapes, else decoded.
local function package_name(v)
  local name = string.match(v, '^%["([^"\\]*)"', 17)
  if name then return name end
  return cjson.decode(string.sub(v, 17))[1]
end

-- Validate an index record "pid:did:rid" of a package named name: nil, or the error reply.
local function check_record(PD, DD, RD, rec, name)
  local p, d, r = record_ids(rec)
  local v = redis.call('HGET', PD, p)
  if not v then return fail('UNKNOWN_ID', 'package ' .. p) end
  if package_name(v) ~= name then
    return fail('NAME_MISMATCH', 'package ' .. p)
  end
  if d ~= '0' and redis.call('HEXISTS', DD, d) == 0 then
    return fail('UNKNOWN_ID', 'distribution ' .. d)
  end
  if r ~= '0' and redis.call('HEXISTS', RD, r) == 0 then
    return fail('UNKNOWN_ID', 'repository ' .. r)
  end
  return nil
end

-- Append the layer digests ARGV[first..] a manifest hash does not list yet to its 'layers';
-- returns whether the list changed.
local function add_layers(m, first)
  local layers = redis.call('HGET', m, 'layers') or ''
  local have = {}
  for _, d in ipairs(split(layers, ',')) do have[d] = true end
  local changed = false
  for i = first, #ARGV do
    if not have[ARGV[i]] then
      have[ARGV[i]] = true
      if layers == '' then layers = ARGV[i] else layers = layers .. ',' .. ARGV[i] end
      changed = true
    end
  end
  if changed then redis.call('HSET', m, 'layers', layers) end
  return changed
end
