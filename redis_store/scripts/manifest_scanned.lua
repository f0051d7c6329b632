-- KEYS: scanners registry, manifest scanned set. ARGV: scanner identities. Read only.
local ids, bad = scanner_ids(KEYS[1], ARGV, 1, #ARGV)
if not ids then return fail('UNKNOWN_SCANNER', bad) end
for _, present in ipairs(chunked('SMISMEMBER', KEYS[2], ids)) do
  if present == 0 then return 0 end
end
return 1
