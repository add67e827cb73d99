import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { PlexusError, type StoreCapability } from '@plexus/core';
import { codeOf, fakeContext } from '@plexus/core/testing';
import { ancestorsOf, reversedName } from '../src/name-tree.js';
import { PhonebookRegistry, treeNames } from '../src/registry.js';
import { PHONEBOOK_PROTOCOL, plugin } from '../src/index.js';
import { startRedis, type RedisServer } from './redis.js';

/** Whoever owns a name owns the names below it: the phonebook never gives them to another key. */

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
const reg = (name: string, pubkey: string): ReturnType<PhonebookRegistry['register']> => registry.register({ name, email: `${name.replace(/\./g, '-')}@example.org`, pubkey, wallet_name: '' });

/** A record as a phonebook without the name tree could have stored it (README, Storage). */
async function legacy(name: string, pubkey: string): Promise<number> {
  const tid = await redis.incr('phonebook:seq');
  await redis.hset(`phonebook:user:${tid}`, { tid, name, email: 'x@example.org', pubkey, wallet_name: '', ipaddr: '', description: '', created: 0, updated: 0 });
  await redis.set(`phonebook:name:${name}`, tid);
  await redis.zadd('phonebook:tids', tid, tid);
  return tid;
}

test('ancestorsOf and reversedName', () => {
  assert.deepEqual(ancestorsOf('a.www.bob'), ['bob', 'www.bob']);
  assert.deepEqual(ancestorsOf('bob'), []);
  assert.equal(reversedName('_x.www.bob'), 'bob.www._x');
});

test('a name below another key’s name is refused, and so is a name above one: ERR_FORBIDDEN naming the other', async () => {
  const bob = newKey();
  const eve = newKey();
  await reg('bob', bob);
  await reg('www-2.bobby', eve); // not below bob: only whole labels count
  const below = await reg('www.bob', eve).catch((e: unknown) => e as PlexusError);
  assert.equal(below instanceof PlexusError ? below.code : below, 'ERR_FORBIDDEN');
  assert.deepEqual((below as PlexusError).data?.conflict, { name: 'bob', relation: 'above' });
  assert.equal(typeof (below as PlexusError).data?.hint, 'string');
  assert.equal(await codeOf(reg('acme.www.bob', eve)), 'ERR_FORBIDDEN');

  await reg('www.carol', eve);
  const above = await reg('carol', newKey()).catch((e: unknown) => e as PlexusError);
  assert.equal((above as PlexusError).code, 'ERR_FORBIDDEN');
  assert.deepEqual((above as PlexusError).data?.conflict, { name: 'www.carol', relation: 'below' });
  assert.equal(await registry.byName('carol'), undefined, 'nothing written');
  assert.equal(await registry.count(), 3);
  // The same key may hold a name and names below it, in either order.
  assert.equal((await reg('carol', eve)).created, true);
  assert.equal((await reg('api.www.carol', eve)).created, true);
  assert.equal((await reg('www.bob', bob)).created, true);
});

test('racing registrations of bob and www.bob with two keys: exactly one key gets in', async () => {
  for (let round = 0; round < 10; round++) {
    await redis.flushdb();
    const [k1, k2] = [newKey(), newKey()];
    const connections = [new PhonebookRegistry(server!.client()), new PhonebookRegistry(server!.client())];
    const results = await Promise.allSettled([
      connections[0]!.register({ name: 'bob', email: 'b@x', pubkey: k1, wallet_name: '' }),
      connections[1]!.register({ name: 'www.bob', email: 'w@x', pubkey: k2, wallet_name: '' }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}`);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as PlexusError).code, 'ERR_FORBIDDEN');
  }
});

test('names stored before the tree index: indexed at start, then protected; check_ownership lists the pairs', async () => {
  const [bob, eve] = [newKey(), newKey()];
  const bobTid = await legacy('bob', bob);
  const eveTid = await legacy('www.bob', eve);
  await legacy('api.www.bob', eve);
  await legacy('alice', newKey());
  const store = { redis, role: 'master' } as unknown as StoreCapability;
  const ctx = fakeContext(plugin, {}, { capabilities: { store } });
  const instance = plugin.create(ctx);
  await instance.start();
  try {
    assert.deepEqual((await treeNames(redis)).sort(), ['alice', 'api.www.bob', 'bob', 'www.bob']);
    // Without the index a name above www.bob would not see it.
    await redis.del('phonebook:name:bob');
    assert.equal(await codeOf(reg('bob', newKey())), 'ERR_FORBIDDEN');
    await redis.set('phonebook:name:bob', bobTid);

    const page = (await ctx.call(PHONEBOOK_PROTOCOL, 'check_ownership', { cursor: 0, limit: 2 })) as { conflicts: unknown[]; checked: number; next: number | null };
    assert.deepEqual(page.conflicts, [{ name: 'www.bob', tid: eveTid, pubkey: eve, under: { name: 'bob', tid: bobTid, pubkey: bob } }]);
    assert.deepEqual([page.checked, page.next], [2, 2]);
    const rest = (await ctx.call(PHONEBOOK_PROTOCOL, 'check_ownership', { cursor: 2 })) as { conflicts: { name: string; under: { name: string } }[]; next: number | null };
    assert.deepEqual(rest.conflicts.map((c) => `${c.name} < ${c.under.name}`), ['api.www.bob < bob'], 'www.bob has the same key as api.www.bob');
    assert.equal(rest.next, null);
  } finally {
    await instance.stop();
  }
});
