import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import type { Logger, StoreCapability, StoreWatchBatch, StoreWatchKind, StoreWatchOptions, StoreWatchValue, StoreWatcher } from '@plexus/core';
import { startRedis, type RedisOptions, type RedisServer } from '@plexus/core/testing';
import { recordingLogger, startStore, tempDir, waitFor, type Running } from './helpers.js';

/**
 * `store.watch`: a consumer's in-memory view of some keys follows the store, against real
 * redis-servers (external mode, so a test can restart, kill or re-attach the server under it).
 */

async function redisFor(t: TestContext, options: RedisOptions = {}): Promise<RedisServer> {
  const redis = await startRedis({ tmpPrefix: 'plexus-store-watch-', ...options });
  t.after(() => redis.stop());
  return redis;
}

async function storeOn(t: TestContext, port: number, log?: Logger): Promise<Running> {
  return startStore(t, { mode: 'external', url: `redis://127.0.0.1:${port}` }, await tempDir(t), undefined, log);
}

/** What a consumer would hold: the batches applied to a map. */
interface View<K extends StoreWatchKind> {
  map: Map<string, StoreWatchValue<K>>;
  fulls: StoreWatchBatch<K>[];
  /** Contract breaches seen: a full batch that does not name a key the consumer holds. */
  breaches: string[];
  watcher: StoreWatcher;
}

async function watchInto<K extends StoreWatchKind>(t: TestContext, store: StoreCapability, options: StoreWatchOptions<K>): Promise<View<K>> {
  const map = new Map<string, StoreWatchValue<K>>();
  const fulls: StoreWatchBatch<K>[] = [];
  const breaches: string[] = [];
  const watcher = await store.watch(options, (batch) => {
    if (batch.full) {
      fulls.push(batch);
      for (const k of map.keys()) if (!batch.changes.has(k)) breaches.push(k);
    }
    for (const [k, v] of batch.changes) {
      if (v === undefined) map.delete(k);
      else map.set(k, v);
    }
  });
  t.after(() => watcher.stop());
  return { map, fulls, breaches, watcher };
}

/** Waits until `check` holds (polling, with a deadline). */
function until(what: string, check: () => boolean | Promise<boolean>, ms?: number): Promise<true> {
  return waitFor(what, async () => ((await check()) ? true : undefined), ms);
}

const sorted = (m: Map<string, unknown>): [string, unknown][] => [...m].sort(([a], [b]) => a.localeCompare(b));

/** Connections the store opened (the shared one and any watcher's), as the server sees them. */
async function storeConnections(client: Redis): Promise<number> {
  const list = (await client.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((l) => / name=plexus-store /.test(l)).length;
}

describe('store.watch', () => {
  test('hashes: first load, then changes, deletes, expiries, renames, other types and accept', async (t) => {
    const redis = await redisFor(t, { notify: 'KA' });
    const c = redis.client();
    await c.hset('zone:a', 'x', '1');
    await c.hset('zone:skip', 'x', '1');
    await c.rpush('zone:list', 'x');
    await c.hset('other', 'x', '1');
    const { store } = await storeOn(t, redis.port);
    const v = await watchInto(t, store, { patterns: ['zone:*'], kind: 'hash', accept: (k) => k !== 'zone:skip' });
    // Resolved after the first load: the view is there without waiting.
    assert.deepEqual(sorted(v.map), [['zone:a', { x: '1' }]]);
    assert.equal(v.fulls.length, 1);
    assert.equal(v.watcher.status().mode, 'keyspace');

    await c.hset('zone:b', 'y', '2');
    await c.hset('zone:a', 'x', '3');
    await c.hset('zone:skip', 'x', '4');
    await until('new and changed hashes', () => v.map.get('zone:a')?.x === '3' && v.map.get('zone:b')?.y === '2');
    await c.rename('zone:b', 'zone:c');
    await until('rename', () => !v.map.has('zone:b') && v.map.get('zone:c')?.y === '2');
    await c.pexpire('zone:c', 20);
    await until('expiry', () => !v.map.has('zone:c'));
    await c.set('zone:a', 'now a string');
    await until('a hash replaced by a string reads as absent', () => !v.map.has('zone:a'));
    await c.hset('zone:d', 'z', '5');
    await c.hdel('zone:d', 'z');
    await c.hset('zone:e', 'z', '6');
    await until('last write', () => v.map.has('zone:e'));
    assert.deepEqual(sorted(v.map), [['zone:e', { z: '6' }]]);
    assert.equal(v.watcher.status().keys, 1);
    assert.ok(v.watcher.status().keyReads >= 8);
  });

  test('string keys such as tcprouter services; an empty string is a value', async (t) => {
    const redis = await redisFor(t, { notify: 'KA' });
    const c = redis.client();
    await c.set('/tcprouter/service/a', '{"addr":"10.0.0.1:443"}');
    await c.hset('/tcprouter/service/h', 'f', 'v');
    const { store } = await storeOn(t, redis.port);
    const v = await watchInto(t, store, { patterns: ['/tcprouter/service/*'], kind: 'string' });
    assert.deepEqual(sorted(v.map), [['/tcprouter/service/a', '{"addr":"10.0.0.1:443"}']]);
    await c.set('/tcprouter/service/b', '');
    await c.set('/tcprouter/service/a', '{"addr":"10.0.0.2:443"}');
    await until('string changes', () => v.map.get('/tcprouter/service/a') === '{"addr":"10.0.0.2:443"}' && v.map.get('/tcprouter/service/b') === '');
    await c.del('/tcprouter/service/a');
    await until('string delete', () => !v.map.has('/tcprouter/service/a'));
    assert.deepEqual(v.breaches, []);
  });

  test('more keys than one read takes (500): every string and hash is delivered, at the first load and at re-reads', async (t) => {
    const redis = await redisFor(t, { notify: 'KA' });
    const c = redis.client();
    const N = 1234;
    const p = c.pipeline();
    for (let i = 0; i < N; i++) p.set(`/tcprouter/service/s${i}`, `v${i}`).hset(`zone:h${i}`, 'f', `v${i}`);
    // A key of the other type in the middle of each: read as absent, not as an error.
    p.del('/tcprouter/service/s617', 'zone:h617').hset('/tcprouter/service/s617', 'f', 'a hash now').set('zone:h617', 'a string now');
    await p.exec();
    const { store } = await storeOn(t, redis.port);
    const strings = await watchInto(t, store, { patterns: ['/tcprouter/service/*'], kind: 'string', resyncMs: 50 });
    const hashes = await watchInto(t, store, { patterns: ['zone:*'], kind: 'hash', resyncMs: 50 });
    for (const v of [strings, hashes]) assert.equal(v.map.size, N - 1);
    assert.equal(strings.map.get('/tcprouter/service/1233'), undefined);
    assert.equal(strings.map.get('/tcprouter/service/s1233'), 'v1233');
    assert.equal(strings.map.has('/tcprouter/service/s617'), false);
    assert.deepEqual(hashes.map.get('zone:h0'), { f: 'v0' });
    assert.equal(hashes.map.has('zone:h617'), false);
    // Between re-reads a key is deleted and one is changed by a string that was a hash.
    await c.multi().del('/tcprouter/service/s1000').del('/tcprouter/service/s617').set('/tcprouter/service/s617', 'a string again').exec();
    const fulls = strings.fulls.length;
    await until('both changes', () => !strings.map.has('/tcprouter/service/s1000') && strings.map.get('/tcprouter/service/s617') === 'a string again');
    await until('re-reads after them', () => strings.fulls.length >= fulls + 2 && hashes.fulls.length >= 3);
    assert.equal(strings.map.size, N - 1);
    assert.equal(strings.map.get('/tcprouter/service/s617'), 'a string again');
    assert.equal(hashes.map.size, N - 1);
    for (const v of [strings, hashes]) assert.deepEqual(v.breaches, []);
  });

  test('notifications off: turned on with CONFIG SET', async (t) => {
    const redis = await redisFor(t, { notify: '' });
    const c = redis.client();
    const { store } = await storeOn(t, redis.port);
    const v = await watchInto(t, store, { patterns: ['k:*'], kind: 'string' });
    assert.equal(v.watcher.status().mode, 'keyspace');
    assert.match(((await c.config('GET', 'notify-keyspace-events')) as string[])[1]!, /K/);
    await c.set('k:1', 'one');
    await until('event-driven change', () => v.map.get('k:1') === 'one');
  });

  test('CONFIG renamed away: periodic re-scans instead', async (t) => {
    const redis = await redisFor(t, { notify: '', args: ['--rename-command', 'CONFIG', ''] });
    const c = redis.client();
    await c.set('k:1', 'one');
    const { log, records } = recordingLogger();
    const { store } = await storeOn(t, redis.port);
    const v = await watchInto(t, store, { patterns: ['k:*'], kind: 'string', pollMs: 100, log });
    assert.equal(v.watcher.status().mode, 'poll');
    assert.ok(records.some((r) => r.level === 'warn' && /re-scanning periodically/.test(r.msg)));
    await c.set('k:1', 'uno');
    await c.set('k:2', 'two');
    await until('polled change', () => v.map.get('k:1') === 'uno' && v.map.get('k:2') === 'two');
    await c.del('k:1');
    await until('polled delete', () => !v.map.has('k:1'));
    assert.deepEqual(v.breaches, []);
  });

  test('FLUSHALL, which sends no key events, is caught by the periodic re-read', async (t) => {
    const redis = await redisFor(t, { notify: 'KA' });
    const c = redis.client();
    await c.mset('k:1', 'one', 'k:2', 'two');
    const { store } = await storeOn(t, redis.port);
    const v = await watchInto(t, store, { patterns: ['k:*'], kind: 'string', resyncMs: 200 });
    assert.equal(v.map.size, 2);
    await c.flushall();
    await until('flushed keys gone', () => v.map.size === 0);
    // Keys the consumer held and that are gone come in a full batch as undefined.
    assert.ok(v.fulls.some((b) => JSON.stringify(sorted(b.changes)) === JSON.stringify([['k:1', undefined], ['k:2', undefined]])));
  });

  test('the subscriber connection killed: everything is read again once it is back', async (t) => {
    const redis = await redisFor(t, { notify: 'KA' });
    const c = redis.client();
    await c.set('k:1', 'one');
    const { store } = await storeOn(t, redis.port);
    const v = await watchInto(t, store, { patterns: ['k:*'], kind: 'string' });
    // The write lands while the subscription is gone, so its event is lost: only the re-read sees it.
    await c.multi().call('CLIENT', 'KILL', 'TYPE', 'pubsub').set('k:1', 'uno').exec();
    await until('full re-read after the reconnect', () => v.map.get('k:1') === 'uno');
    assert.equal(v.watcher.status().fullSyncs, 2);
    await c.set('k:2', 'two');
    await until('events flow again', () => v.map.get('k:2') === 'two');
  });

  test('the server restarts empty: last copy kept meanwhile, outage logged once, then re-read', async (t) => {
    const first = await startRedis({ notify: 'KA', tmpPrefix: 'plexus-store-watch-' });
    t.after(() => first.stop());
    const port = first.port;
    await first.client().set('k:1', 'one');
    const { log, records } = recordingLogger();
    const { store } = await storeOn(t, port);
    const v = await watchInto(t, store, { patterns: ['k:*'], kind: 'string', resyncMs: 100, log });
    await first.stop();
    await until('reads failing', () => v.watcher.status().errors >= 3);
    assert.deepEqual(sorted(v.map), [['k:1', 'one']]);
    // Same port again: redis takes the last --port it is given.
    await redisFor(t, { notify: 'KA', args: ['--port', String(port)] });
    const c = new Redis({ port, maxRetriesPerRequest: 1 });
    t.after(() => c.disconnect());
    await c.set('k:2', 'two');
    await until('the new server read', () => v.map.size === 1 && v.map.get('k:2') === 'two');
    assert.equal(records.filter((r) => r.level === 'warn' && /failed/.test(r.msg)).length, 1);
    assert.ok(records.some((r) => r.level === 'info' && /works again/.test(r.msg)));
    assert.deepEqual(v.breaches, []);
  });

  test('a full sync from a master, which sends no key events, is re-read within seconds', async (t) => {
    // Redis 7 waits 5 s before a diskless full sync by default, to batch replicas; not here.
    const masterArgs = ['--repl-diskless-sync-delay', '0'];
    const master = await startRedis({ notify: 'KA', args: masterArgs, tmpPrefix: 'plexus-store-watch-' });
    t.after(() => master.stop());
    const replica = await redisFor(t, { notify: 'KA' });
    await master.client().mset('k:1', 'one', 'k:2', 'two');
    const r = replica.client();
    await r.mset('k:1', 'mine', 'k:stray', 'x');
    const { store } = await storeOn(t, replica.port);
    // No periodic re-read within the test: only the replication check can notice a full sync.
    const v = await watchInto(t, store, { patterns: ['k:*'], kind: 'string', resyncMs: 600_000 });
    assert.deepEqual(sorted(v.map), [['k:1', 'mine'], ['k:stray', 'x']]);

    // A store that becomes a replica takes the master's data in one full sync.
    await r.replicaof('127.0.0.1', String(master.port));
    await until('the master\'s data', () => sorted(v.map).join() === 'k:1,one,k:2,two', 8_000);
    await master.client().set('k:2', 'zwei');
    await until('replicated writes fire events', () => v.map.get('k:2') === 'zwei');

    // The master restarts empty (a new replication id): the replica full-syncs again.
    const fulls = v.fulls.length;
    const port = master.port;
    await master.stop();
    // Same port again: redis takes the last --port it is given.
    await redisFor(t, { notify: 'KA', args: [...masterArgs, '--port', String(port)] });
    const m = new Redis({ port, maxRetriesPerRequest: 1 });
    t.after(() => m.disconnect());
    await m.set('k:3', 'three');
    await until('the restarted master\'s data', () => sorted(v.map).join() === 'k:3,three', 8_000);
    assert.ok(v.fulls.length > fulls, 'the change came with a full re-read');
    assert.deepEqual(v.breaches, []);
  });

  test('stop() closes the watcher connection; the store stops watchers still open', async (t) => {
    const redis = await redisFor(t, { notify: 'KA' });
    const c = redis.client();
    const { instance, store } = await storeOn(t, redis.port);
    assert.equal(await storeConnections(c), 1);
    const a = await store.watch({ patterns: ['a:*'], kind: 'string' }, () => undefined);
    await store.watch({ patterns: ['b:*'], kind: 'hash' }, () => undefined);
    assert.equal(await storeConnections(c), 3);
    await Promise.all([a.stop(), a.stop()]);
    await a.stop();
    await until('one subscriber closed', async () => (await storeConnections(c)) === 2);
    await instance.stop();
    await until('all closed', async () => (await storeConnections(c)) === 0);
  });

  test('watch() rejects with ERR_UNAVAILABLE when the first load fails', async (t) => {
    const redis = await redisFor(t, { notify: 'KA' });
    const { store } = await storeOn(t, redis.port);
    await redis.stop();
    await assert.rejects(store.watch({ patterns: ['k:*'], kind: 'string' }, () => undefined), { code: 'ERR_UNAVAILABLE' });
  });
});
