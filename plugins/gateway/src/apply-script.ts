import { RedisScript, ZONE_CHANGE_STREAM } from '@plexus/core';

/**
 * The one Lua script every gateway write goes through: check, then split, then apply, atomically.
 *
 * 1. Checks: hashes that must (not) exist (`guards`), and each changed target's value must still
 *    be what the caller computed from (compare-and-set). Any mismatch: nothing is written, 0.
 * 2. Splits: for a hash the write creates, the fields of its parent at or below its label move
 *    into it (renamed relative to it), parent fields found with HSCAN MATCH so a large parent is
 *    not copied into Lua. Moved fields keep their index owner: the index entry is looked for
 *    under every label-suffix of the field's name (the possible owners; older data may be
 *    indexed under more than one) and renamed in place.
 *    The new hash is written before the parent loses the fields, so a DNS node that reads the
 *    keyspace events in order never sees the names missing.
 * 3. Changes: HSET/HDEL or SET/DEL, with the per-owner index and counters.
 *
 * 4. Every zone-hash field written (moved ones too: the child's and the parent's) is also named in
 *    the change stream (`ZONE_CHANGES`), in the same script, so a DNS node reads exactly the fields
 *    that changed, in order, instead of the whole hash.
 *
 * Fields and domains of the gateway are hostname labels, `*` and `@`, so index members (JSON
 * arrays) can be written by concatenation here exactly as `JSON.stringify` writes them.
 *
 * KEYS: names-set, guards[ng], changes[nc × (target, index, counter, source)], splits[ns × (parent, child)], change-stream
 * ARGV: ng, nc, ns, index-prefix, guards[ng × '0'|'1'],
 *       changes[nc × (kind, field, check, expected, action, value, member, owner, sourceField)],
 *       splits[ns × (label, caseless-glob, parent-domain, child-domain, parent-relative-to-zone)], stream-maxlen
 */
export const APPLY = new RedisScript(
  'gateway_apply_v3',
  `local ng, nc, ns, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local kc, ac = 2 + ng, 5 + ng
local ks, as = kc + nc * 4, ac + nc * 9
local stream, maxlen = KEYS[ks + ns * 2], ARGV[as + ns * 5]
local function changed(key, field)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'k', key, 'f', field)
end
for i = 0, ng - 1 do
  if redis.call('EXISTS', KEYS[2 + i]) ~= tonumber(ARGV[5 + i]) then return 0 end
end
for i = 0, nc - 1 do
  local k, a = kc + i * 4, ac + i * 9
  local check = ARGV[a + 2]
  if check ~= '-' then
    local cur
    if ARGV[a] == 'h' then
      if ARGV[a + 8] ~= '' then cur = redis.call('HGET', KEYS[k + 3], ARGV[a + 8])
      else cur = redis.call('HGET', KEYS[k], ARGV[a + 1]) end
    else cur = redis.call('GET', KEYS[k]) end
    if check == '0' and cur then return 0 end
    if check == '1' and cur ~= ARGV[a + 3] then return 0 end
  end
end
for i = 0, ns - 1 do
  local parent, child = KEYS[ks + i * 2], KEYS[ks + i * 2 + 1]
  local label, glob, pdom, cdom, prel = ARGV[as + i * 5], ARGV[as + i * 5 + 1], ARGV[as + i * 5 + 2], ARGV[as + i * 5 + 3], ARGV[as + i * 5 + 4]
  if redis.call('EXISTS', child) == 0 then
    local suffix, moved, seen, cursor = '.' .. label, {}, {}, '0'
    repeat
      local page = redis.call('HSCAN', parent, cursor, 'MATCH', glob, 'COUNT', 1000)
      cursor = page[1]
      for j = 1, #page[2], 2 do
        local f = page[2][j]
        local lf = string.lower(f)
        local nf
        if lf == label then nf = '@'
        elseif #lf > #suffix and string.sub(lf, -#suffix) == suffix then nf = string.sub(f, 1, #f - #suffix) end
        if nf and not seen[f] then
          seen[f] = true
          redis.call('HSET', child, nf, page[2][j + 1])
          changed(child, nf)
          moved[#moved + 1] = { f, nf }
        end
      end
    until cursor == '0'
    for _, m in ipairs(moved) do
      redis.call('HDEL', parent, m[1])
      changed(parent, m[1])
      local old = '["dns","' .. pdom .. '","' .. m[1] .. '"]'
      local s = string.lower(m[1])
      if prel ~= '' then s = s .. '.' .. prel end
      while s do
        if redis.call('SREM', prefix .. s, old) == 1 then
          redis.call('SADD', prefix .. s, '["dns","' .. cdom .. '","' .. m[2] .. '"]')
        end
        local d = string.find(s, '.', 1, true)
        if d then s = string.sub(s, d + 1) else s = nil end
      end
    end
  end
end
for i = 0, nc - 1 do
  local k, a = kc + i * 4, ac + i * 9
  local key, idx, counter = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local hash, field, member, owner = ARGV[a] == 'h', ARGV[a + 1], ARGV[a + 6], ARGV[a + 7]
  if ARGV[a + 4] == 'set' then
    if hash then
      redis.call('HSET', key, field, ARGV[a + 5])
      changed(key, field)
    else redis.call('SET', key, ARGV[a + 5]) end
    if redis.call('SADD', idx, member) == 1 then redis.call('INCR', counter) end
    redis.call('SADD', KEYS[1], owner)
  else
    if hash then
      redis.call('HDEL', key, field)
      changed(key, field)
    else redis.call('DEL', key) end
    if redis.call('SREM', idx, member) == 1 then redis.call('DECR', counter) end
    if redis.call('SCARD', idx) == 0 then redis.call('SREM', KEYS[1], owner) end
  end
end
return 1`,
);

/**
 * The change stream: one entry per zone-hash field the gateway writes, `k` the hash's key and `f`
 * the field (its value is read from the hash: the entry says only where to look). Capped near
 * `ZONE_CHANGES_MAXLEN` entries (MAXLEN ~); a reader that fell further behind re-reads the hashes.
 */
export const ZONE_CHANGES = ZONE_CHANGE_STREAM;
export const ZONE_CHANGES_MAXLEN = 100_000;

/** A Redis glob matching `label` and every field ending in it, letters in either case (HSCAN MATCH). */
export function caselessSuffixGlob(label: string): string {
  return `*${[...label].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : /[*?[\]\\]/.test(c) ? `\\${c}` : c)).join('')}`;
}
