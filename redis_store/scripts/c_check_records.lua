-- Cluster step, slot {g}. KEYS: package data, package refs, distribution data, refs,
-- repository data, refs.
-- ARGV: number of records to add, then (record "pid:did:rid", package name) per record to
-- add, then package IDs whose names the caller needs.
-- Validates every record to add (its IDs exist, the package has that name), then takes one
-- reference per ID of each, before the records enter the reverse index; c_release gives back
-- those a record already held. Returns the names of the trailing package IDs (nil if none).
local PD, PR, DD, DR, RD, RR = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local err = check_record(PD, DD, RD, ARGV[2 + i * 2], ARGV[3 + i * 2])
  if err then return err end
end
local counts = {{}, {}, {}}
for i = 0, n - 1 do
  local p, d, r = record_ids(ARGV[2 + i * 2])
  tally(counts[1], p); tally(counts[2], d); tally(counts[3], r)
end
for t, refs in ipairs({PR, DR, RR}) do
  for id, c in pairs(counts[t]) do addref(refs, id, c) end
end
local names = {}
for i = 2 + n * 2, #ARGV do
  local v = redis.call('HGET', PD, ARGV[i])
  if v then names[#names + 1] = package_name(v) else names[#names + 1] = false end
end
return names
