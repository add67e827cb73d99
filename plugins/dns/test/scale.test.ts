import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZONE_CHANGE_STREAM } from '@plexus/core';
import type { Redis } from 'ioredis';
import { short, startDns } from './harness.js';
import { startRedis } from './redis.js';

/**
 * A node on a replica starts serving only once its view reflects a completed sync; the answer
 * cache is bounded and a change drops only what it affects. (The 100k-record zone on a master and
 * replica, with a real node process, is in test/dns-scale.e2e.test.ts.)
 */

const ZONE_KEY = 'gateway.tf.';
const STREAM = ZONE_CHANGE_STREAM;
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

/** What the gateway's write script does for one field: the field and its stream entry, atomically. */
async function gatewayWrite(c: Redis, field: string, value: string): Promise<void> {
  await c.multi().hset(ZONE_KEY, field, value).xadd(STREAM, 'MAXLEN', '~', 100_000, '*', 'k', ZONE_KEY, 'f', field).exec();
}

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
