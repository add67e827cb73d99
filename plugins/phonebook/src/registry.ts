import type { Redis } from 'ioredis';
import { PlexusError, RedisScript } from '@plexus/core';
import { PHONEBOOK_ERRORS } from './errors.js';
import { ancestorsOf, fromReversed, reversedName, type OwnershipConflict } from './name-tree.js';

/** A phonebook entry as the API returns it (field names of the ThreeFold phonebook). */
export interface PhonebookRecord {
  tid: number;
  name: string;
  email: string;
  pubkey: string;
  ipaddr: string;
  description: string;
  wallet_name: string;
  created: number;
  updated: number;
}

/**
 * Redis layout (all under `phonebook:`):
 *   phonebook:seq          INCR counter that hands out tids (never reused)
 *   phonebook:name:<name>  -> tid
 *   phonebook:user:<tid>   hash with the record's fields
 *   phonebook:tids         sorted set of tids, for paging
 *   phonebook:tree         sorted set (score 0) of reversed names (`bob.www`), to find the names below one
 * Every write is one Lua script, so a name maps to exactly one key even under concurrent calls,
 * and a name and a name below it can never be taken by two keys at once (name-tree.ts).
 */
const SEQ = 'phonebook:seq';
const TIDS = 'phonebook:tids';
const TREE = 'phonebook:tree';
const USER_PREFIX = 'phonebook:user:';
const NAME_PREFIX = 'phonebook:name:';
const nameKey = (name: string): string => `${NAME_PREFIX}${name}`;
const userKey = (tid: number | string): string => `${USER_PREFIX}${tid}`;

// ARGV: name, email, pubkey, wallet, now, user-prefix, reversed name, name-prefix, then the names
// above, highest first. Returns {1, tid, fields...} created, {0, tid, fields...} existing (fields:
// the record's hash, flat, so the answer needs no second round trip), {2, name} a name above it
// and {3, name} a name below it held by another key (nothing written).
const NAME_REGISTER = new RedisScript(
  'phonebook_name_register_v3',
  `local tid = redis.call('GET', KEYS[1])
if tid then return {0, tid, redis.call('HGETALL', ARGV[6] .. tid)} end
local function other(name)
  local t = redis.call('GET', ARGV[8] .. name)
  return t and redis.call('HGET', ARGV[6] .. t, 'pubkey') ~= ARGV[3]
end
for i = 9, #ARGV do
  if other(ARGV[i]) then return {2, ARGV[i]} end
end
for _, rev in ipairs(redis.call('ZRANGEBYLEX', KEYS[4], '[' .. ARGV[7] .. '.', '(' .. ARGV[7] .. '/')) do
  local labels = {}
  for l in string.gmatch(rev, '[^.]+') do table.insert(labels, 1, l) end
  local below = table.concat(labels, '.')
  if other(below) then return {3, below} end
end
tid = redis.call('INCR', KEYS[2])
local fields = {'tid', tostring(tid), 'name', ARGV[1], 'email', ARGV[2], 'pubkey', ARGV[3],
  'wallet_name', ARGV[4], 'ipaddr', '', 'description', '', 'created', ARGV[5], 'updated', ARGV[5]}
redis.call('HSET', ARGV[6] .. tid, unpack(fields))
redis.call('SET', KEYS[1], tid)
redis.call('ZADD', KEYS[3], tid, tid)
redis.call('ZADD', KEYS[4], 0, ARGV[7])
return {1, tid, fields}`,
);

const RECORD_REGISTER = new RedisScript(
  'phonebook_record_register',
  `local r = redis.call('HMGET', KEYS[1], 'name', 'pubkey')
if not r[1] then return 'ERR_NOT_FOUND' end
if r[1] ~= ARGV[1] then return 'ERR_NAME_MISMATCH' end
if r[2] ~= ARGV[2] then return 'ERR_PUBKEY_MISMATCH' end
redis.call('HSET', KEYS[1], 'email', ARGV[3], 'ipaddr', ARGV[4], 'description', ARGV[5], 'updated', ARGV[6])
return 'OK'`,
);

const UPDATE_KEY = new RedisScript(
  'phonebook_update_key',
  `local cur = redis.call('HGET', KEYS[1], 'pubkey')
if not cur then return 'ERR_NOT_FOUND' end
if cur ~= ARGV[1] then return 'ERR_PUBKEY_MISMATCH' end
redis.call('HSET', KEYS[1], 'pubkey', ARGV[2], 'updated', ARGV[3])
return 'OK'`,
);

export class PhonebookRegistry {
  constructor(private readonly redis: Redis) {}

  /**
   * Registers `name` for `pubkey`; the same name with the same key returns the existing record.
   * @throws ERR_NAME_TAKEN for a name held by another key; ERR_FORBIDDEN for a name below (or
   * above) a name held by another key, with `data.conflict` naming it and `data.hint` what to do.
   */
  async register(input: { name: string; email: string; pubkey: string; wallet_name: string }): Promise<{ record: PhonebookRecord; created: boolean }> {
    const now = Date.now();
    const args = [input.name, input.email, input.pubkey, input.wallet_name, now, USER_PREFIX, reversedName(input.name), NAME_PREFIX, ...ancestorsOf(input.name)];
    const [created, tid, flat] = (await NAME_REGISTER.run(this.redis, [nameKey(input.name), SEQ, TIDS, TREE], args)) as [number, string, string[] | undefined];
    if (created === 2 || created === 3) throw treeConflict(input.name, tid, created === 2 ? 'above' : 'below');
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < (flat?.length ?? 0); i += 2) hash[flat![i]!] = flat![i + 1]!;
    if (hash.tid === undefined) throw new PlexusError('ERR_INTERNAL', `record ${tid} vanished`);
    const record = toRecord(hash);
    if (created === 0 && record.pubkey !== input.pubkey) {
      throw new PlexusError(PHONEBOOK_ERRORS.ERR_NAME_TAKEN, `name '${input.name}' is registered with another public key`, { data: { name: input.name, tid: record.tid } });
    }
    return { record, created: created === 1 };
  }

  /** Updates email/ipaddr/description of an existing record whose name and key match. */
  async update(input: { tid: number; name: string; email: string; ipaddr: string; description: string; pubkey: string }): Promise<PhonebookRecord> {
    const res = (await RECORD_REGISTER.run(this.redis, [userKey(input.tid)], [input.name, input.pubkey, input.email, input.ipaddr, input.description, Date.now()])) as string;
    checkScriptResult(res, input.tid);
    return (await this.byTid(input.tid))!;
  }

  /** Swaps the key if it is still `oldPubkey` (compare-and-set). */
  async replaceKey(tid: number, oldPubkey: string, newPubkey: string): Promise<PhonebookRecord> {
    const res = (await UPDATE_KEY.run(this.redis, [userKey(tid)], [oldPubkey, newPubkey, Date.now()])) as string;
    checkScriptResult(res, tid);
    return (await this.byTid(tid))!;
  }

  async byTid(tid: number): Promise<PhonebookRecord | undefined> {
    const h = await this.redis.hgetall(userKey(tid));
    return h.tid === undefined ? undefined : toRecord(h);
  }

  async byName(name: string): Promise<PhonebookRecord | undefined> {
    const tid = await this.redis.get(nameKey(name));
    return tid === null ? undefined : this.byTid(Number(tid));
  }

  /** Records with tid > `after`, in tid order. `next` is the cursor for the following page. */
  async list(after: number, limit: number): Promise<{ records: PhonebookRecord[]; next: number | null }> {
    const tids = await this.redis.zrangebyscore(TIDS, `(${after}`, '+inf', 'LIMIT', 0, limit + 1);
    const page = tids.slice(0, limit);
    const pipeline = this.redis.pipeline();
    for (const t of page) pipeline.hgetall(userKey(t));
    const results = (await pipeline.exec()) ?? [];
    const records = results.map(([, h]) => h as Record<string, string>).filter((h) => h.tid !== undefined).map(toRecord);
    return { records, next: tids.length > limit && page.length > 0 ? Number(page[page.length - 1]) : null };
  }

  async count(): Promise<number> {
    return this.redis.zcard(TIDS);
  }

  /**
   * Adds every registered name to the tree index if some are missing (data written before the
   * index existed). Idempotent; run at start on the master.
   * @returns how many names were added.
   */
  async ensureTree(): Promise<number> {
    const [names, indexed] = await Promise.all([this.redis.zcard(TIDS), this.redis.zcard(TREE)]);
    if (indexed >= names) return 0;
    let added = 0;
    for (let after = 0; ; ) {
      const page = await this.list(after, 1000);
      if (page.records.length > 0) added += await this.redis.zadd(TREE, ...page.records.flatMap((r) => [0, reversedName(r.name)]));
      if (page.next === null) return added;
      after = page.next;
    }
  }

  /**
   * Records with tid > `after` (at most `limit` of them, in tid order, `checked` in all) that sit
   * below a registered name held by another key: one entry per such pair, for `check_ownership`.
   * `next` pages on.
   */
  async conflicts(after: number, limit: number): Promise<{ conflicts: OwnershipConflict[]; checked: number; next: number | null }> {
    const page = await this.list(after, limit);
    const above = [...new Set(page.records.flatMap((r) => ancestorsOf(r.name)))];
    const owners = new Map<string, PhonebookRecord>();
    const p = this.redis.pipeline();
    for (const name of above) p.get(nameKey(name));
    const tids = ((await p.exec()) ?? []).map(([, t]) => t as string | null);
    const q = this.redis.pipeline();
    const found = above.filter((_, i) => tids[i] !== null);
    for (const name of found) q.hgetall(userKey(tids[above.indexOf(name)]!));
    ((await q.exec()) ?? []).forEach(([, h], i) => owners.set(found[i]!, toRecord(h as Record<string, string>)));
    const conflicts: OwnershipConflict[] = [];
    for (const r of page.records) {
      for (const name of ancestorsOf(r.name)) {
        const o = owners.get(name);
        if (o !== undefined && o.pubkey !== r.pubkey) conflicts.push({ name: r.name, tid: r.tid, pubkey: r.pubkey, under: { name: o.name, tid: o.tid, pubkey: o.pubkey } });
      }
    }
    return { conflicts, checked: page.records.length, next: page.next };
  }
}

/** The refusal of a name that would sit below (or above) another key's name. */
function treeConflict(name: string, other: string, where: 'above' | 'below'): PlexusError {
  const message =
    where === 'above'
      ? `'${name}' is below '${other}', which is registered with another key: the names below a registered name are its owner's`
      : `'${name}' is above '${other}', which is registered with another key: the names below a registered name must be its owner's`;
  const hint =
    where === 'above'
      ? `only the key that owns '${other}' may register names below it; choose a name outside '${other}'`
      : `'${other}' is held by another key; choose another name, or have '${other}' moved to your key (update-key) first`;
  return new PlexusError('ERR_FORBIDDEN', message, { data: { name, conflict: { name: other, relation: where === 'above' ? 'above' : 'below' }, hint }, hint });
}

function checkScriptResult(res: string, tid: number): void {
  if (res === 'OK') return;
  if (res === 'ERR_NOT_FOUND') throw new PlexusError('ERR_NOT_FOUND', `no record with tid ${tid}`);
  if (res === 'ERR_NAME_MISMATCH') throw new PlexusError('ERR_PARAMS_INVALID', `record ${tid} has another name`, { data: { path: 'name' } });
  if (res === 'ERR_PUBKEY_MISMATCH') throw new PlexusError(PHONEBOOK_ERRORS.ERR_PUBKEY_MISMATCH, `record ${tid} is registered with another public key`);
  throw new PlexusError('ERR_INTERNAL', `unexpected script result ${res}`);
}

/** Names in the tree index, decoded (for tests and tools). */
export async function treeNames(redis: Redis): Promise<string[]> {
  return (await redis.zrange(TREE, '0', '-1')).map((r) => fromReversed(r));
}

function toRecord(h: Record<string, string>): PhonebookRecord {
  return {
    tid: Number(h.tid),
    name: h.name ?? '',
    email: h.email ?? '',
    pubkey: h.pubkey ?? '',
    ipaddr: h.ipaddr ?? '',
    description: h.description ?? '',
    wallet_name: h.wallet_name ?? '',
    created: Number(h.created ?? 0),
    updated: Number(h.updated ?? 0),
  };
}
