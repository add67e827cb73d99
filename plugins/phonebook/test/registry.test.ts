import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { PlexusError } from '@plexus/core';
import { PhonebookRegistry, type PhonebookRecord } from '../src/registry.js';
import { codeOf } from '@plexus/core/testing';
import { startRedis, type RedisServer } from './redis.js';

let server: RedisServer | undefined;
let redis: Redis;
let registry: PhonebookRegistry;

before(async () => {
  server = await startRedis();
  redis = server.client();
  registry = new PhonebookRegistry(redis);
});

after(async () => {
  await server?.stop();
});

beforeEach(async () => {
  await redis.flushdb();
});

const newKey = (): string => randomBytes(32).toString('hex');

function reg(name: string, pubkey: string, extra: Partial<{ email: string; wallet_name: string }> = {}): ReturnType<PhonebookRegistry['register']> {
  return registry.register({ name, email: extra.email ?? `${name}@example.org`, pubkey, wallet_name: extra.wallet_name ?? '' });
}


test('register hands out tids 1, 2, 3 and stores the fields', async () => {
  const keys = [newKey(), newKey(), newKey()];
  const before = Date.now();
  const results = [];
  for (const [i, name] of ['alice', 'bob', 'carol.example'].entries()) results.push(await reg(name, keys[i]!, { wallet_name: `w${i}` }));
  assert.deepEqual(results.map((r) => [r.record.tid, r.created]), [[1, true], [2, true], [3, true]]);
  const bob = results[1]!.record;
  assert.deepEqual({ ...bob, created: 0, updated: 0 }, {
    tid: 2,
    name: 'bob',
    email: 'bob@example.org',
    pubkey: keys[1],
    ipaddr: '',
    description: '',
    wallet_name: 'w1',
    created: 0,
    updated: 0,
  });
  assert.ok(bob.created >= before && bob.created <= Date.now());
  assert.equal(bob.updated, bob.created);
  assert.deepEqual(await registry.byTid(2), bob);
  assert.deepEqual(await registry.byName('bob'), bob);
  assert.equal(await registry.count(), 3);
});

test('the same name with the same key returns the existing record, created false, and uses no tid', async () => {
  const key = newKey();
  const first = await reg('alice', key);
  const again = await reg('alice', key, { email: 'other@example.org', wallet_name: 'other' });
  assert.equal(again.created, false);
  assert.deepEqual(again.record, first.record, 'the existing record, unchanged');
  assert.equal((await reg('bob', newKey())).record.tid, 2);
});

test('the same name with another key is ERR_NAME_TAKEN and leaves the record alone', async () => {
  const key = newKey();
  const first = await reg('alice', key);
  const err = await reg('alice', newKey()).catch((e: unknown) => e);
  assert.ok(err instanceof PlexusError);
  assert.equal(err.code, 'ERR_NAME_TAKEN');
  assert.equal(err.data?.tid, 1);
  assert.deepEqual(await registry.byName('alice'), first.record);
  assert.equal(await registry.count(), 1);
});

test('50 concurrent registrations of one name with different keys: exactly one wins', async () => {
  // Several connections, so the calls really interleave at the server.
  const connections = Array.from({ length: 10 }, () => new PhonebookRegistry(server!.client()));
  const keys = Array.from({ length: 50 }, newKey);
  const results = await Promise.allSettled(
    keys.map((pubkey, i) => connections[i % connections.length]!.register({ name: 'contested', email: 'c@x', pubkey, wallet_name: '' })),
  );
  const won = results.filter((r): r is PromiseFulfilledResult<{ record: PhonebookRecord; created: boolean }> => r.status === 'fulfilled');
  const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(won.length, 1);
  assert.equal(won[0]!.value.created, true);
  assert.equal(lost.length, 49);
  for (const l of lost) assert.equal((l.reason as PlexusError).code, 'ERR_NAME_TAKEN');
  const record = await registry.byName('contested');
  assert.equal(record?.pubkey, won[0]!.value.record.pubkey);
  assert.equal(record?.tid, 1);
  assert.equal(await registry.count(), 1);
  // Losers consumed no tid.
  assert.equal((await reg('next', newKey())).record.tid, 2);
});

test('50 concurrent registrations of different names get distinct consecutive tids', async () => {
  const connections = Array.from({ length: 5 }, () => new PhonebookRegistry(server!.client()));
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => connections[i % 5]!.register({ name: `n${i}`, email: 'e@x', pubkey: newKey(), wallet_name: '' })),
  );
  assert.deepEqual(results.map((r) => r.record.tid).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
  for (const [i, r] of results.entries()) assert.equal((await registry.byTid(r.record.tid))?.name, `n${i}`);
});

test('update changes email, ipaddr and description of a matching record', async () => {
  const key = newKey();
  const { record } = await reg('alice', key);
  const updated = await registry.update({ tid: record.tid, name: 'alice', email: 'new@x', ipaddr: '10.1.2.3', description: 'hi', pubkey: key });
  assert.deepEqual({ ...updated, updated: 0 }, { ...record, email: 'new@x', ipaddr: '10.1.2.3', description: 'hi', updated: 0 });
  assert.ok(updated.updated >= record.updated);
  assert.deepEqual(await registry.byTid(record.tid), updated);
});

const UPDATE_REFUSALS: { name: string; code: string; change: Partial<{ tid: number; name: string; pubkey: string }> }[] = [
  { name: 'wrong pubkey', code: 'ERR_PUBKEY_MISMATCH', change: { pubkey: 'ff'.repeat(32) } },
  { name: 'unknown tid', code: 'ERR_NOT_FOUND', change: { tid: 999 } },
  { name: 'another record’s tid', code: 'ERR_PARAMS_INVALID', change: { tid: 2 } },
  { name: 'name of the record changed', code: 'ERR_PARAMS_INVALID', change: { name: 'mallory' } },
];

for (const c of UPDATE_REFUSALS) {
  test(`update refuses ${c.name} with ${c.code} and changes nothing`, async () => {
    const key = newKey();
    const { record } = await reg('alice', key);
    const other = (await reg('bob', newKey())).record;
    const input = { tid: record.tid, name: 'alice', email: 'evil@x', ipaddr: '6.6.6.6', description: 'pwned', pubkey: key, ...c.change };
    assert.equal(await codeOf(registry.update(input)), c.code);
    assert.deepEqual(await registry.byTid(record.tid), record);
    assert.deepEqual(await registry.byTid(other.tid), other);
  });
}

test('replaceKey is a compare-and-set on the current key', async () => {
  const oldKey = newKey();
  const nextKey = newKey();
  const { record } = await reg('alice', oldKey);

  const moved = await registry.replaceKey(record.tid, oldKey, nextKey);
  assert.equal(moved.pubkey, nextKey);
  assert.equal((await registry.byName('alice'))?.pubkey, nextKey);

  // The old key no longer owns anything.
  assert.equal(await codeOf(registry.replaceKey(record.tid, oldKey, newKey())), 'ERR_PUBKEY_MISMATCH');
  assert.equal(await codeOf(reg('alice', oldKey)), 'ERR_NAME_TAKEN');
  assert.equal(await codeOf(registry.update({ tid: record.tid, name: 'alice', email: 'a@x', ipaddr: '', description: '', pubkey: oldKey })), 'ERR_PUBKEY_MISMATCH');
  // The new key does.
  assert.deepEqual((await reg('alice', nextKey)).created, false);
  assert.equal(await codeOf(registry.replaceKey(999, oldKey, nextKey)), 'ERR_NOT_FOUND');
  assert.equal((await registry.byTid(record.tid))?.pubkey, nextKey);
});

test('two concurrent key replacements from the same old key: exactly one applies', async () => {
  const oldKey = newKey();
  const { record } = await reg('alice', oldKey);
  const candidates = Array.from({ length: 20 }, newKey);
  const connections = Array.from({ length: 4 }, () => new PhonebookRegistry(server!.client()));
  const results = await Promise.allSettled(candidates.map((k, i) => connections[i % 4]!.replaceKey(record.tid, oldKey, k)));
  const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [candidates[i]] : []));
  assert.equal(won.length, 1);
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as PlexusError).code, 'ERR_PUBKEY_MISMATCH');
  assert.equal((await registry.byTid(record.tid))?.pubkey, won[0]);
});

test('lookups of unknown records give undefined', async () => {
  assert.equal(await registry.byTid(1), undefined);
  assert.equal(await registry.byName('nobody'), undefined);
  assert.deepEqual(await registry.list(0, 10), { records: [], next: null });
});

test('list pages over 7 records with limit 3 using cursor and next', async () => {
  for (let i = 1; i <= 7; i++) await reg(`n${i}`, newKey());
  const pages: number[][] = [];
  const cursors: (number | null)[] = [];
  let cursor: number | null = 0;
  while (cursor !== null) {
    const page: { records: PhonebookRecord[]; next: number | null } = await registry.list(cursor, 3);
    pages.push(page.records.map((r) => r.tid));
    cursor = page.next;
    cursors.push(cursor);
    assert.ok(pages.length <= 3, 'paging terminates');
  }
  assert.deepEqual(pages, [[1, 2, 3], [4, 5, 6], [7]]);
  assert.deepEqual(cursors, [3, 6, null]);

  const edges: { after: number; limit: number; tids: number[]; next: number | null }[] = [
    { after: 0, limit: 7, tids: [1, 2, 3, 4, 5, 6, 7], next: null },
    { after: 0, limit: 100, tids: [1, 2, 3, 4, 5, 6, 7], next: null },
    { after: 0, limit: 6, tids: [1, 2, 3, 4, 5, 6], next: 6 },
    { after: 4, limit: 3, tids: [5, 6, 7], next: null },
    { after: 5, limit: 1, tids: [6], next: 6 },
    { after: 7, limit: 3, tids: [], next: null },
    { after: 100, limit: 3, tids: [], next: null },
  ];
  for (const e of edges) {
    const page = await registry.list(e.after, e.limit);
    assert.deepEqual({ tids: page.records.map((r) => r.tid), next: page.next }, { tids: e.tids, next: e.next }, `after ${e.after} limit ${e.limit}`);
  }
  const full = await registry.list(0, 7);
  assert.deepEqual(full.records.map((r) => r.name), ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
});

test('the scripts are reloaded after Redis forgets them (SCRIPT FLUSH)', async () => {
  const key = newKey();
  await reg('alice', key);
  await redis.script('FLUSH');
  assert.equal((await reg('bob', newKey())).record.tid, 2);
  await redis.script('FLUSH');
  assert.equal((await registry.replaceKey(1, key, newKey())).tid, 1);
});

test('a registration is one script call: the answer comes from the script, and it is what the store holds', async () => {
  const calls = async (): Promise<Record<string, number>> => {
    const info = await redis.info('commandstats');
    return Object.fromEntries([...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
  };
  await reg('warm', newKey());
  await redis.config('RESETSTAT');
  const first = await reg('dave', newKey());
  const again = await reg('dave', first.record.pubkey);
  const counted = await calls();
  // commandstats also counts what a script runs: the one HGETALL is the script's own, reading the
  // existing name's record; the client sends none.
  assert.equal(counted.evalsha, 2, JSON.stringify(counted));
  assert.equal(counted.hgetall ?? 0, 1, JSON.stringify(counted));
  assert.deepEqual(first.record, await registry.byTid(first.record.tid));
  assert.deepEqual(again.record, first.record);
});
