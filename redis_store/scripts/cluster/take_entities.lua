-- cluster/take_entities: a cluster step on slot {g}. Inserts entities whose identity is new
-- and takes one reference per value, before anything uses them. References a later step
-- does not use go back with cluster/release_entities, so a count is never below the uses.
--
-- KEYS[1]   entity data
-- KEYS[2]   entity ids
-- KEYS[3]   entity refs
-- KEYS[4]   counters
-- ARGV[1]   the kind's counter name (pkg, dist, repo, file)
-- ARGV[2..] entity values
-- Returns   their IDs, in order
local entities, counters = dictionary(KEYS[1], KEYS[2], KEYS[3]), KEYS[4]
local counter, values = ARGV[1], rest(ARGV, 2)
local out = {}
for _, value in ipairs(values) do
  local id = upsert(entities, counters, counter, value)
  addref(entities.refs, id)
  out[#out + 1] = id
end
return out
