import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DnsConfigSchema, DnsService } from '../src/index.js';
import { header, makeContext, short, startDns, startStore } from './harness.js';
import { startRedis } from './redis.js';

/** How the in-memory copy follows the store when notifications are off, refused, or interrupted. */

async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, limitMs = 5000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (done(v)) return;
    if (Date.now() - start > limitMs) assert.fail(`condition not met within ${limitMs} ms; last: ${JSON.stringify(v)}`);
    // Probing redis or dig in a tight loop would starve the process under test of CPU.
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alice = (ip: string): string => JSON.stringify({ a: [{ ip }] });

test('notifications off: the plugin turns them on with CONFIG SET', async (t) => {
  const redis = await startRedis({ notify: '' });
  t.after(() => redis.stop());
  const c = redis.client();
  await c.hset('gateway.tf.', 'alice', alice('10.0.0.1'));
  const dns = await startDns(t, redis, { zones: ['gateway.tf'] });
  assert.match(((await c.config('GET', 'notify-keyspace-events')) as string[])[1]!, /K/);
  assert.equal(((await dns.service.status()).cache as { mode: string }).mode, 'keyspace');
  await c.hset('gateway.tf.', 'alice', alice('10.0.0.2'));
  await until(() => short(dns.port, 'alice.gateway.tf', 'A'), (v) => v.join() === '10.0.0.2');
});

test('notifications off and CONFIG refused: periodic re-scan', async (t) => {
  const redis = await startRedis({ notify: '', args: ['--rename-command', 'CONFIG', ''] });
  t.after(() => redis.stop());
  const c = redis.client();
  await c.hset('gateway.tf.', 'alice', alice('10.0.0.1'));
  const dns = await startDns(t, redis, { zones: ['gateway.tf'] });
  assert.equal(((await dns.service.status()).cache as { mode: string }).mode, 'poll');
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A'), ['10.0.0.1']);
  await c.hset('gateway.tf.', 'alice', alice('10.0.0.2'));
  await until(() => short(dns.port, 'alice.gateway.tf', 'A'), (v) => v.join() === '10.0.0.2');
  // A field deleted and another added between two re-scans (same count): both are seen.
  await c.multi().hset('gateway.tf.', 'bob', alice('10.0.0.3')).exec();
  await until(() => short(dns.port, 'bob.gateway.tf', 'A'), (v) => v.join() === '10.0.0.3');
  await c.multi().hdel('gateway.tf.', 'bob').hset('gateway.tf.', 'carol', alice('10.0.0.4')).exec();
  await until(() => short(dns.port, 'carol.gateway.tf', 'A'), (v) => v.join() === '10.0.0.4');
  await until(() => header(dns.port, 'bob.gateway.tf', 'A'), (h) => h.status === 'NXDOMAIN');
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A'), ['10.0.0.2']);
});

test('after the subscriber connection drops, everything is read again', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const c = redis.client();
  await c.hset('gateway.tf.', 'alice', alice('10.0.0.1'));
  const dns = await startDns(t, redis, { zones: ['gateway.tf'] });
  const syncs = async (): Promise<number> => ((await dns.service.status()).cache as { fullSyncs: number }).fullSyncs;
  assert.equal(await syncs(), 1);
  // The write lands while the subscription is gone, so its event is lost: only the resync sees it.
  await c.multi().call('CLIENT', 'KILL', 'TYPE', 'pubsub').hset('gateway.tf.', 'alice', alice('10.0.0.9')).exec();
  await until(syncs, (n) => n >= 2);
  await until(() => short(dns.port, 'alice.gateway.tf', 'A'), (v) => v.join() === '10.0.0.9');
});

test('between full re-reads, the count check re-reads a hash emptied without an event, and nothing while nothing differs', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const c = redis.client();
  await c.hset('gateway.tf.', 'alice', alice('10.0.0.1'), 'bob', alice('10.0.0.2'));
  // The full re-read is an hour away: only the count check can notice what follows.
  const dns = await startDns(t, redis, { zones: ['gateway.tf'], resyncIntervalMs: 3_600_000, countCheckIntervalMs: 200 });
  type Cache = { countChecks: number; keyRereads: number; fullSyncs: number };
  const cache = async (): Promise<Cache> => (await dns.service.status()).cache as Cache;
  const before = await cache();
  await until(cache, (s) => s.countChecks >= before.countChecks + 3);
  const quiet = await cache();
  assert.deepEqual({ keyRereads: quiet.keyRereads, fullSyncs: quiet.fullSyncs }, { keyRereads: before.keyRereads, fullSyncs: before.fullSyncs }, 'a check that finds the counts equal reads nothing');
  // FLUSHALL sends no per-key keyspace event: the node holds alice and bob until the check looks.
  await c.flushall();
  await until(() => header(dns.port, 'alice.gateway.tf', 'A'), (h) => h.status === 'NXDOMAIN');
  assert.equal((await header(dns.port, 'bob.gateway.tf', 'A')).status, 'NXDOMAIN');
  const after = await cache();
  assert.equal(after.fullSyncs, before.fullSyncs, 'found by the count check, not a full re-read');
  assert.ok(after.keyRereads > before.keyRereads, JSON.stringify(after));
});

test('the count check learns a hash that never matches its HLEN (rfc4592: WWW and www are one field) instead of re-reading it every time', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const c = redis.client();
  await c.hset('gateway.tf.', 'alice', alice('10.0.0.1'), 'ALICE', alice('10.0.0.1'), 'bob', alice('10.0.0.2'));
  const dns = await startDns(t, redis, { zones: ['gateway.tf'], wildcards: 'rfc4592', resyncIntervalMs: 3_600_000, countCheckIntervalMs: 100 });
  type Cache = { countChecks: number; keyRereads: number; records: number };
  const cache = async (): Promise<Cache> => (await dns.service.status()).cache as Cache;
  assert.equal((await cache()).records, 2, 'alice and ALICE are one field under rfc4592');
  await until(cache, (s) => s.countChecks >= 10);
  assert.equal((await cache()).keyRereads, 1, 'one re-read to learn the difference, then none');
  // A real change without an event is still found: the hash emptied.
  await c.flushall();
  await until(() => header(dns.port, 'bob.gateway.tf', 'A'), (h) => h.status === 'NXDOMAIN');
});

test('on a replica, a silent full resync from the master is noticed (link watch or periodic re-read)', async (t) => {
  // Redis 7 waits 5 s before a diskless full sync by default, to batch replicas; not here.
  const master = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] });
  t.after(() => master.stop());
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  t.after(() => replica.stop());
  const m = master.client();
  const r = replica.client();
  await m.hset('gateway.tf.', 'alice', alice('10.0.0.1'));
  await until(() => r.hget('gateway.tf.', 'alice'), (v) => v !== null);
  const dns = await startDns(t, replica, { zones: ['gateway.tf'], resyncIntervalMs: 1000 });
  await m.hset('gateway.tf.', 'alice', alice('10.0.0.2'));
  await until(() => short(dns.port, 'alice.gateway.tf', 'A'), (v) => v.join() === '10.0.0.2');

  // Detach, diverge, re-attach: the replica must take a full sync, which sends no keyspace events.
  await r.replicaof('NO', 'ONE');
  await r.hset('gateway.tf.', 'stray', alice('10.6.6.6'));
  await until(() => short(dns.port, 'stray.gateway.tf', 'A'), (v) => v.join() === '10.6.6.6');
  await m.hset('gateway.tf.', 'alice', alice('10.0.0.3'));
  await r.replicaof('127.0.0.1', String(master.port));
  await until(() => short(dns.port, 'alice.gateway.tf', 'A'), (v) => v.join() === '10.0.0.3');
  await until(() => header(dns.port, 'stray.gateway.tf', 'A'), (h) => h.status === 'NXDOMAIN');
});

test('a replica still loading a full sync (LOADING) is waited for, not a failed start', async (t) => {
  const master = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] });
  t.after(() => master.stop());
  // Loading 2,000 keys at 1 ms each, answering between every few keys: LOADING for about 2 s.
  // Without notifications (CONFIG refused: poll mode) no new connection is opened at start, whose
  // ready check would wait out the load before the first read; on a node that is the race of a
  // sync that begins while the view is being read, seen at 1M records.
  const replica = await startRedis({
    notify: '',
    args: ['--repl-diskless-load', 'disabled', '--key-load-delay', '1000', '--loading-process-events-interval-bytes', '1024', '--rename-command', 'CONFIG', ''],
  });
  t.after(() => replica.stop());
  const m = master.client();
  await m.hset('gateway.tf.', 'alice', alice('10.0.0.1'));
  const p = m.pipeline();
  for (let i = 0; i < 2000; i++) p.set(`filler:${i}`, 'x');
  await p.exec();
  const dir = await mkdtemp(join(tmpdir(), 'plexus-dns-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // The node's store client is connected before the sync starts, as on a node that restarts.
  const store = await startStore(t, replica, dir);
  const r = replica.client();
  await r.replicaof('127.0.0.1', String(master.port));
  await until(() => r.info('persistence').catch(() => ''), (i) => /^loading:1/m.test(i));
  const service = new DnsService(makeContext(DnsConfigSchema.parse({ listen: ['127.0.0.1:0'], zones: ['gateway.tf'] }), store, dir));
  t.after(() => service.stop());
  await service.start();
  assert.deepEqual(await short(service.addresses().udp[0]!.port, 'alice.gateway.tf', 'A'), ['10.0.0.1']);
});

test('start fails with ERR_UNAVAILABLE when the store cannot be read, and leaves nothing open', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = await mkdtemp(join(tmpdir(), 'plexus-dns-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const store = await startStore(t, redis, dir);
  // The store plugin runs, but its redis is gone: serving empty zones would be worse than failing.
  await redis.stop();
  const service = new DnsService(makeContext(DnsConfigSchema.parse({ listen: ['127.0.0.1:0'], zones: ['gateway.tf'] }), store, dir));
  await assert.rejects(service.start(), { code: 'ERR_UNAVAILABLE' });
  assert.deepEqual(service.addresses(), { udp: [], tcp: [] });
});
