import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HOST_LABEL } from '@plexus/plugin-hosting';
import { NodeProcess, freePort, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';
import { dockerApi, ensureDockerd, ensureTestImage, type Dockerd } from './lib/dockerd.js';

const exec = promisify(execFile);

/**
 * A host node and an explorer as real processes, a tenant using the real CLI over libp2p:
 * the host reports to the explorer, `plexus lease acquire` prints the opened details and the
 * instance answers, another key is refused, `plexus instances` shows what runs, a kill -9 during
 * provisioning is reconciled at restart, and `plexus host drain` stops the node.
 */

let docker: Dockerd;
let image: string;
let dir: string;
after(async () => {
  await killAllNodes();
  if (docker !== undefined && hostId !== undefined) {
    const left = await dockerApi(docker.socket, 'GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${HOST_LABEL}=${hostId}`] }))}`);
    for (const c of (left.json ?? []) as { Id: string }[]) await dockerApi(docker.socket, 'DELETE', `/containers/${c.Id}?force=true&v=true`);
  }
  if (dir !== undefined) {
    const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(dir));
    for (const m of mounts) await exec('umount', ['-l', m]).catch(() => undefined);
    await removeDir(dir);
  }
  await docker?.stop();
});
let hostId: string | undefined;

before(async () => {
  docker = await ensureDockerd();
  image = await ensureTestImage(docker.socket);
  dir = await tempDir('plexus-hosting-node-');
});

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function httpBody(port: number): Promise<string | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
    return r.ok ? await r.text() : undefined;
  } catch {
    return undefined;
  }
}

test('tenant and host over the overlay: report, acquire, refuse another key, inspect, kill -9 mid-provisioning, drain', { timeout: 300_000 }, async () => {
  const p = { ex: await freePort(), exRedis: await freePort(), host: await freePort(), hostRedis: await freePort() };
  const explorerFile = await writeConfig(
    dir,
    'explorer',
    `node:\n  name: explorer\n  dataDir: ${join(dir, 'explorer')}\n  listen: [/ip4/127.0.0.1/tcp/${p.ex}]\n  log: { level: info }\nplugins:\n  store: { port: ${p.exRedis} }\n  hosts: {}\n`,
  );
  const explorer = await NodeProcess.start(explorerFile);
  const explorerAddr = explorer.multiaddr;
  // Below the kernel's ephemeral range (32768+), so no outgoing connection sits on an instance port.
  const base = 20_000 + Math.floor(Math.random() * 12_000);
  const hostFile = await writeConfig(
    dir,
    'host',
    `node:
  name: host
  dataDir: ${join(dir, 'host')}
  listen: [/ip4/127.0.0.1/tcp/${p.host}]
  explorer: ${explorerAddr}
  log: { level: info }
plugins:
  store: { port: ${p.hostRedis}, fsync: always }
  ledger-overlay: {}
  hosting:
    docker: { socket: ${docker.socket} }
    capacity: { instances: 3, cpus: 1, memoryMb: 192, diskMb: 192 }
    ports: { peer: ${base}, user: ${base + 10} }
    publicHost: 127.0.0.1
    bindIp: 127.0.0.1
    images: ['plexus-test/*']
    reportEveryMs: 1000
`,
  );
  let host = await NodeProcess.start(hostFile);
  const hostAddr = host.multiaddr;
  hostId = hostAddr.split('/p2p/')[1];

  // The host reported itself: the explorer lists it, with its free slots.
  const listed = await waitFor('the host in the explorer list', async () => {
    const r = await runCli(['hosts', 'list', '--explorer', explorerAddr, '--json']);
    return r.json?.hosts?.find((h: { peer_id: string }) => h.peer_id === hostId);
  });
  assert.equal(listed.free_instances, 3);
  assert.equal(listed.available, true);
  assert.deepEqual(listed.multiaddrs, [hostAddr]);

  // A tenant acquires with the CLI: the opened details, the instance answering with its config.
  const tenantKey = join(dir, 'tenant.key');
  const cfgFile = join(dir, 'contract.json');
  await writeFile(cfgFile, JSON.stringify({ contract: 'counter', round: 3 }));
  const acq = await runCli(['lease', 'acquire', '--host', hostAddr, '--image', image, '--config', cfgFile, '--duration', '2h', '--key', tenantKey, '--json'], {}, 90_000);
  assert.equal(acq.code, 0, acq.stdout + acq.stderr);
  const d = acq.json as { name: string; leaseId: string; userPort: number; peerPort: number; host: string };
  assert.deepEqual([d.host, d.userPort, d.peerPort], ['127.0.0.1', base + 10, base]);
  assert.match((await waitFor('the instance', () => httpBody(d.userPort)))!, new RegExp(`instance ${d.name} ok`));
  const human = await runCli(['instances', 'list', '--config', hostFile]);
  assert.match(human.stdout, new RegExp(`^NAME .*\\n${d.name}\\s+${d.leaseId}\\s+${image.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s+${d.userPort}`, 'm'));
  const insp = await runCli(['instances', 'inspect', d.name, '--config', hostFile, '--json']);
  assert.equal(insp.code, 0, insp.stderr);
  assert.deepEqual(insp.json.config, { contract: 'counter', round: 3 });
  assert.equal(insp.json.container.memoryBytes, 64 * 1024 * 1024);
  assert.equal(insp.json.container.readonlyRootfs, true);

  // Another key cannot end or extend it; the tenant can extend it.
  const mallory = join(dir, 'mallory.key');
  // Mallory's first request makes her key, and is refused: the host has no such image.
  const noImage = await runCli(['lease', 'acquire', '--host', hostAddr, '--image', 'plexus-test/none:1', '--key', mallory, '--json']);
  assert.equal(noImage.json.error.code, 'ERR_HOSTING_IMAGE');
  const forbidden = await runCli(['lease', 'terminate', '--host', hostAddr, '--lease', d.leaseId, '--key', mallory, '--json']);
  assert.equal(forbidden.code, 1);
  assert.equal(forbidden.json.error.code, 'ERR_FORBIDDEN');
  const ext = await runCli(['lease', 'extend', '--host', hostAddr, '--lease', d.leaseId, '--duration', '30m', '--key', tenantKey, '--json']);
  assert.equal(ext.code, 0, ext.stderr);
  assert.ok(Date.parse(ext.json.expiresAt) > Date.now() + 2 * 3600_000);
  await waitFor('the explorer to see one slot taken', async () => {
    const r = await runCli(['hosts', 'list', '--explorer', explorerAddr, '--json']);
    return r.json?.hosts?.find((h: { peer_id: string; free_instances: number }) => h.peer_id === hostId && h.free_instances === 2);
  });

  // kill -9 while a second lease is being provisioned: the record is there, the reply never went out.
  const password = (await readFile(join(dir, 'host', 'store', 'redis.password'), 'utf8')).trim();
  const records = async (): Promise<Record<string, { state: string; name: string }>> => {
    const { stdout } = await exec('redis-cli', ['-p', String(p.hostRedis), '--no-auth-warning', '-a', password, 'HGETALL', `hosting:${hostId}:leases`]);
    const lines = stdout.trim().split('\n').filter((l) => l !== '');
    const out: Record<string, { state: string; name: string }> = {};
    for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i]!] = JSON.parse(lines[i + 1]!);
    return out;
  };
  const pending = runCli(['lease', 'acquire', '--host', hostAddr, '--image', image, '--key', tenantKey, '--json'], {}, 90_000);
  const cut = await waitFor('a lease in provisioning', async () => Object.values(await records()).find((r) => r.state === 'provisioning'), 30_000);
  host.kill('SIGKILL');
  await host.waitExit();
  const lost = await pending;
  assert.notEqual(lost.code, 0, 'the tenant got no instance from the killed host');
  host = await NodeProcess.start(hostFile);
  await host.waitForLog((l) => l.msg === 'hosting: instances reconciled with the lease records', 30_000);
  const after = await records();
  assert.deepEqual(Object.values(after).map((r) => r.name), [d.name], 'the cut provisioning was rolled back, the running lease kept');
  const containers = await dockerApi(docker.socket, 'GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${HOST_LABEL}=${hostId}`] }))}`);
  assert.deepEqual((containers.json as { Names: string[] }[]).map((c) => c.Names[0]), [`/${d.name}`], `nothing of ${cut.name} is left`);
  assert.match((await httpBody(d.userPort))!, /ok/, 'the running instance was never interrupted');

  // Drain with a short deadline: no new leases, the node stops, the instance keeps running.
  const drain = await runCli(['host', 'drain', '--config', hostFile, '--deadline', '2', '--json'], {}, 60_000);
  assert.equal(drain.code, 0, drain.stderr);
  assert.deepEqual([drain.json.drained, drain.json.instancesLeft], [false, [d.name]]);
  const exit = await host.waitExit();
  assert.equal(exit.code, 0, 'the drained node stopped cleanly');
  const draining = await runCli(['hosts', 'list', '--explorer', explorerAddr, '--json']);
  assert.equal(draining.json.hosts.find((h: { peer_id: string }) => h.peer_id === hostId).available, false, 'the explorer lists it as draining');
  assert.match((await httpBody(d.userPort))!, /ok/, 'the paid-for instance still runs');
  // Back up: the lease is picked up again and the tenant ends it.
  host = await NodeProcess.start(hostFile);
  const term = await runCli(['lease', 'terminate', '--host', hostAddr, '--lease', d.leaseId, '--key', tenantKey, '--json']);
  assert.equal(term.code, 0, term.stderr);
  assert.equal((await runCli(['instances', 'list', '--config', hostFile, '--json'])).json.length, 0);
  await host.stop();
  await explorer.stop();
});
