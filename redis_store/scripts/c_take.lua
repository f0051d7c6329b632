-- Cluster step, slot {g}. KEYS: entity data, ids, refs, seq. ARGV: counter name, then entity
-- values. Inserts entities whose identity is new and takes one reference per value, before
-- anything uses them; returns their IDs in order. References a later step does not use are
-- given back with c_release, so a count is never below the uses.
local data, idk, refs, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local out = {}
for i = 2, #ARGV do
  local id = upsert(idk, data, seq, ARGV[1], ARGV[i])
  addref(refs, id)
  out[#out + 1] = id
end
return out
