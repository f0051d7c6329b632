-- KEYS: layer set, layer package list, package data, ids, refs, seq.
-- ARGV: scanner ID, then 4 values per package: source value, package value,
--       artifact tail (JSON [package_db, repository_hint]), filepath.
-- Upserts packages and sources, then appends new artifacts "pid,scid,src,tail\nfilepath"
-- (identity = the part before the newline, so filepath is first-writer-wins).
if redis.call('EXISTS', KEYS[1]) == 0 then return fail('UNKNOWN_LAYER', '') end
local scid = ARGV[1]
local data, idk, refs, seq = KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local n = (#ARGV - 1) / 4
if n < 1 then return 0 end
local seen = {}
for _, e in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  seen[string.match(e, '^[^\n]*')] = true
end
local new = {}
for i = 0, n - 1 do
  local b = 2 + i * 4
  local src = upsert(idk, data, seq, 'pkg', ARGV[b])
  local pid = upsert(idk, data, seq, 'pkg', ARGV[b + 1])
  local ident = pid .. ',' .. scid .. ',' .. src .. ',' .. ARGV[b + 2]
  if not seen[ident] then
    seen[ident] = true
    new[#new + 1] = ident .. '\n' .. ARGV[b + 3]
    addref(refs, pid)
    addref(refs, src)
  end
end
if #new > 0 then chunked('RPUSH', KEYS[2], new) end
return #new
