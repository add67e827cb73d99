import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { fileCleanup, header, short, startDns, type RunningDns } from './harness.js';
import { startRedis, type RedisServer } from './redis.js';

/**
 * Changes in the store reach the answers fast: each change is written, then `dig` is run until it
 * shows it. Every dig run costs a process start (~10 ms), so the figures are upper bounds.
 */

let redis: RedisServer;
let client: Redis;
let dns: RunningDns;
const cleanup = fileCleanup();

before(async () => {
  redis = await startRedis();
  client = redis.client();
  await client.hset('gateway.tf.', 'alice', JSON.stringify({ a: [{ ip: '10.0.0.1' }] }));
  dns = await startDns(cleanup, redis, { zones: ['gateway.tf'] });
});

after(async () => {
  await cleanup.run();
  await redis?.stop();
});

/** Runs `probe` until `done` holds; returns the ms it took. Fails after `limitMs`. */
async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, limitMs = 3000): Promise<number> {
  const start = performance.now();
  for (;;) {
    const v = await probe();
    if (done(v)) return performance.now() - start;
    if (performance.now() - start > limitMs) assert.fail(`condition not met within ${limitMs} ms; last: ${JSON.stringify(v)}`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

test('an HSET is answered within 100 ms (median of 9 changes)', async (t) => {
  const took: number[] = [];
  for (let i = 2; i <= 10; i++) {
    const ip = `10.0.0.${i}`;
    const start = performance.now();
    await client.hset('gateway.tf.', 'alice', JSON.stringify({ a: [{ ip }] }));
    await until(() => short(dns.port, 'alice.gateway.tf', 'A'), (v) => v.join() === ip);
    const answered = performance.now();
    // What one probe costs by itself now (a dig process: ~50 ms idle, over 100 on a loaded CI
    // machine) is not propagation: it is measured again and taken off.
    await short(dns.port, 'alice.gateway.tf', 'A');
    const probe = performance.now() - answered;
    took.push(answered - start - probe);
  }
  const m = median(took);
  t.diagnostic(`change → answer: median ${m.toFixed(1)} ms, max ${Math.max(...took).toFixed(1)} ms (less one dig run each)`);
  assert.ok(m < 100, `median ${m.toFixed(1)} ms over ${took.map((t) => t.toFixed(0)).join(', ')}`);
});

test('new fields, deleted fields, new and deleted zone hashes, expiry and rename all reach the answers', async () => {
  await client.hset('gateway.tf.', 'bob', JSON.stringify({ a: [{ ip: '10.1.0.1' }] }));
  await until(() => short(dns.port, 'bob.gateway.tf', 'A'), (v) => v.join() === '10.1.0.1');

  await client.hdel('gateway.tf.', 'bob');
  await until(() => header(dns.port, 'bob.gateway.tf', 'A'), (h) => h.status === 'NXDOMAIN');

  // A new zone hash below a configured zone is picked up and becomes the most specific zone.
  await client.hset('sub.gateway.tf.', '@', JSON.stringify({ a: [{ ip: '10.2.0.1' }] }), 'x', JSON.stringify({ a: [{ ip: '10.2.0.2' }] }));
  await until(() => short(dns.port, 'x.sub.gateway.tf', 'A'), (v) => v.join() === '10.2.0.2');

  await client.rename('sub.gateway.tf.', 'other.gateway.tf.');
  await until(() => short(dns.port, 'x.other.gateway.tf', 'A'), (v) => v.join() === '10.2.0.2');
  assert.equal((await header(dns.port, 'x.sub.gateway.tf', 'A')).status, 'NXDOMAIN');

  await client.pexpire('other.gateway.tf.', 50);
  await until(() => header(dns.port, 'x.other.gateway.tf', 'A'), (h) => h.status === 'NXDOMAIN');

  await client.del('gateway.tf.');
  await until(() => header(dns.port, 'alice.gateway.tf', 'A'), (h) => h.status === 'NXDOMAIN');
  // The configured zone itself still answers, with its made-up SOA.
  assert.match((await short(dns.port, 'gateway.tf', 'SOA'))[0]!, /^ns1\.gateway\.tf\. hostmaster\.gateway\.tf\. /);
});
