import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { ZONE_CHANGE_STREAM, silentLogger, type StoreCapability } from '@plexus/core';
import { startPlugin, startRedis } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { ZoneFeed } from '../src/zone-feed.js';

/**
 * `/events`'s zone records, against a real redis-server through the store plugin: a gateway-style
 * write (the field and its change-stream entry in one transaction) is read as that one field;
 * changes without an entry (redis-cli HSET/HDEL, FLUSHALL, entries trimmed unread) are found by the
 * periodic check; the zone as it was at start is no event.
 */

const KEY = 'gateway.tf.';
const A = (ip: string): string => JSON.stringify({ a: [{ ip, ttl: 300 }] });

interface Seen {
  zone: string;
  field: string;
  value: string | undefined;
}

async function setUp(t: TestContext, checkMs: number, before: (c: Redis) => Promise<void> = async () => {}) {
  const redis = await startRedis({ tmpPrefix: 'plexus-api-feed-' });
  t.after(() => redis.stop());
  const dir = await mkdtemp(join(tmpdir(), 'plexus-api-feed-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { instance } = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${redis.port}` }, { dataDir: dir, after: (fn) => void t.after(fn) });
  const store: StoreCapability = instance.capabilities!().store!;
  const c = redis.client();
  await before(c);
  const events: Seen[] = [];
  const feed = new ZoneFeed(store, { zones: ['gateway.tf'], stream: ZONE_CHANGE_STREAM, checkMs, log: silentLogger(), onChange: (zone, field, value) => void events.push({ zone, field, value }) });
  await feed.start();
  t.after(() => feed.stop());
  return { c, feed, events };
}

/** What the gateway's script does for one field: the field and its stream entry, atomically. */
async function gatewayWrite(c: Redis, field: string, value: string | undefined): Promise<void> {
  const m = c.multi();
  if (value === undefined) m.hdel(KEY, field);
  else m.hset(KEY, field, value);
  await m.xadd(ZONE_CHANGE_STREAM, 'MAXLEN', '~', 100_000, '*', 'k', KEY, 'f', field).exec();
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('gateway writes are read one field each; the zone at start is no event; a rewrite of the same value is none either', async (t) => {
  const { c, feed, events } = await setUp(t, 60_000, async (c) => {
    const p = c.pipeline();
    for (let i = 0; i < 5000; i++) p.hset(KEY, `n${i}`, A('10.0.0.1'));
    await p.exec();
    await gatewayWrite(c, 'old', A('10.0.0.2'));
  });
  assert.deepEqual(events, [], 'what the zone held at start is the state, not a change');
  await gatewayWrite(c, 'alice', A('10.1.1.1'));
  await gatewayWrite(c, 'n7', A('10.1.1.7'));
  await gatewayWrite(c, 'n7', A('10.1.1.7'));
  await gatewayWrite(c, 'n8', undefined);
  await until('four stream entries read', () => feed.stats.streamEntries === 4);
  assert.deepEqual(events, [
    { zone: 'gateway.tf', field: 'alice', value: A('10.1.1.1') },
    { zone: 'gateway.tf', field: 'n7', value: A('10.1.1.7') },
    { zone: 'gateway.tf', field: 'n8', value: undefined },
  ]);
  assert.equal(feed.stats.fieldReads, 4, 'each entry read its field, never the 5,000-field hash');
  assert.equal(feed.stats.checks, 1, 'only the check at start read the hash');
});

test('changes without a stream entry are found by the check: HSET, HDEL, a new hash, FLUSHALL', async (t) => {
  const { c, feed, events } = await setUp(t, 100, async (c) => {
    await c.hset(KEY, 'a', A('10.0.0.1'), 'b', A('10.0.0.2'));
  });
  await c.hset(KEY, 'a', A('10.9.9.9'));
  await c.hdel(KEY, 'b');
  await c.hset('bob.gateway.tf.', 'www', A('10.0.0.3'));
  await c.hset('other.example.', 'x', A('10.0.0.4'));
  await until('three changes', () => events.length >= 3);
  assert.deepEqual(
    [...events].sort((x, y) => x.field.localeCompare(y.field)),
    [
      { zone: 'gateway.tf', field: 'a', value: A('10.9.9.9') },
      { zone: 'gateway.tf', field: 'b', value: undefined },
      { zone: 'bob.gateway.tf', field: 'www', value: A('10.0.0.3') },
    ].sort((x, y) => x.field.localeCompare(y.field)),
    'a hash outside the zones is not watched',
  );
  const checks = feed.stats.checks;
  await c.flushall();
  await until('FLUSHALL: every field gone', () => events.length === 5);
  assert.deepEqual(events.slice(3).map((e) => [e.field, e.value]).sort(), [['a', undefined], ['www', undefined]]);
  assert.ok(feed.stats.checks > checks);
});

test('stream entries trimmed before they were read: the change is found without waiting for the next check', async (t) => {
  const { c, feed, events } = await setUp(t, 3_600_000);
  // In one transaction, as when the feed fell more than the stream's length behind: a hand-written
  // field, three gateway writes, and a trim that leaves only the last entry to read.
  const m = c.multi().hset(KEY, 'lost', A('10.0.0.9'));
  for (let i = 0; i < 3; i++) m.hset(KEY, `w${i}`, A('10.0.0.1')).xadd(ZONE_CHANGE_STREAM, '*', 'k', KEY, 'f', `w${i}`);
  await m.xtrim(ZONE_CHANGE_STREAM, 'MAXLEN', 1).exec();
  await until('every change found', () => ['lost', 'w0', 'w1', 'w2'].every((f) => events.some((e) => e.field === f)));
  assert.equal(feed.stats.streamEntries, 1, 'only the entry left was read from the stream');
  assert.ok(feed.stats.checks >= 2, 'a check after the one at start, long before the hour of checkMs');
});
