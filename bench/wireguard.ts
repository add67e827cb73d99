import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminCall, adminSocketPath } from '@plexus/core';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir, trackProcessGroup, untrackProcessGroup } from './lib/cleanup.js';
import { PLEXUS_BIN, plexusId } from './lib/plexus-node.js';
import { round } from './lib/stats.js';
import { formatTable } from './lib/table.js';
import { within } from './lib/time.js';

/**
 * The wireguard plugin in network namespaces, each member a real `plexus start` node (the explorer
 * holds the registry and is a member too), all on one bridge:
 *  (1) cold start: N nodes spawned at once; time until every member pings every other member over
 *      the mesh (from the spawn, and from the last node's "node started");
 *  (2) peer changes: a key rotation (admin action on one node) until every other node has the new
 *      key on its interface; a new member's join until every node has it as a peer;
 *  (3) throughput (iperf3, one TCP stream) between two members over the mesh, beside the same two
 *      namespaces over wireguard-go configured by hand with `wg set`, and over the bare LAN link.
 * Never fails on a number.
 */
const USAGE = `usage: node bench/dist/wireguard.js [--sizes LIST] [--seconds S] [--json]
  --sizes LIST   network sizes (members, the explorer included) (default 2,5,10)
  --seconds S    seconds per iperf3 run (default 5)
  --json         results as JSON on stdout; the tables go to stderr
`;
const exec = promisify(execFile);
const progress = (line: string): void => void process.stderr.write(`# ${line}\n`);
const ID = randomBytes(3).toString('hex');
const SUBNET = '10.79.0';
const CIDR = '10.240.0.0/24';
const LISTEN_PORT = 51820;

/** Namespaces and wireguard-go sockets of this run, removed at exit however it ends. */
const namespaces = new Set<string>();
function cleanupNetwork(): void {
  for (const ns of namespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // gone
    }
  }
  namespaces.clear();
  let sockets: string[] = [];
  try {
    sockets = readdirSync('/var/run/wireguard');
  } catch {
    // none
  }
  for (const f of sockets) if (f.startsWith(`b${ID}`)) rmSync(join('/var/run/wireguard', f), { force: true });
}
process.on('exit', cleanupNetwork);

const nsArgv = (ns: string, argv: string[]): string[] => ['nsenter', `--net=/run/netns/${ns}`, ...argv];
async function inNs(ns: string, argv: string[], timeoutMs = 15_000): Promise<string> {
  const [cmd, ...args] = nsArgv(ns, argv);
  return (await exec(cmd!, args, { timeout: timeoutMs })).stdout;
}

/** One LAN: a bridge in its own namespace, host i at SUBNET.(i+1). */
class Lan {
  readonly lanNs = `pxbl-${ID}`;
  private count = 0;
  async create(): Promise<void> {
    await exec('ip', ['netns', 'add', this.lanNs]);
    namespaces.add(this.lanNs);
    await inNs(this.lanNs, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await inNs(this.lanNs, ['ip', 'link', 'set', 'br0', 'up']);
  }
  async addHost(): Promise<{ ns: string; ip: string }> {
    const n = ++this.count;
    const ns = `pxb-${ID}-${n}`;
    const ip = `${SUBNET}.${n}`;
    const [a, b] = [`pxba${ID}${n}`, `pxbb${ID}${n}`];
    await exec('ip', ['netns', 'add', ns]);
    namespaces.add(ns);
    await exec('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    await exec('ip', ['link', 'set', a, 'netns', ns]);
    await exec('ip', ['link', 'set', b, 'netns', this.lanNs]);
    await inNs(ns, ['ip', 'link', 'set', a, 'name', 'eth0']);
    await inNs(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await inNs(ns, ['ip', 'link', 'set', 'eth0', 'up']);
    await inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
    await inNs(this.lanNs, ['ip', 'link', 'set', b, 'master', 'br0']);
    await inNs(this.lanNs, ['ip', 'link', 'set', b, 'up']);
    return { ns, ip };
  }
}

/** A `plexus start` inside a namespace, in its own process group (wireguard-go children included). */
class Node {
  stderr = '';
  startedAt: number | undefined;
  readonly spawnedAt = performance.now();
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  constructor(
    readonly name: string,
    readonly ns: string,
    readonly config: string,
    readonly dataDir: string,
    readonly iface: string,
  ) {
    const [cmd, ...args] = nsArgv(ns, [PLEXUS_BIN, 'start', '--config', config]);
    this.child = spawn(cmd!, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    trackProcessGroup(this.child.pid!);
    this.exited = new Promise((r) => this.child.once('exit', () => r()));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-32_768);
      if (this.startedAt === undefined && this.stderr.includes('"msg":"node started"')) this.startedAt = performance.now();
    });
  }
  async started(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.startedAt === undefined) {
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`${this.name} did not start:\n${this.stderr.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  async stop(): Promise<void> {
    try {
      process.kill(this.child.pid!, 'SIGTERM');
    } catch {
      // gone
    }
    await within(this.exited, 20_000);
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // empty group
    }
    untrackProcessGroup(this.child.pid!);
  }
  /** Peer keys on this node's interface (`wg show IF peers`). */
  async peerKeys(): Promise<string[]> {
    return (await inNs(this.ns, ['wg', 'show', this.iface, 'peers']).catch(() => '')).split('\n').filter((l) => l !== '');
  }
  async wgAddress(): Promise<string | undefined> {
    const out = await inNs(this.ns, ['ip', '-o', '-4', 'addr', 'show', 'dev', this.iface]).catch(() => '');
    return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)?.[1];
  }
  async publicKey(): Promise<string> {
    return (await inNs(this.ns, ['wg', 'show', this.iface, 'public-key'])).trim();
  }
}

async function pings(ns: string, address: string): Promise<boolean> {
  return inNs(ns, ['busybox', 'ping', '-c', '1', '-W', '1', '-w', '1', '-q', address], 5000).then(
    () => true,
    () => false,
  );
}

/** Polls until `cond`, every `everyMs`; returns the time (performance.now) it first held. */
async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return performance.now();
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface SizeResult {
  nodes: number;
  /** Spawn of the last node → every pair pings. */
  coldMs: number;
  /** Last "node started" → every pair pings. */
  fromLastStartedMs: number;
  /** Admin call rotate-key → every other node has the new key. */
  rotationMs: number;
  /** New member's "node started" → every node has it as a peer. */
  joinMs: number;
  /** New member's "node started" → it pings every member. */
  joinPingMs: number;
}

async function writeNode(dir: string, name: string, lanIp: string, iface: string, explorer: string | undefined, registry: boolean): Promise<{ file: string; dataDir: string }> {
  const dataDir = join(dir, name);
  const lines = ['node:', `  name: ${name}`, `  dataDir: ${dataDir}`, '  log: { level: info }'];
  if (registry) lines.push(`  listen: [/ip4/${lanIp}/tcp/4001]`);
  else lines.push('  listen: []', `  explorer: [${explorer}]`);
  lines.push('plugins:');
  if (registry) lines.push('  store: { bind: 127.0.0.1, port: 6378, fsync: everysec }', '  wireguard:', `    registry: { bench: { cidr: ${CIDR} } }`);
  else lines.push('  wireguard:');
  lines.push(`    networks: { bench: { listenPort: ${LISTEN_PORT}, endpoint: '${lanIp}:${LISTEN_PORT}', interface: ${iface} } }`, '');
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, lines.join('\n'));
  return { file, dataDir };
}

/** Every ordered pair pings over the mesh; pairs already seen answering are not asked again. */
async function allPairsPing(nodes: Node[], addrs: Map<Node, string>, timeoutMs: number): Promise<number> {
  const pending = new Set(nodes.flatMap((a) => nodes.filter((b) => b !== a).map((b) => [a, b] as const)));
  return until(
    'every member pings every other member',
    async () => {
      for (const n of nodes) if (!addrs.has(n)) {
        const a = await n.wgAddress();
        if (a !== undefined) addrs.set(n, a);
      }
      if (addrs.size < nodes.length) return false;
      const pairs = [...pending];
      const ok = await Promise.all(pairs.map(([a, b]) => pings(a.ns, addrs.get(b)!)));
      pairs.forEach((p, i) => ok[i] && pending.delete(p));
      return pending.size === 0;
    },
    timeoutMs,
    0,
  );
}

async function runSize(size: number, withThroughput: number | undefined): Promise<{ result: SizeResult; throughput?: Throughput }> {
  const dir = await makeTempDir('plexus-bench-wg-');
  const lan = new Lan();
  await lan.create();
  const hosts: { ns: string; ip: string }[] = [];
  for (let i = 0; i <= size; i++) hosts.push(await lan.addHost()); // one more for the join
  const ifaceOf = (i: number): string => `b${ID}n${i}`;
  const explorerCfg = await writeNode(dir, 'explorer', hosts[0]!.ip, ifaceOf(0), undefined, true);
  const explorerMa = (await plexusId(explorerCfg.file)).multiaddrs.find((m) => m.includes(hosts[0]!.ip))!;
  const cfgs = [explorerCfg];
  for (let i = 1; i <= size; i++) cfgs.push(await writeNode(dir, `m${i}`, hosts[i]!.ip, ifaceOf(i), explorerMa, false));
  const nodes: Node[] = [];
  try {
    progress(`${size} nodes: starting all at once`);
    for (let i = 0; i < size; i++) nodes.push(new Node(i === 0 ? 'explorer' : `m${i}`, hosts[i]!.ns, cfgs[i]!.file, cfgs[i]!.dataDir, ifaceOf(i)));
    const lastSpawn = nodes.at(-1)!.spawnedAt;
    await Promise.all(nodes.map((n) => n.started()));
    const lastStarted = Math.max(...nodes.map((n) => n.startedAt!));
    const addrs = new Map<Node, string>();
    const connected = await allPairsPing(nodes, addrs, 120_000);

    // Key rotation on m1 (or the explorer when alone with it), through the admin socket as `plexus wg rotate-key` does.
    const rotating = nodes[1]!;
    const others = nodes.filter((n) => n !== rotating);
    const t0 = performance.now();
    const { publicKey } = (await adminCall(adminSocketPath(rotating.dataDir), 'wireguard', 'rotate-key', { network: 'bench' }, 30_000)) as { publicKey: string };
    const rotated = await until('every node has the new key', async () => (await Promise.all(others.map((n) => n.peerKeys()))).every((k) => k.includes(publicKey)), 30_000, 0);

    // One more member joins.
    const joiner = new Node(`m${size}`, hosts[size]!.ns, cfgs[size]!.file, cfgs[size]!.dataDir, ifaceOf(size));
    nodes.push(joiner);
    await joiner.started();
    const joinerKey = await until('the joiner has a key', async () => (await joiner.publicKey().catch(() => '')) !== '', 30_000, 0).then(() => joiner.publicKey());
    const joined = await until('every node has the joiner as a peer', async () => (await Promise.all(nodes.slice(0, -1).map((n) => n.peerKeys()))).every((k) => k.includes(joinerKey)), 30_000, 0);
    const joinAddrs = new Map(addrs);
    const joinerPings = await until(
      'the joiner pings every member',
      async () => {
        const own = await joiner.wgAddress();
        if (own === undefined) return false;
        joinAddrs.set(joiner, own);
        return (await Promise.all(nodes.slice(0, -1).map((n) => pings(joiner.ns, joinAddrs.get(n)!)))).every(Boolean);
      },
      30_000,
      0,
    );
    const result: SizeResult = {
      nodes: size,
      coldMs: round(connected - lastSpawn, 0),
      fromLastStartedMs: round(connected - lastStarted, 0),
      rotationMs: round(rotated - t0, 0),
      joinMs: round(joined - joiner.startedAt!, 0),
      joinPingMs: round(joinerPings - joiner.startedAt!, 0),
    };
    progress(`${size} nodes: ${JSON.stringify(result)}`);
    if (withThroughput === undefined) return { result };
    const throughput = await measureThroughput(hosts[0]!, hosts[1]!, addrs.get(nodes[0]!)!, withThroughput);
    return { result, throughput };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    cleanupNetwork();
  }
}

interface Throughput {
  meshGbit: number;
  handGbit: number;
  bareGbit: number;
}

/** iperf3 from `client` to an address of `server`'s namespace, one stream, `seconds` long. */
async function iperf(server: { ns: string }, client: { ns: string }, address: string, seconds: number): Promise<number> {
  const [cmd, ...args] = nsArgv(server.ns, ['iperf3', '-s', '-1', '-B', address, '-p', '5201']);
  const srv = spawn(cmd!, args, { detached: true, stdio: 'ignore' });
  trackProcessGroup(srv.pid!);
  try {
    for (let i = 0; ; i++) {
      try {
        const out = await inNs(client.ns, ['iperf3', '-c', address, '-p', '5201', '-t', String(seconds), '-J'], (seconds + 30) * 1000);
        const r = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
        return r.end.sum_received.bits_per_second / 1e9;
      } catch (err) {
        if (i >= 20) throw err;
        await new Promise((r) => setTimeout(r, 100)); // the server is not listening yet
      }
    }
  } finally {
    try {
      process.kill(-srv.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    untrackProcessGroup(srv.pid!);
  }
}

/**
 * Mesh (the plugin's interfaces) vs wireguard-go set up by hand with `wg set` between the same two
 * namespaces (another interface pair, another port) vs the bare LAN addresses.
 */
async function measureThroughput(a: { ns: string; ip: string }, b: { ns: string; ip: string }, meshAddrOfA: string, seconds: number): Promise<Throughput> {
  progress('throughput: mesh');
  const meshGbit = await iperf(a, b, meshAddrOfA, seconds);
  progress('throughput: wireguard-go by hand');
  const hand: ChildProcess[] = [];
  try {
    const keys = await Promise.all([0, 1].map(async () => {
      const priv = (await exec('wg', ['genkey'])).stdout.trim();
      const pub = await new Promise<string>((res, rej) => {
        const c = execFile('wg', ['pubkey'], (err, out) => (err === null ? res(out.trim()) : rej(err)));
        c.stdin!.end(`${priv}\n`);
      });
      return { priv, pub };
    }));
    const sides = [
      { host: a, iface: `b${ID}ha`, addr: '10.241.0.1', key: keys[0]!, peer: keys[1]!, peerEp: `${b.ip}:51900` },
      { host: b, iface: `b${ID}hb`, addr: '10.241.0.2', key: keys[1]!, peer: keys[0]!, peerEp: `${a.ip}:51900` },
    ];
    for (const s of sides) {
      const [cmd, ...args] = nsArgv(s.host.ns, ['wireguard-go', '-f', s.iface]);
      const child = spawn(cmd!, args, { detached: true, stdio: 'ignore' });
      trackProcessGroup(child.pid!);
      hand.push(child);
      await until(`${s.iface} exists`, () => inNs(s.host.ns, ['wg', 'show', s.iface]).then(() => true, () => false), 10_000);
      const keyFile = join('/tmp', `${s.iface}.key`);
      await writeFile(keyFile, `${s.key.priv}\n`, { mode: 0o600 });
      await inNs(s.host.ns, ['wg', 'set', s.iface, 'private-key', keyFile, 'listen-port', '51900', 'peer', s.peer.pub, 'endpoint', s.peerEp, 'allowed-ips', '10.241.0.0/24']);
      rmSync(keyFile);
      await inNs(s.host.ns, ['ip', 'addr', 'add', `${s.addr}/24`, 'dev', s.iface]);
      await inNs(s.host.ns, ['ip', 'link', 'set', s.iface, 'up']);
    }
    await until('the hand-made tunnel pings', () => pings(b.ns, '10.241.0.1'), 10_000);
    const handGbit = await iperf(a, b, '10.241.0.1', seconds);
    progress('throughput: bare LAN link');
    const bareGbit = await iperf(a, b, a.ip, seconds);
    return { meshGbit, handGbit, bareGbit };
  } finally {
    for (const c of hand) {
      try {
        process.kill(-c.pid!, 'SIGTERM');
      } catch {
        // gone
      }
      untrackProcessGroup(c.pid!);
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sizes: { type: 'string' }, seconds: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  if (process.getuid?.() !== 0) usageError('needs root (network namespaces)');
  const sizes = (values.sizes ?? '2,5,10').split(',').map((s) => positiveNumber('sizes', s, 2));
  if (sizes.some((s) => s < 2 || !Number.isInteger(s) || s > 50)) usageError('--sizes: whole numbers from 2 to 50');
  const seconds = positiveNumber('seconds', values.seconds, 5);
  for (const [tool, pkg] of [['wg', 'wireguard-tools'], ['wireguard-go', 'wireguard-go'], ['iperf3', 'iperf3'], ['busybox', 'busybox-static']]) {
    await exec('sh', ['-c', `command -v ${tool}`]).catch(() => usageError(`${tool} is missing: apt-get install -y ${pkg}`));
  }
  installCleanup();
  const results: SizeResult[] = [];
  let throughput: Throughput | undefined;
  for (const [i, size] of sizes.entries()) {
    const r = await runSize(size, i === 0 ? seconds : undefined);
    results.push(r.result);
    throughput ??= r.throughput;
  }
  const out = (s: string): void => void (values.json === true ? process.stderr : process.stdout).write(`${s}\n`);
  out(`\nWireGuard networks of plexus nodes (wireguard-go: this kernel has no WireGuard module), ${sizes.join('/')} members, one run`);
  out(formatTable(
    ['members', 'cold start → all pairs ping (ms)', 'last "node started" → all pairs ping (ms)', 'key rotation applied everywhere (ms)', 'join: peer everywhere (ms)', 'join: pings all (ms)'],
    results.map((r) => [r.nodes, r.coldMs, r.fromLastStartedMs, r.rotationMs, r.joinMs, r.joinPingMs]),
  ));
  if (throughput !== undefined) {
    out(`\nThroughput between two members, iperf3, 1 TCP stream, ${seconds} s each, same namespaces and LAN`);
    out(formatTable(
      ['path', 'Gbit/s', 'ratio to hand-made wireguard-go', 'ratio to bare link'],
      [
        ['mesh (plugin)', round(throughput.meshGbit, 2), round(throughput.meshGbit / throughput.handGbit, 2), round(throughput.meshGbit / throughput.bareGbit, 3)],
        ['wireguard-go by hand (wg set)', round(throughput.handGbit, 2), 1, round(throughput.handGbit / throughput.bareGbit, 3)],
        ['bare LAN link (veth + bridge)', round(throughput.bareGbit, 2), '-', 1],
      ],
    ));
  }
  if (values.json === true) process.stdout.write(`${JSON.stringify({ sizes: results, throughput }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
