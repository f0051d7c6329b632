-- index_entities: upsert the distributions, repositories or files a scanner found in a
-- layer, then append the new artifacts "id,scid".
--
-- KEYS[1]   layer set (the layer exists while it does)
-- KEYS[2]   layer artifact list of the kind
-- KEYS[3]   entity data of the kind
-- KEYS[4]   entity ids of the kind
-- KEYS[5]   entity refs of the kind
-- KEYS[6]   counters (also the scanner ID's epoch)
-- ARGV[1]   scanner ID
-- ARGV[2]   the epoch of the scanner ID
-- ARGV[3]   the kind's counter name (dist, repo, file)
-- ARGV[4..] one entity value per item
-- Returns   how many artifacts were new, or UNKNOWN_LAYER, STALE_SCANNERS
local layer, artifacts = KEYS[1], KEYS[2]
local entities, counters = dictionary(KEYS[3], KEYS[4], KEYS[5]), KEYS[6]
local scanner_id, epoch, counter, values = ARGV[1], ARGV[2], ARGV[3], rest(ARGV, 4)
if redis.call('EXISTS', layer) == 0 then return fail('UNKNOWN_LAYER', '') end
local err = check_epoch(counters, epoch)
if err then return err end
if #values < 1 then return 0 end
local seen = {}
for _, e in ipairs(redis.call('LRANGE', artifacts, 0, -1)) do seen[e] = true end
local new = {}
for _, value in ipairs(values) do
  local id = upsert(entities, counters, counter, value)
  local identity = id .. ',' .. scanner_id
  if not seen[identity] then
    seen[identity] = true
    new[#new + 1] = identity
    addref(entities.refs, id)
  end
end
if #new > 0 then chunked('RPUSH', artifacts, new) end
return #new
