import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { header, short, startDns } from './harness.js';
import { startRedis, type RedisServer } from './redis.js';

/**
 * A big zone on a real master and replica: gateway-style changes (field + change-stream entry in
 * one transaction) cost a read of the field, never of the zone; hand-written ones are still seen;
 * a node on a replica starts serving only once its view reflects a completed sync.
 */

const ZONE_KEY = 'gateway.tf.';
const STREAM = 'gateway:zone-changes';
const RECORDS = 100_000;
const A = (ip: string): string => JSON.stringify({ a: [{ ip, ttl: 300 }] });
const ipOf = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, limitMs = 30_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() - start > limitMs) assert.fail(`condition not met within ${limitMs} ms; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function fill(c: Redis, n: number): Promise<void> {
  for (let start = 0; start < n; start += 5000) {
    const p = c.pipeline();
    for (let i = start; i < Math.min(n, start + 5000); i++) p.hset(ZONE_KEY, `n${i}`, A(ipOf(i)));
    await p.exec();
  }
}

/** What the gateway's write script does for one field: the field and its stream entry, atomically. */
async function gatewayWrite(c: Redis, field: string, value: string): Promise<void> {
  await c.multi().hset(ZONE_KEY, field, value).xadd(STREAM, 'MAXLEN', '~', 100_000, '*', 'k', ZONE_KEY, 'f', field).exec();
}

async function masterAndReplica(t: { after(fn: () => unknown): void }): Promise<{ master: RedisServer; replica: RedisServer; m: Redis; r: Redis }> {
  // Redis 7 waits 5 s before a diskless full sync by default, to batch replicas; not here.
  const master = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] });
  t.after(() => master.stop());
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  t.after(() => replica.stop());
  return { master, replica, m: master.client(), r: replica.client() };
}

test(`a ${RECORDS}-record zone on a replica: stream changes read one field each, hand-written ones are seen, no long stall`, async (t) => {
  const { m, r, replica } = await masterAndReplica(t);
  await fill(m, RECORDS);
  await until(() => r.hlen(ZONE_KEY), (n) => n === RECORDS);
  const dns = await startDns(t, replica, { zones: ['gateway.tf'] });
  const cache = async (): Promise<Record<string, number>> => (await dns.service.status()).cache as Record<string, number>;
  assert.equal((await cache()).records, RECORDS);
  const before = await cache();

  const CHANGES = 30;
  for (let i = 0; i < CHANGES; i++) {
    await gatewayWrite(m, `s${i}`, A(ipOf(i + 1)));
    await until(() => short(dns.port, `s${i}.gateway.tf`, 'A'), (v) => v.join() === ipOf(i + 1));
  }
  const after = await cache();
  // Each change was read as one field: the 100k-field hash was never read again.
  assert.equal(after.keyRereads! - before.keyRereads!, 0, 'no hash re-read for changes that came with a stream entry');
  assert.equal(after.fullSyncs, before.fullSyncs);
  assert.equal(after.fieldReads! - before.fieldReads!, CHANGES);
  assert.equal(after.records, RECORDS + CHANGES);

  // An operator's HSET has no stream entry: its hash is re-read, chunk by chunk.
  await m.hset(ZONE_KEY, 'n7', A('10.99.0.7'));
  await until(() => short(dns.port, 'n7.gateway.tf', 'A'), (v) => v.join() === '10.99.0.7');
  assert.equal((await cache()).keyRereads, after.keyRereads! + 1);
  // ...and a hand-written HDEL too.
  await m.hdel(ZONE_KEY, 'n8');
  await until(() => header(dns.port, 'n8.gateway.tf', 'A'), (h) => h.status === 'NXDOMAIN');

  const status = await dns.service.status();
  const applyMs = (status.cache as { longestApplyMs: number }).longestApplyMs;
  // Applying one HSCAN chunk or one stream batch; the whole zone at once took hundreds of ms.
  assert.ok(applyMs < 100, `longest synchronous apply ${applyMs} ms`);
  assert.deepEqual((status.cache as { lag: unknown }).lag, { changes: 0, ms: 0 });
});

test('on a replica, start waits for the sync with the master and the view reflects it', async (t) => {
  const master = await startRedis({ args: ['--repl-diskless-sync-delay', '1'] });
  t.after(() => master.stop());
  const m = master.client();
  await m.hset(ZONE_KEY, 'alice', A('10.0.0.1'));
  // Started as a replica: the full sync from the master is at least a second away.
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  t.after(() => replica.stop());
  const dns = await startDns(t, replica, { zones: ['gateway.tf'] });
  assert.equal(((await dns.service.status()).cache as { ready: boolean }).ready, true);
  // Answered at once, not after the next periodic re-read.
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A'), ['10.0.0.1']);
});

test('a replica that never syncs: start gives up after syncWaitMs and says so in status', async (t) => {
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', '1'] });
  t.after(() => replica.stop());
  await replica.client().config('SET', 'replica-read-only', 'no');
  await replica.client().hset(ZONE_KEY, 'alice', A('10.0.0.1'));
  const started = Date.now();
  const dns = await startDns(t, replica, { zones: ['gateway.tf'], syncWaitMs: 500 });
  assert.ok(Date.now() - started >= 500);
  assert.equal(((await dns.service.status()).cache as { ready: boolean }).ready, false);
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A'), ['10.0.0.1']);
});

test('the answer cache keeps at most answerCacheSize answers, and a change drops only what it affects', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const c = redis.client();
  for (let i = 0; i < 30; i++) await c.hset(ZONE_KEY, `h${i}`, A(ipOf(i)));
  await c.hset(ZONE_KEY, 'www', JSON.stringify({ cname: [{ host: 'h1.gateway.tf.' }] }));
  const dns = await startDns(t, redis, { zones: ['gateway.tf'], answerCacheSize: 10 });
  const cached = async (): Promise<number> => (await dns.service.status()).cachedAnswers as number;
  for (let i = 0; i < 30; i++) await short(dns.port, `h${i}.gateway.tf`, 'A');
  assert.equal(await cached(), 10);
  // The CNAME's answer carries h1's address: a change of h1 must reach it.
  assert.deepEqual(await short(dns.port, 'www.gateway.tf', 'A'), ['10.0.0.1', 'h1.gateway.tf.']);
  await gatewayWrite(c, 'h1', A('10.7.7.7'));
  await until(() => short(dns.port, 'www.gateway.tf', 'A'), (v) => v.join() === '10.7.7.7,h1.gateway.tf.');
  // A change of h29 leaves the other cached answers in place.
  const n = await cached();
  await gatewayWrite(c, 'h29', A('10.7.7.8'));
  await until(() => short(dns.port, 'h29.gateway.tf', 'A'), (v) => v.join() === '10.7.7.8');
  assert.ok((await cached()) >= n - 1, 'only the changed name left the cache');
});
