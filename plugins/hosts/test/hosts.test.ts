import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreCapability } from '@plexus/core';
import { codeOf, startPlugin, startRedis, type RedisServer } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { HOSTS_PROTOCOL, plugin } from '../src/index.js';

let redis: RedisServer;
let store: StoreCapability;
let dir: string;
const stops: (() => Promise<void>)[] = [];
before(async () => {
  redis = await startRedis({ tmpPrefix: 'plexus-hosts-redis-' });
  dir = await mkdtemp(join(tmpdir(), 'plexus-hosts-'));
  const { instance } = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${redis.port}` }, { dataDir: dir, after: (fn) => void stops.push(fn) });
  store = instance.capabilities!().store!;
});
after(async () => {
  for (const s of stops) await s();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

const report = (free: number, available = true, peer = '12D3KooWTestPeer') => ({
  multiaddrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${peer}`],
  public_host: 'host1.test',
  lease_source: 'overlay',
  capacity: { instances: 8, cpus: 4, memory_mb: 8192, disk_mb: 40960 },
  free_instances: free,
  available,
  images: [],
});

test('a host reports under its own key only; the list shows fresh, free hosts first and can hide the rest', async (t) => {
  await store.redis.flushdb();
  const { ctx } = await startPlugin(plugin, { staleAfterSeconds: 10 }, { dataDir: dir, capabilities: { store }, after: (fn) => void t.after(fn) });
  const A = 'aa'.repeat(32);
  const B = 'bb'.repeat(32);
  assert.equal(await codeOf(ctx.call(HOSTS_PROTOCOL, 'host_report', report(3))), 'ERR_AUTH_REQUIRED');
  await ctx.call(HOSTS_PROTOCOL, 'host_report', report(3, true, '12D3KooWA'), { signer: A, peer: '12D3KooWA' });
  await ctx.call(HOSTS_PROTOCOL, 'host_report', report(8, false, '12D3KooWB'), { signer: B, peer: '12D3KooWB' });
  await ctx.call(HOSTS_PROTOCOL, 'host_report', report(5, true, '12D3KooWA'), { signer: A, peer: '12D3KooWA' });
  const all = await ctx.call<{ hosts: { key: string; free_instances: number; stale: boolean }[] }>(HOSTS_PROTOCOL, 'hosts_list', {});
  assert.deepEqual(all.hosts.map((h) => [h.key, h.free_instances]), [[B, 8], [A, 5]], 'one row per key, the latest report');
  const avail = await ctx.call<{ hosts: { key: string }[] }>(HOSTS_PROTOCOL, 'hosts_list', { available_only: true });
  assert.deepEqual(avail.hosts.map((h) => h.key), [A], 'the draining host is hidden');
  // A report from long ago is stale.
  const row = JSON.parse((await store.redis.hget('hosts:registry', A))!);
  await store.redis.hset('hosts:registry', A, JSON.stringify({ ...row, reported_at: new Date(Date.now() - 60_000).toISOString() }));
  const stale = await ctx.call<{ hosts: { key: string; stale: boolean }[] }>(HOSTS_PROTOCOL, 'hosts_list', {});
  assert.deepEqual(stale.hosts.map((h) => [h.key, h.stale]), [[B, false], [A, true]]);
  assert.equal(await codeOf(ctx.call(HOSTS_PROTOCOL, 'host_report', { ...report(1), multiaddrs: [] }, { signer: A })), 'ERR_PARAMS_INVALID');
});

test("a report cannot point tenants at another node's peer id, and the refused report changes nothing", async (t) => {
  await store.redis.flushdb();
  const { ctx } = await startPlugin(plugin, {}, { dataDir: dir, capabilities: { store }, after: (fn) => void t.after(fn) });
  const A = 'aa'.repeat(32);
  await ctx.call(HOSTS_PROTOCOL, 'host_report', report(3, true, '12D3KooWA'), { signer: A, peer: '12D3KooWA' });
  const hijack = { ...report(9, true, '12D3KooWA'), multiaddrs: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWA', '/ip4/198.51.100.9/tcp/4001/p2p/12D3KooWVictim'] };
  assert.equal(await codeOf(ctx.call(HOSTS_PROTOCOL, 'host_report', hijack, { signer: A, peer: '12D3KooWA' })), 'ERR_PARAMS_INVALID');
  const bare = { ...report(9, true, '12D3KooWA'), multiaddrs: ['/ip4/127.0.0.1/tcp/4001'] };
  assert.equal(await codeOf(ctx.call(HOSTS_PROTOCOL, 'host_report', bare, { signer: A, peer: '12D3KooWA' })), 'ERR_PARAMS_INVALID');
  const { hosts } = await ctx.call<{ hosts: { free_instances: number; multiaddrs: string[] }[] }>(HOSTS_PROTOCOL, 'hosts_list', {});
  assert.deepEqual(hosts.map((h) => [h.free_instances, h.multiaddrs]), [[3, ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWA']]]);
});

test('the list is capped: a new host beyond maxHosts is refused, a known one still reports', async (t) => {
  await store.redis.flushdb();
  const { ctx } = await startPlugin(plugin, { maxHosts: 1 }, { dataDir: dir, capabilities: { store }, after: (fn) => void t.after(fn) });
  await ctx.call(HOSTS_PROTOCOL, 'host_report', report(1), { signer: 'aa'.repeat(32) });
  assert.equal(await codeOf(ctx.call(HOSTS_PROTOCOL, 'host_report', report(1), { signer: 'bb'.repeat(32) })), 'ERR_RATE_LIMITED');
  await ctx.call(HOSTS_PROTOCOL, 'host_report', report(0), { signer: 'aa'.repeat(32) });
});
