import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { NodeProcess, ROOT, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';
import { ipFor } from './lib/ha-client.js';
import { Lan } from './lib/netns.js';

/**
 * Explorer high availability across network namespaces: three explorers (a store and a sentinel
 * each; e1 the first master), two DNS nodes whose stores follow the master through the sentinels,
 * and a client registering in a loop against all three explorers. The master's host is cut off,
 * then its process killed -9: a standby is promoted, the loop goes on against it, the DNS nodes
 * follow, and every acknowledged registration is answered by both DNS nodes afterwards.
 */
const EXPLORERS = ['e1', 'e2', 'e3'] as const;
const DNS = ['d1', 'd2'] as const;
const PASSWORD = 'ha-e2e-secret';
const ZONE = 't.test';
const HA_CLIENT = join(ROOT, 'test/dist/lib/ha-client.js');

const lan = new Lan('10.78.0');
let dir: string;
const nodes = new Map<string, NodeProcess>();
const configs = new Map<string, string>();
let loop: ChildProcess | undefined;

function ipOf(host: string): string {
  return lan.host(host).ip;
}

function explorerYaml(name: string): string {
  const ip = ipOf(name);
  return `node:
  name: ${name}
  dataDir: ${join(dir, name)}
  listen: [/ip4/${ip}/tcp/4001]
  log: { level: info }
plugins:
  store:
    bind: ${ip}
    port: 6379
    password: ${PASSWORD}
    sentinel:
      announceIp: ${ip}
      sentinels: [${EXPLORERS.map((e) => `'${ipOf(e)}:26379'`).join(', ')}]
      initialMaster: '${ipOf('e1')}:6379'
      quorum: 2
      downAfterMs: 1000
      failoverTimeoutMs: 3000
  phonebook: {}
  gateway: { zones: [${ZONE}], threebotDomain: ${ZONE} }
`;
}

function dnsYaml(name: string): string {
  return `node:
  name: ${name}
  dataDir: ${join(dir, name)}
  listen: [/ip4/${ipOf(name)}/tcp/4001]
  log: { level: info }
plugins:
  store:
    mode: replica
    port: 6379
    password: dns-local
    replicaOf:
      sentinels: [${EXPLORERS.map((e) => `'${ipOf(e)}:26379'`).join(', ')}]
      password: ${PASSWORD}
  dns: { listen: ['${ipOf(name)}:53'], zones: [${ZONE}] }
`;
}

/** Outcomes the loop printed so far: acknowledged registration -> when this test read the ack. */
const acked = new Map<number, number>();
const failed: { i: number; code: string }[] = [];

function startLoop(multiaddrs: string[]): void {
  const [cmd, ...args] = lan.wrap('cl', [process.execPath, HA_CLIENT]);
  loop = spawn(cmd!, args, { env: { ...process.env, EXPLORERS: multiaddrs.join(','), OWNER: 'loop', TIMEOUT_MS: '2000' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  loop.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let at = buf.indexOf('\n'); at >= 0; at = buf.indexOf('\n')) {
      const line = JSON.parse(buf.slice(0, at)) as { ack?: number; fail?: number; code?: string; at?: number };
      buf = buf.slice(at + 1);
      if (line.ack !== undefined) acked.set(line.ack, Date.now());
      if (line.fail !== undefined) failed.push({ i: line.fail, code: line.code ?? '?' });
    }
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

/** One `name_register` of `name` from inside `host` to `target` only; the code it got, or 'ok'. */
async function once(host: string, target: string, name: string): Promise<string> {
  const [cmd, ...args] = lan.wrap(host, [process.execPath, HA_CLIENT]);
  const child = spawn(cmd!, args, { env: { ...process.env, EXPLORERS: target, ONCE: name, TIMEOUT_MS: '5000' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.on('exit', r));
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as { once?: string }).once ?? 'no answer';
}

/** The A answers of both DNS nodes for the acknowledged names: each must carry its own address. */
async function missingOn(dnsHost: string, ids: number[]): Promise<number[]> {
  const file = join(dir, `queries-${dnsHost}.txt`);
  await writeFile(file, ids.map((i) => `r${i}.loop.${ZONE} A`).join('\n') + '\n');
  const { stdout } = await lan.run(dnsHost, ['dig', `@${ipOf(dnsHost)}`, '+short', '+tries=2', '+time=2', '-f', file], 120_000);
  const answered = new Set(stdout.split('\n').map((l) => l.trim()));
  return ids.filter((i) => !answered.has(ipFor(i)));
}

before(async () => {
  for (const [tool, pkg] of [['dig', 'dnsutils'], ['nsenter', 'util-linux'], ['redis-server', 'redis-server']]) {
    await new Promise<void>((res, rej) => spawn('sh', ['-c', `command -v ${tool}`]).on('exit', (c) => (c === 0 ? res() : rej(new Error(`${tool} is missing: apt-get install -y ${pkg}`)))));
  }
  dir = await tempDir('plexus-ha-');
  await lan.create([...EXPLORERS, ...DNS, 'cl']);
  for (const h of [...EXPLORERS, ...DNS]) configs.set(h, await writeConfig(dir, h, (EXPLORERS as readonly string[]).includes(h) ? explorerYaml(h) : dnsYaml(h)));
});

after(async () => {
  loop?.kill('SIGKILL');
  await killAllNodes();
  await lan.destroy();
  if (dir !== undefined) await removeDir(dir);
});

test('explorers fail over on Redis Sentinel without losing an acknowledged registration', { timeout: 240_000 }, async (t) => {
  nodes.set('e1', await NodeProcess.start(configs.get('e1')!, 60_000, lan.wrap('e1', [])));
  await Promise.all(['e2', 'e3', 'd1', 'd2'].map(async (h) => nodes.set(h, await NodeProcess.start(configs.get(h)!, 60_000, lan.wrap(h, [])))));
  const multiaddrs = EXPLORERS.map((e) => nodes.get(e)!.multiaddr);

  startLoop(multiaddrs);
  await until('10 acknowledged registrations', () => acked.size >= 10, 90_000);

  // The master's host drops off the network.
  const before = acked.size;
  const cut = Date.now();
  await lan.run('e1', ['ip', 'link', 'set', 'eth0', 'down']);
  await until('registrations to continue on a promoted standby', () => acked.size >= before + 10, 90_000);
  const firstAfterCut = Math.min(...[...acked.values()].filter((at) => at > cut));
  t.diagnostic(`registrations acknowledged before the cut: ${before}, after: ${acked.size - before}; first one ${firstAfterCut - cut} ms after the cut`);
  const promotedBy = await Promise.any(['e2', 'e3'].map((e) => nodes.get(e)!.waitForLog((l) => l.msg === 'this store was promoted to master', 1_000).then(() => e)));
  t.diagnostic(`promoted: ${promotedBy}, ${Date.now() - cut} ms after the cut`);

  // Isolated, the old master takes no change: refused (NOREPLICAS) or not acknowledged (WAIT).
  const isolated = await once('e1', multiaddrs[0]!, 'split-brain');
  assert.ok(['ERR_NOT_REPLICATED', 'ERR_NOT_MASTER'].includes(isolated), `a write on the isolated old master must not be acknowledged (got ${isolated})`);
  t.diagnostic(`write on the isolated old master: ${isolated}`);

  // Then its process dies with kill -9; it comes back on the network, restarts, rejoins as a standby.
  nodes.get('e1')!.killGroup('SIGKILL');
  await nodes.get('e1')!.waitExit();
  await lan.run('e1', ['ip', 'link', 'set', 'eth0', 'up']);
  nodes.set('e1', await NodeProcess.start(configs.get('e1')!, 60_000, lan.wrap('e1', [])));
  await nodes.get('e1')!.waitForLog((l) => l.msg === 'starting as a standby', 5_000);
  const afterReturn = acked.size;
  await until('more registrations with the old master back', () => acked.size >= afterReturn + 5, 60_000);
  const stale = await once('cl', multiaddrs[0]!, 'stale-master');
  assert.equal(stale, 'ERR_NOT_MASTER', 'the returned old master refuses changes');

  loop!.kill('SIGTERM');
  await new Promise((r) => loop!.once('exit', r));
  loop = undefined;

  // The write tried on the isolated old master never surfaced: its copy was replaced on rejoining.
  const lookup = await runCli(['phonebook', 'get', 'split-brain', '--json', ...multiaddrs.flatMap((m) => ['--explorer', m])], {}, 30_000, lan.wrap('cl', []));
  assert.equal((JSON.parse(lookup.stdout) as { error?: { code: string } }).error?.code, 'ERR_NOT_FOUND', lookup.stdout + lookup.stderr);

  // Every acknowledged registration is answered by both DNS nodes (they followed the new master).
  const ids = [...acked.keys()].sort((a, b) => a - b);
  t.diagnostic(`acknowledged: ${ids.length}, given up: ${failed.length} (${failed.map((f) => f.code).join(', ')})`);
  for (const d of DNS) {
    let missing: number[] = [];
    await until(`${d} to answer every acknowledged name`, async () => (missing = await missingOn(d, ids)).length === 0, 60_000).catch(() => undefined);
    assert.deepEqual(missing, [], `${d} lacks acknowledged registrations`);
  }

  // A node whose plugin calls the explorer through ctx.peers, with the demoted e1 first in its
  // node.explorer list: the call follows e1's ERR_NOT_MASTER to the promoted master.
  const clientFile = await writeConfig(dir, 'cl', `node:
  name: cl
  dataDir: ${join(dir, 'cl')}
  listen: [/ip4/${ipOf('cl')}/tcp/4001]
  explorer: [${multiaddrs.join(', ')}]
plugins:
  ${join(ROOT, 'test/fixtures/explorer-caller.js')}: { name: after-failover }
`);
  const client = await NodeProcess.start(clientFile, 60_000, lan.wrap('cl', []));
  const status = await runCli(['status', '--config', clientFile, '--json']);
  assert.equal(status.code, 0, status.stderr);
  assert.equal(status.json.plugins.caller.registered, 'after-failover', 'the plugin registered through the master');
  await client.stop('SIGTERM');
});
