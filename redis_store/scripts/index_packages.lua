-- index_packages: upsert the packages a scanner found in a layer (and their sources), then
-- append the new artifacts "pid,scid,src,tail\nfilepath" (identity is the part before the
-- newline, so a filepath is first-writer-wins).
--
-- KEYS[1]   layer set (the layer exists while it does)
-- KEYS[2]   layer package artifact list
-- KEYS[3]   package data
-- KEYS[4]   package ids
-- KEYS[5]   package refs
-- KEYS[6]   counters (also the scanner ID's epoch)
-- ARGV[1]   scanner ID
-- ARGV[2]   the epoch of the scanner ID
-- ARGV[3..] per package, 4 values: source value, package value, artifact tail (JSON
--           [package_db, repository_hint]), filepath
-- Returns   how many artifacts were new, or UNKNOWN_LAYER, STALE_SCANNERS
local layer, artifacts = KEYS[1], KEYS[2]
local packages, counters = dictionary(KEYS[3], KEYS[4], KEYS[5]), KEYS[6]
local scanner_id, epoch = ARGV[1], ARGV[2]
if redis.call('EXISTS', layer) == 0 then return fail('UNKNOWN_LAYER', '') end
local err = check_epoch(counters, epoch)
if err then return err end
local found = groups(ARGV, 3, 4)
if #found < 1 then return 0 end
local seen = {}
for _, e in ipairs(redis.call('LRANGE', artifacts, 0, -1)) do
  seen[string.match(e, '^[^\n]*')] = true
end
local new = {}
for _, item in ipairs(found) do
  local source_value, package_value, tail, filepath = item[1], item[2], item[3], item[4]
  local source_id = upsert(packages, counters, 'pkg', source_value)
  local package_id = upsert(packages, counters, 'pkg', package_value)
  local identity = package_id .. ',' .. scanner_id .. ',' .. source_id .. ',' .. tail
  if not seen[identity] then
    seen[identity] = true
    new[#new + 1] = identity .. '\n' .. filepath
    addref(packages.refs, package_id)
    addref(packages.refs, source_id)
  end
end
if #new > 0 then chunked('RPUSH', artifacts, new) end
return #new
