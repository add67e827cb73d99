import type { Redis } from 'ioredis';
import { PlexusError, RedisScript } from '@plexus/core';
import { PHONEBOOK_ERRORS } from './errors.js';

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
 * Every write is one Lua script, so a name maps to exactly one key even under concurrent calls.
 */
const SEQ = 'phonebook:seq';
const TIDS = 'phonebook:tids';
const USER_PREFIX = 'phonebook:user:';
const nameKey = (name: string): string => `phonebook:name:${name}`;
const userKey = (tid: number | string): string => `${USER_PREFIX}${tid}`;

const NAME_REGISTER = new RedisScript(
  'phonebook_name_register',
  `local tid = redis.call('GET', KEYS[1])
if tid then return {0, tid} end
tid = redis.call('INCR', KEYS[2])
redis.call('HSET', ARGV[6] .. tid, 'tid', tid, 'name', ARGV[1], 'email', ARGV[2], 'pubkey', ARGV[3],
  'wallet_name', ARGV[4], 'ipaddr', '', 'description', '', 'created', ARGV[5], 'updated', ARGV[5])
redis.call('SET', KEYS[1], tid)
redis.call('ZADD', KEYS[3], tid, tid)
return {1, tid}`,
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

  /** Registers `name` for `pubkey`; the same name with the same key returns the existing record. */
  async register(input: { name: string; email: string; pubkey: string; wallet_name: string }): Promise<{ record: PhonebookRecord; created: boolean }> {
    const now = Date.now();
    const [created, tid] = (await NAME_REGISTER.run(this.redis, [nameKey(input.name), SEQ, TIDS], [input.name, input.email, input.pubkey, input.wallet_name, now, USER_PREFIX])) as [number, string];
    const record = await this.byTid(Number(tid));
    if (record === undefined) throw new PlexusError('ERR_INTERNAL', `record ${tid} vanished`);
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
}

function checkScriptResult(res: string, tid: number): void {
  if (res === 'OK') return;
  if (res === 'ERR_NOT_FOUND') throw new PlexusError('ERR_NOT_FOUND', `no record with tid ${tid}`);
  if (res === 'ERR_NAME_MISMATCH') throw new PlexusError('ERR_PARAMS_INVALID', `record ${tid} has another name`, { data: { path: 'name' } });
  if (res === 'ERR_PUBKEY_MISMATCH') throw new PlexusError(PHONEBOOK_ERRORS.ERR_PUBKEY_MISMATCH, `record ${tid} is registered with another public key`);
  throw new PlexusError('ERR_INTERNAL', `unexpected script result ${res}`);
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
