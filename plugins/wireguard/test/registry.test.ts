import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreCapability } from '@plexus/core';
import { codeOf, startPlugin, startRedis, type RedisServer } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { WIREGUARD_PROTOCOL, plugin } from '../src/index.js';
import type { JoinResult, MembersView } from '../src/records.js';

/**
 * The registry side on a fake context with a real store (the store plugin in external mode on a
 * throw-away redis-server): address allocation, membership rules, the long poll. The registry node's
 * own key is the fake context's (`00`×32); members are other signers.
 */
let server: RedisServer | undefined;
let dir: string | undefined;

before(async () => {
  server = await startRedis({ tmpPrefix: 'plexus-wg-redis-' });
  dir = await mkdtemp(join(tmpdir(), 'plexus-wg-'));
});

after(async () => {
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const signer = (): string => randomBytes(32).toString('hex');
/** A valid WireGuard public key (any 32 bytes in base64). */
const wgKey = (): string => randomBytes(32).toString('base64');

const REGISTRY = {
  registry: {
    redis: { cidr: '10.1.0.0/24' },
    tiny: { cidr: '10.9.0.0/30', allow: undefined },
    main: { cidr: '10.2.0.0/24', topology: { hub: 'dns1' } },
    closed: { cidr: '10.3.0.0/24', allow: ['ab'.repeat(32)] },
  },
};

async function startRegistry(t: TestContext, flush = true) {
  const cleanup = (fn: () => Promise<void>): void => void t.after(fn);
  const { instance: storeInstance } = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${server!.port}` }, { dataDir: dir!, after: cleanup });
  const store = storeInstance.capabilities?.().store as StoreCapability;
  if (flush) await store.redis.flushdb();
  const { ctx, instance } = await startPlugin(plugin, JSON.parse(JSON.stringify(REGISTRY)), { dataDir: dir!, capabilities: { store }, after: cleanup });
  const join = (network: string, who: string, name: string, extra: Record<string, unknown> = {}): Promise<JoinResult> =>
    ctx.call<JoinResult>(WIREGUARD_PROTOCOL, 'join', { network, name, key: wgKey(), listenPort: 51820, ...extra }, { signer: who });
  const members = (network: string, who: string, since?: number, waitMs?: number): Promise<MembersView> =>
    ctx.call<MembersView>(WIREGUARD_PROTOCOL, 'members', since === undefined ? { network } : { network, since, waitMs }, { signer: who });
  return { ctx, instance, store, join, members };
}

test('addresses: lowest free host, never the network address, stable on re-join and across a registry restart, released on leave', async (t) => {
  const { ctx, join } = await startRegistry(t);
  const [a, b, c] = [signer(), signer(), signer()];
  assert.equal((await join('redis', a, 'dns1')).address, '10.1.0.1');
  assert.equal((await join('redis', b, 'dns2', { endpoint: '203.0.113.7:51820' })).address, '10.1.0.2');
  assert.equal((await join('redis', c, 'dns3')).address, '10.1.0.3');
  // Re-join with a new key and endpoint: same address.
  assert.equal((await join('redis', a, 'dns1', { endpoint: 'dns1.example.org:51820' })).address, '10.1.0.1');
  // Leave releases .2; the next newcomer gets it (lowest free), nobody collides.
  await ctx.call(WIREGUARD_PROTOCOL, 'leave', { network: 'redis' }, { signer: b });
  const d = signer();
  assert.equal((await join('redis', d, 'dns4')).address, '10.1.0.2');

  // A restarted registry (new plugin instance, same store) keeps every allocation.
  const again = await startRegistry(t, false);
  assert.equal((await again.join('redis', c, 'dns3')).address, '10.1.0.3');
  const view = await again.members('redis', a);
  assert.deepEqual(view.members.map((m) => [m.name, m.address]), [['dns1', '10.1.0.1'], ['dns4', '10.1.0.2'], ['dns3', '10.1.0.3']]);
  assert.equal(view.members.find((m) => m.name === 'dns1')!.endpoint, 'dns1.example.org:51820');
});

test('a full network refuses with a coded error; /30 holds two hosts', async (t) => {
  const { join } = await startRegistry(t);
  assert.equal((await join('tiny', signer(), 'a')).address, '10.9.0.1');
  assert.equal((await join('tiny', signer(), 'b')).address, '10.9.0.2');
  assert.equal(await codeOf(join('tiny', signer(), 'c')), 'ERR_WIREGUARD_NETWORK_FULL');
});

test('membership rules: unknown network, name and key taken, allow list, unsigned calls, members for members only', async (t) => {
  const { ctx, join, members } = await startRegistry(t);
  const a = signer();
  assert.equal(await codeOf(join('nope', a, 'x')), 'ERR_WIREGUARD_NETWORK_UNKNOWN');
  await join('redis', a, 'dns1');
  assert.equal(await codeOf(join('redis', signer(), 'dns1')), 'ERR_WIREGUARD_NAME_TAKEN');
  const key = wgKey();
  await join('redis', signer(), 'dns2', { key });
  assert.equal(await codeOf(join('redis', signer(), 'dns3', { key })), 'ERR_WIREGUARD_KEY_TAKEN');
  assert.equal(await codeOf(join('closed', signer(), 'x')), 'ERR_WIREGUARD_NOT_ALLOWED');
  assert.equal((await join('closed', 'ab'.repeat(32), 'x')).address, '10.3.0.1');
  assert.equal(await codeOf(ctx.call(WIREGUARD_PROTOCOL, 'join', { network: 'redis', name: 'x', key: wgKey(), listenPort: 1 })), 'ERR_AUTH_REQUIRED');
  assert.equal(await codeOf(members('redis', signer())), 'ERR_WIREGUARD_NOT_MEMBER');
  assert.equal(await codeOf(ctx.call(WIREGUARD_PROTOCOL, 'rotate', { network: 'redis', key: wgKey() }, { signer: signer() })), 'ERR_WIREGUARD_NOT_MEMBER');
  // Params that could reach `wg` are refused before the handler runs.
  for (const bad of [{ key: 'x'.repeat(44) }, { key: `${wgKey()} ` }, { endpoint: '1.2.3.4:51820 allowed-ips 0.0.0.0/0' }, { endpoint: '-o:1' }, { listenPort: 0 }]) {
    assert.equal(await codeOf(join('redis', signer(), 'zz', bad)), 'ERR_PARAMS_INVALID', JSON.stringify(bad));
  }
  // The registry node itself may read every network.
  assert.equal((await members('main', '00'.repeat(32))).members.length, 0);
});

test('an operator removal drops the member and refuses its joins until readmitted', async (t) => {
  const { instance, join, members } = await startRegistry(t);
  const [a, b] = [signer(), signer()];
  await join('main', a, 'dns1');
  await join('main', b, 'dns2');
  const actions = instance.adminActions!();
  await actions.remove!({ network: 'main', member: 'dns2' });
  assert.deepEqual((await members('main', a)).members.map((m) => m.name), ['dns1']);
  assert.equal(await codeOf(join('main', b, 'dns2')), 'ERR_WIREGUARD_REMOVED');
  assert.equal(await codeOf(members('main', b)), 'ERR_WIREGUARD_NOT_MEMBER');
  await actions.readmit!({ network: 'main', member: b });
  assert.equal((await join('main', b, 'dns2')).address, '10.2.0.2');
  assert.equal(await codeOf(actions.remove!({ network: 'main', member: 'ghost' })), 'ERR_NOT_FOUND');
});

test('members long-polls: a change ends the wait at once, no change waits the full time', async (t) => {
  const { join, members, ctx } = await startRegistry(t);
  const a = signer();
  await join('redis', a, 'dns1');
  const v = (await members('redis', a)).version;
  const started = Date.now();
  const waiting = members('redis', a, v, 10_000);
  await join('redis', signer(), 'dns2');
  const changed = await waiting;
  assert.ok(Date.now() - started < 2000, `the change took ${Date.now() - started} ms to arrive`);
  assert.ok(changed.version > v);
  assert.deepEqual(changed.members.map((m) => m.name), ['dns1', 'dns2']);
  const t0 = Date.now();
  const same = await members('redis', a, changed.version, 300);
  assert.ok(Date.now() - t0 >= 250, 'an unchanged poll waits');
  assert.equal(same.version, changed.version);
  await ctx.call(WIREGUARD_PROTOCOL, 'rotate', { network: 'redis', key: wgKey() }, { signer: a });
  assert.ok((await members('redis', a, changed.version, 10_000)).version > changed.version);
});
