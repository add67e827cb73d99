import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, statfs } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, openSealed, toHex, type Ed25519KeyPair, type InstanceDetails, type LeaseResult, type StoreCapability } from '@plexus/core';
import { codeOf, startPlugin, type FakeContext } from '@plexus/core/testing';
import { LEASE_PROTOCOL, plugin as overlayPlugin } from '@plexus/plugin-ledger-overlay';
import { HOST_LABEL, plugin as hostingPlugin, type HostingService } from '@plexus/plugin-hosting';
import { dockerApi, ensureDockerd, ensureTestImage, type Dockerd } from './lib/dockerd.js';
import { startTestStore } from './lib/test-store.js';

/**
 * The hosting plugin on a real dockerd and a real store, requests through the real overlay lease
 * source (its RPC methods, called as the RPC server would after the envelope checks): instances
 * answer on their ports, limits are what Docker enforces, expiry and termination leave nothing,
 * refusals leave nothing, and a restart reconciles.
 */

let docker: Dockerd;
let image: string;
let brokenImage: string;
let store: StoreCapability;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  docker = await ensureDockerd();
  image = await ensureTestImage(docker.socket);
  // An image whose command fails at once: what a tenant's broken image looks like to the host.
  brokenImage = 'plexus-test/broken:1';
  const created = await dockerApi(docker.socket, 'POST', `/containers/create?name=plexus-broken-src-${randomBytes(3).toString('hex')}`, { Image: image, Cmd: ['/bin/sh', '-c', 'exit 3'] });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const id = created.json.Id as string;
  const committed = await dockerApi(docker.socket, 'POST', `/commit?container=${id}&repo=plexus-test/broken&tag=1`, {});
  assert.equal(committed.status, 201, JSON.stringify(committed.json));
  await dockerApi(docker.socket, 'DELETE', `/containers/${id}?force=true`);
  const s = await startTestStore('plexus-hosting');
  store = s.store;
  cleanups.push(s.stop);
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await docker?.stop();
});

/** `n` consecutive free TCP ports on 127.0.0.1, twice over (peer and user ranges). */
async function portRanges(n: number): Promise<{ peer: number; user: number }> {
  const free = (p: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (;;) {
    // Below the kernel's ephemeral range (32768+), so no outgoing connection takes one meanwhile.
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let ok = true;
    for (let i = 0; i < 2 * n + 2 && ok; i++) ok = await free(base + i);
    if (ok) return { peer: base, user: base + n + 1 };
  }
}

interface TestHost {
  ctx: FakeContext<unknown>;
  overlay: FakeContext<unknown>;
  service: HostingService;
  hostId: string;
  dataDir: string;
  ports: { peer: number; user: number };
  acquire(tenant: Ed25519KeyPair, params?: Record<string, unknown>): Promise<{ result: Extract<LeaseResult, { kind: 'acquire' }>; details: InstanceDetails }>;
  call<T>(method: string, params: unknown, tenant: Ed25519KeyPair): Promise<T>;
  containers(): Promise<{ Id: string; Names: string[]; State: string }[]>;
  stop(): Promise<void>;
}

/** The overlay lease source and the hosting plugin, as a node would run them. */
async function startHost(t: TestContext, config: Record<string, unknown> = {}, reuse?: { hostId: string; dataDir: string; ports: { peer: number; user: number } }): Promise<TestHost> {
  const hostId = reuse?.hostId ?? `test-host-${randomBytes(4).toString('hex')}`;
  const dataDir = reuse?.dataDir ?? (await mkdtemp(join(tmpdir(), 'plexus-hosting-')));
  const ports = reuse?.ports ?? (await portRanges(4));
  const { ctx: overlay, instance: ledgerInstance } = await startPlugin(overlayPlugin, {}, { dataDir: join(dataDir, 'ledger') });
  const ledger = ledgerInstance.capabilities!().ledger!;
  const { ctx, instance } = await startPlugin(
    hostingPlugin,
    { docker: { socket: docker.socket }, capacity: { instances: 4, cpus: 1, memoryMb: 256, diskMb: 256 }, ports, publicHost: 'host.test', bindIp: '127.0.0.1', ...config },
    { dataDir: join(dataDir, 'hosting'), capabilities: { store, ledger }, node: { peerId: hostId } },
  );
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await instance.stop();
    await ledgerInstance.stop();
  };
  // Whatever a test leaves: containers of this host, mounts and files, records.
  t.after(async () => {
    await stop();
    const left = await dockerApi(docker.socket, 'GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${HOST_LABEL}=${hostId}`] }))}`);
    for (const c of (left.json ?? []) as { Id: string }[]) await dockerApi(docker.socket, 'DELETE', `/containers/${c.Id}?force=true&v=true`);
    const { execFile } = await import('node:child_process');
    const mounts = (await import('node:fs/promises').then((fs) => fs.readFile('/proc/mounts', 'utf8'))).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dataDir));
    for (const m of mounts) await new Promise((r) => execFile('umount', ['-l', m], r));
    if (reuse === undefined) await rm(dataDir, { recursive: true, force: true });
    await store.redis.del(`hosting:${hostId}:leases`);
  });
  const call = <T>(method: string, params: unknown, tenant: Ed25519KeyPair): Promise<T> => overlay.call<T>(LEASE_PROTOCOL, method, params, { signer: toHex(tenant.publicKey) });
  return {
    ctx: ctx as FakeContext<unknown>,
    overlay: overlay as FakeContext<unknown>,
    service: instance as HostingService,
    hostId,
    dataDir,
    ports,
    call,
    async acquire(tenant, params = {}) {
      const result = await call<Extract<LeaseResult, { kind: 'acquire' }>>('lease_acquire', { image, duration_seconds: 3600, config: { hello: 'world' }, ...params }, tenant);
      const details = JSON.parse(Buffer.from(openSealed(result.instance, tenant)).toString()) as InstanceDetails;
      return { result, details };
    },
    async containers() {
      const r = await dockerApi(docker.socket, 'GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${HOST_LABEL}=${hostId}`] }))}`);
      return r.json as { Id: string; Names: string[]; State: string }[];
    },
    stop,
  };
}

async function get(port: number, path = '/'): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const portFree = (p: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
  });

test('acquire: the instance answers on its user port with the tenant config; limits, ports and disk are what the lease says; only its tenant extends or terminates; terminate leaves nothing', { timeout: 120_000 }, async (t) => {
  const h = await startHost(t);
  const tenant = generateKeyPair();
  const other = generateKeyPair();
  const { result, details } = await h.acquire(tenant, { config: { greeting: 'hi from the tenant' }, contract_id: 'c0ffee-1' });
  assert.equal(details.host, 'host.test');
  assert.deepEqual([details.peerPort, details.userPort], [h.ports.peer, h.ports.user], 'the first slot of each range');
  assert.equal(details.contractId, 'c0ffee-1');
  assert.match(details.pubkey, /^[0-9a-f]{64}$/);
  assert.throws(() => openSealed(result.instance, other), (e: Error & { code?: string }) => e.code === 'ERR_DECRYPT', 'only the tenant opens the details');
  const page = await waitFor('the instance answering', () => get(details.userPort));
  assert.equal(page.status, 200);
  assert.match(page.body, new RegExp(`instance ${details.name} ok`));
  assert.match((await get(details.userPort, '/config.json'))!.body, /hi from the tenant/);
  // Limits as Docker applies them: an equal share of the capacity (1 CPU, 256 MB, 256 MB disk over 4).
  const inspect = (await dockerApi(docker.socket, 'GET', `/containers/${details.name}/json`)).json;
  assert.equal(inspect.HostConfig.Memory, 64 * 1024 * 1024);
  assert.equal(inspect.HostConfig.NanoCpus, 250_000_000);
  assert.equal(inspect.HostConfig.ReadonlyRootfs, true);
  assert.deepEqual(Object.keys(inspect.HostConfig.PortBindings).sort(), [`${details.peerPort}/tcp`, `${details.userPort}/tcp`].sort(), 'only its two ports are published');
  const data = inspect.Mounts.find((m: { Destination: string }) => m.Destination === '/data');
  assert.ok(data !== undefined, 'its data dir is mounted at /data');
  const fs = await statfs(data.Source);
  const sizeMb = (fs.blocks * fs.bsize) / 1024 / 1024;
  assert.ok(sizeMb > 40 && sizeMb <= 64, `its disk is its 64 MB share (an ext4 image): ${sizeMb.toFixed(1)} MB`);
  // Extend: only the tenant; the expiry moves.
  assert.equal(await codeOf(h.call('lease_extend', { lease_id: details.leaseId, duration_seconds: 60 }, other)), 'ERR_FORBIDDEN');
  const ext = await h.call<{ expiresAt: string }>('lease_extend', { lease_id: details.leaseId, duration_seconds: 60 }, tenant);
  assert.equal(Date.parse(ext.expiresAt) - Date.parse(details.expiresAt), 60_000);
  assert.equal(await codeOf(h.call('lease_terminate', { lease_id: details.leaseId }, other)), 'ERR_FORBIDDEN');
  assert.equal(await codeOf(h.call('lease_terminate', { lease_id: 'nope' }, tenant)), 'ERR_NOT_FOUND');
  const list = (await h.service.adminActions().list!({})) as { instances: { name: string }[] };
  assert.deepEqual(list.instances.map((i) => i.name), [details.name]);
  await h.call('lease_terminate', { lease_id: details.leaseId }, tenant);
  assert.deepEqual(await h.containers(), [], 'the container is gone');
  assert.ok(!existsSync(data.Source), 'its data is gone');
  assert.ok(await portFree(details.userPort) && (await portFree(details.peerPort)), 'its ports are free');
  assert.equal(await store.redis.hlen(`hosting:${h.hostId}:leases`), 0, 'its record is gone');
});

test('expiry destroys the container, its data and its ports; a freed pair of ports is reused first', { timeout: 120_000 }, async (t) => {
  const h = await startHost(t);
  const tenant = generateKeyPair();
  const short = await h.acquire(tenant, { duration_seconds: 2 });
  const long = await h.acquire(tenant);
  assert.deepEqual([short.details.userPort, long.details.userPort], [h.ports.user, h.ports.user + 1]);
  await waitFor('the short lease to expire', async () => ((await h.service.status()).counters as { expired: number }).expired === 1, 15_000);
  assert.equal((await h.containers()).length, 1);
  assert.ok(!existsSync(join(h.dataDir, 'hosting', 'instances', short.details.name)), 'its directory is gone');
  assert.ok(await portFree(short.details.userPort));
  const next = await h.acquire(tenant);
  assert.equal(next.details.userPort, h.ports.user, 'the freed slot is taken again before a new one');
});

test('capacity exhausted, an image the host lacks or does not offer, an image that fails at start, a lease too long: clear refusals, nothing half-created', { timeout: 180_000 }, async (t) => {
  const h = await startHost(t, { capacity: { instances: 2, cpus: 1, memoryMb: 128, diskMb: 128 }, maxLeaseSeconds: 3600 });
  const tenant = generateKeyPair();
  await h.acquire(tenant);
  await h.acquire(tenant);
  assert.equal(await codeOf(h.acquire(tenant)), 'ERR_HOSTING_CAPACITY');
  assert.equal((await h.containers()).length, 2);
  const h2 = await startHost(t, { images: ['plexus-test/*'], maxLeaseSeconds: 3600 });
  assert.equal(await codeOf(h2.acquire(tenant, { image: 'debian:12' })), 'ERR_HOSTING_IMAGE', 'not offered');
  assert.equal(await codeOf(h2.acquire(tenant, { image: 'plexus-test/missing:1' })), 'ERR_HOSTING_IMAGE', 'offered but not present');
  assert.equal(await codeOf(h2.acquire(tenant, { duration_seconds: 7200 })), 'ERR_HOSTING_LEASE_TOO_LONG');
  assert.equal(await codeOf(h2.acquire(tenant, { image: brokenImage })), 'ERR_HOSTING_PROVISION');
  assert.equal(await codeOf(h2.call('lease_acquire', { image, duration_seconds: 60, config: { x: 'y'.repeat(70_000) } }, tenant)), 'ERR_PARAMS_INVALID', 'a config over 64 KB');
  assert.deepEqual(await h2.containers(), [], 'no container left');
  assert.deepEqual(await readdir(join(h2.dataDir, 'hosting', 'instances')), [], 'no directory left');
  assert.equal(await store.redis.hlen(`hosting:${h2.hostId}:leases`), 0, 'no record left');
  assert.ok(await portFree(h2.ports.user), 'the port is free again');
  const ok = await h2.acquire(tenant);
  assert.equal(ok.details.userPort, h2.ports.user, 'the slot of the failed attempt is used by the next lease');
});

test('restart: missing containers are recreated, orphans removed, an unfinished provisioning rolled back, expiry timers resumed', { timeout: 180_000 }, async (t) => {
  const h = await startHost(t);
  const tenant = generateKeyPair();
  const kept = await h.acquire(tenant);
  const lost = await h.acquire(tenant);
  const expiring = await h.acquire(tenant, { duration_seconds: 6 });
  await h.stop();
  // While the node is down: one container disappears, a stranger with our label appears, and a
  // provisioning record is left as a crash mid-acquire would leave it.
  await dockerApi(docker.socket, 'DELETE', `/containers/${lost.details.name}?force=true`);
  const orphan = await dockerApi(docker.socket, 'POST', '/containers/create?name=plexus-orphan-' + h.hostId, { Image: image, Labels: { [HOST_LABEL]: h.hostId } });
  assert.equal(orphan.status, 201);
  await store.redis.hset(`hosting:${h.hostId}:leases`, 'deadbeefdeadbeef', JSON.stringify({ leaseId: 'deadbeefdeadbeef', name: 'sashi-deadbeefdeadbeef', tenant: toHex(tenant.publicKey), image, contractId: 'x', config: {}, createdAt: Date.now(), expiresAt: Date.now() + 3_600_000, state: 'provisioning', slot: 3, peerPort: h.ports.peer + 3, userPort: h.ports.user + 3, pubkey: '00'.repeat(32) }));
  const again = await startHost(t, {}, { hostId: h.hostId, dataDir: h.dataDir, ports: h.ports });
  const rc = ((await again.service.status()).counters as { reconcile: Record<string, number> }).reconcile;
  assert.deepEqual([rc.recreated, rc.orphanContainers, rc.rolledBack], [1, 1, 1], JSON.stringify(rc));
  const names = (await again.containers()).map((c) => c.Names[0]!.slice(1)).sort();
  assert.deepEqual(names, [kept.details.name, lost.details.name, expiring.details.name].sort());
  assert.match((await waitFor('the recreated instance', () => get(lost.details.userPort)))!.body, /ok/);
  assert.match((await get(kept.details.userPort))!.body, /ok/, 'the kept one never stopped');
  await waitFor('the resumed timer to expire the short lease', async () => (await store.redis.hlen(`hosting:${h.hostId}:leases`)) === 2, 20_000);
  assert.equal((await again.containers()).length, 2);
});

test('perInstanceUser: each instance runs as its own sashipx user, owner of its /data; the user goes with the instance', { timeout: 120_000 }, async (t) => {
  const h = await startHost(t, { perInstanceUser: true });
  const tenant = generateKeyPair();
  const { details } = await h.acquire(tenant);
  const user = `sashipx${details.leaseId}`;
  const passwd = await import('node:fs/promises').then((fs) => fs.readFile('/etc/passwd', 'utf8'));
  const entry = passwd.split('\n').find((l) => l.startsWith(`${user}:`));
  assert.ok(entry !== undefined, `${user} exists`);
  const [, , uid, gid] = entry.split(':');
  const inspect = (await dockerApi(docker.socket, 'GET', `/containers/${details.name}/json`)).json;
  assert.equal(inspect.Config.User, `${uid}:${gid}`, 'the container runs as that user');
  const data = inspect.Mounts.find((m: { Destination: string }) => m.Destination === '/data');
  const st = await import('node:fs/promises').then((fs) => fs.stat(data.Source));
  assert.equal(String(st.uid), uid, 'and owns its /data');
  assert.match((await waitFor('the instance', () => get(details.userPort)))!.body, /ok/);
  await h.call('lease_terminate', { lease_id: details.leaseId }, tenant);
  const after = await import('node:fs/promises').then((fs) => fs.readFile('/etc/passwd', 'utf8'));
  assert.ok(!after.includes(`${user}:`), 'the user is gone');
});

test('four acquires at once provision in parallel: four distinct slots, four users, all answering', { timeout: 120_000 }, async (t) => {
  const h = await startHost(t, { perInstanceUser: true });
  const tenants = [generateKeyPair(), generateKeyPair(), generateKeyPair(), generateKeyPair()];
  const got = await Promise.all(tenants.map((k) => h.acquire(k)));
  assert.deepEqual(got.map((g) => g.details.userPort).sort(), [0, 1, 2, 3].map((i) => h.ports.user + i));
  for (const g of got) assert.match((await waitFor('an instance', () => get(g.details.userPort)))!.body, /ok/);
  assert.equal(await codeOf(h.acquire(generateKeyPair())), 'ERR_HOSTING_CAPACITY');
  await Promise.all(got.map((g, i) => h.call('lease_terminate', { lease_id: g.details.leaseId }, tenants[i]!)));
  assert.deepEqual(await h.containers(), []);
  const passwd = await import('node:fs/promises').then((fs) => fs.readFile('/etc/passwd', 'utf8'));
  for (const g of got) assert.ok(!passwd.includes(`sashipx${g.details.leaseId}:`));
});
