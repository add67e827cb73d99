import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chmod, mkdir, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { RpcClient, adminGet, adminSocketPath, generateKeyPair, openSealed, type Ed25519KeyPair, type InstanceDetails, type LeaseResult } from '@plexus/core';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir } from './lib/cleanup.js';
import { PlexusProcess, ROOT, plexusId } from './lib/plexus-node.js';
import { freePort } from './lib/ports.js';
import { machineCpu, memoryMb } from './lib/proc.js';
import { percentile, round, sortedCopy } from './lib/stats.js';
import { formatTable } from './lib/table.js';

/**
 * The hosting plugin on a real dockerd with the local test image (test/lib/dockerd.ts), the host
 * a real `plexus start` process (store with its own redis, ledger-overlay, hosting), the tenants
 * real libp2p clients calling the signed `lease_acquire` / `lease_terminate`:
 *  (1) acquire → reachable, sequential leases: from sending lease_acquire to the first HTTP 200
 *      from the instance's user port; beside it `docker create` + `start` + first 200 of the same
 *      image with the same limits through the Engine API (the reference, same run, same daemon);
 *  (2) provisioning throughput: the host's whole budget (8) acquired at once, until all answer;
 *  (3) leak check: N acquire/terminate and acquire/expire cycles (at most 8 alive), with
 *      `perInstanceUser: true`, then count what is left: containers, listening ports, instance
 *      directories, loop mounts and devices, `sashipx*` users, lease records;
 *  (4) the host node's RSS before and after the cycles.
 * Also the host-side steps measured alone (mkfs.ext4 of an instance disk, loop mount, useradd).
 * Never fails on a number; needs root (loop mounts, users) and dockerd (started if none answers).
 */
const USAGE = `usage: node bench/dist/hosting.js [--leases N] [--cycles N] [--expire-seconds S] [--json]
  --leases N          sequential acquire → reachable measurements, and as many reference runs (default 20)
  --cycles N          acquire/terminate and acquire/expire cycles for the leak check (default 200)
  --expire-seconds S  lease length of the cycles that end by expiry (default 2)
  --json              results as JSON on stdout; the tables go to stderr
`;
/**
 * The plugins' own constants, loaded at run time: bench/tsconfig.json references only core, so
 * `tsc -b bench` does not need the plugins built (a run does; `npx tsc -b tsconfig.json` builds all).
 */
let LEASE_PROTOCOL = ''; // ledger-overlay's LEASE_PROTOCOL
let HOST_LABEL = ''; // hosting's HOST_LABEL: plexus.hosting.host=<peer id> on every container of a host
let USER_PREFIX = ''; // hosting's USER_PREFIX: sashipx<lease id> per instance
const BENCH_LABEL = 'plexus.bench.hosting';

async function loadPluginConstants(): Promise<void> {
  const load = (name: string): Promise<Record<string, unknown>> => import(name) as Promise<Record<string, unknown>>;
  const overlay = await load('@plexus/plugin-ledger-overlay');
  const hosting = await load('@plexus/plugin-hosting');
  LEASE_PROTOCOL = String(overlay.LEASE_PROTOCOL);
  HOST_LABEL = String(hosting.HOST_LABEL);
  USER_PREFIX = String(hosting.USER_PREFIX);
}
const INSTANCES = 8;
const CAPACITY = { instances: INSTANCES, cpus: 2, memoryMb: 1024, diskMb: 1024 };
const SHARE = { cpus: CAPACITY.cpus / INSTANCES, memoryMb: CAPACITY.memoryMb / INSTANCES, diskMb: CAPACITY.diskMb / INSTANCES };
const RPC_TIMEOUT_MS = 120_000;
const REACH_TIMEOUT_MS = 60_000;
const POLL_MS = 10;
const run = promisify(execFile);

// ---- the test daemon and image (test/lib/dockerd.ts, built into test/dist) ----------------------

interface DockerResponse {
  status: number;
  text: string;
  json: any;
}
interface DockerdLib {
  ensureDockerd(): Promise<{ socket: string; stop(): Promise<void> }>;
  ensureTestImage(socket: string): Promise<string>;
  dockerApi(socket: string, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<DockerResponse>;
}

/** test/lib/dockerd.ts is the test package's; the bench loads its build (outside bench's rootDir). */
async function loadDockerdLib(): Promise<DockerdLib> {
  const file = join(ROOT, 'test/dist/lib/dockerd.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: build everything first (npx tsc -b tsconfig.json)`);
  return (await import(pathToFileURL(file).href)) as DockerdLib;
}

let docker: DockerdLib;
let socket = '';

// ---- emergency cleanup ----------------------------------------------------------------------------

/**
 * What an interrupted run would leave behind that cleanup.ts does not know about: running
 * containers (restart policy unless-stopped), loop mounts under the temp dir (cleanup.ts would
 * then delete inside them), per-instance users. Registered before installCleanup(), so on exit,
 * Ctrl-C and SIGTERM it runs first: kill the host nodes, remove their containers, unmount, delete
 * the users; cleanup.ts then kills the groups and removes the temp dirs.
 */
const emergency = { nodes: new Set<number>(), hostIds: new Set<string>(), dirs: new Set<string>(), users: new Set<string>(), done: false };

function emergencyCleanup(): void {
  if (emergency.done) return;
  emergency.done = true;
  for (const pid of emergency.nodes) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const curl = (method: string, path: string): string => {
    try {
      return execFileSync('curl', ['-sS', '--max-time', '30', '--unix-socket', socket, '-X', method, `http://localhost${path}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return '';
    }
  };
  if (socket !== '') {
    const labels = [...[...emergency.hostIds].map((h) => `${HOST_LABEL}=${h}`), BENCH_LABEL];
    for (const label of labels) {
      let list: { Id: string }[] = [];
      try {
        list = JSON.parse(curl('GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [label] }))}`)) as { Id: string }[];
      } catch {
        list = [];
      }
      for (const c of list) curl('DELETE', `/containers/${c.Id}?force=true&v=true`);
    }
  }
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '');
  for (const dir of emergency.dirs) {
    for (const m of mounts.filter((x) => x.startsWith(`${dir}/`)).reverse()) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        // not mounted any more
      }
    }
  }
  // A lease cut short mid-provisioning has its directory (made first) but no reply yet: its user too.
  for (const dir of emergency.dirs) {
    try {
      for (const name of readdirSync(join(dir, 'hosting', 'instances'))) if (name.startsWith('sashi-')) emergency.users.add(`${USER_PREFIX}${name.slice('sashi-'.length)}`);
    } catch {
      // not a host's data dir
    }
  }
  const passwd = readFileSync('/etc/passwd', 'utf8');
  for (const u of emergency.users) {
    if (!passwd.includes(`\n${u}:`) && !passwd.startsWith(`${u}:`)) continue;
    try {
      execFileSync('userdel', [u], { stdio: 'ignore' });
    } catch {
      // in use or gone
    }
  }
}

// ---- small helpers ------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function progress(msg: string): void {
  process.stderr.write(`[hosting] ${msg}\n`);
}

/** One GET / on 127.0.0.1:port (no keep-alive): whether it answered 200 with `expect` in the body. */
function httpOk(port: number, expect: string, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes(expect)));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Polls every POLL_MS until the instance answers 200; resolves with performance.now() of that answer. */
async function waitReachable(port: number, name: string, timeoutMs = REACH_TIMEOUT_MS): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await httpOk(port, `instance ${name} ok`)) return performance.now();
    if (performance.now() > deadline) throw new Error(`instance ${name} did not answer 200 on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

interface Dist {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
  mean: number;
}

function dist(values: number[]): Dist {
  const s = sortedCopy(values);
  const r = (x: number): number => round(x, 1);
  return { n: values.length, p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(percentile(s, 100)), min: r(percentile(s, 0)), mean: r(values.reduce((a, b) => a + b, 0) / (values.length || 1)) };
}

/** `n` consecutive ports on 127.0.0.1, free now, twice (peer and user ranges), below the ephemeral range. */
async function portRanges(n: number): Promise<{ peer: number; user: number }> {
  const listening = listeningPorts();
  for (let attempt = 0; attempt < 1000; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let ok = true;
    for (let p = base; p < base + 2 * n + 1 && ok; p++) ok = !listening.has(p) && (await canBind(p));
    if (ok) return { peer: base, user: base + n + 1 };
  }
  throw new Error('no two free port ranges found');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** TCP ports in LISTEN state on this machine (/proc/net/tcp and tcp6). */
function listeningPorts(): Set<number> {
  const out = new Set<number>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] !== '0A') continue;
      const port = Number.parseInt(cols[1]?.split(':').pop() ?? '', 16);
      if (Number.isInteger(port)) out.add(port);
    }
  }
  return out;
}

const ms = (t0: number, t1 = performance.now()): number => t1 - t0;
const errCode = (err: unknown): string => (err as { code?: string }).code ?? (err as Error).message.slice(0, 80);

// ---- the host node --------------------------------------------------------------------------------

interface HostNode {
  node: PlexusProcess;
  /** The node's log lines at level warn and above (JSON), as they came. */
  problems: string[];
  configFile: string;
  dataDir: string;
  peerId: string;
  multiaddr: string;
  ports: { peer: number; user: number };
  redisPort: number;
}

async function startHost(dir: string, name: string, perInstanceUser: boolean): Promise<HostNode> {
  const [p2p, redisPort] = [await freePort(), await freePort()];
  const ports = await portRanges(INSTANCES);
  const dataDir = join(dir, name);
  emergency.dirs.add(dataDir);
  const configFile = join(dir, `${name}.yaml`);
  const yaml = [
    'node:',
    `  name: bench-${name}`,
    `  dataDir: ${dataDir}`,
    `  listen: [/ip4/127.0.0.1/tcp/${p2p}]`,
    '  log: { level: info }',
    'plugins:',
    `  store: { port: ${redisPort} }`,
    '  ledger-overlay: {}',
    '  hosting:',
    `    docker: { socket: ${socket} }`,
    `    capacity: { instances: ${CAPACITY.instances}, cpus: ${CAPACITY.cpus}, memoryMb: ${CAPACITY.memoryMb}, diskMb: ${CAPACITY.diskMb} }`,
    `    ports: { peer: ${ports.peer}, user: ${ports.user} }`,
    '    publicHost: 127.0.0.1',
    '    bindIp: 127.0.0.1',
    `    perInstanceUser: ${perInstanceUser}`,
    '',
  ].join('\n');
  await writeFile(configFile, yaml);
  const id = await plexusId(configFile);
  const multiaddr = id.multiaddrs.find((m) => m.includes('/p2p/')) ?? `${id.multiaddrs[0]}/p2p/${id.peerId}`;
  emergency.hostIds.add(id.peerId);
  const node = await PlexusProcess.start(configFile, { logLevel: 'info', readyTimeoutMs: 120_000 });
  emergency.nodes.add(node.pid);
  const problems: string[] = [];
  let buf = '';
  node.child.stderr!.on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (/"level":(4|5|6)\d/.test(line)) problems.push(line);
    }
  });
  return { node, problems, configFile, dataDir, peerId: id.peerId, multiaddr, ports, redisPort };
}

/** Warnings and errors the host node logged, grouped: message (and error) → count, first full line. */
function summarizeProblems(lines: string[]): { count: number; byMessage: Record<string, number>; first: string[] } {
  const byMessage: Record<string, number> = {};
  for (const line of lines) {
    let key = line.slice(0, 160);
    try {
      const j = JSON.parse(line) as { msg?: string; err?: { message?: string } | string };
      const e = typeof j.err === 'string' ? j.err : j.err?.message;
      key = `${j.msg ?? '?'}${e === undefined ? '' : `: ${e.slice(0, 200)}`}`;
    } catch {
      // pretty or partial line: as it is
    }
    byMessage[key] = (byMessage[key] ?? 0) + 1;
  }
  return { count: lines.length, byMessage, first: lines.slice(0, 3).map((l) => l.slice(0, 2000)) };
}

async function stopHost(h: HostNode): Promise<void> {
  await h.node.stop();
  emergency.nodes.delete(h.node.pid);
}

async function hostingStatus(h: HostNode): Promise<{ running: { leaseId: string }[]; counters: Record<string, unknown>; instances: number }> {
  const s = (await adminGet(adminSocketPath(h.dataDir), '/status')) as { plugins?: { hosting?: unknown } };
  return s.plugins?.hosting as { running: { leaseId: string }[]; counters: Record<string, unknown>; instances: number };
}

/** A tenant: its own key and its own libp2p client connected to the host. */
interface Tenant {
  key: Ed25519KeyPair;
  client: RpcClient;
}

async function tenants(h: HostNode, n: number): Promise<Tenant[]> {
  const out: Tenant[] = [];
  for (let i = 0; i < n; i++) {
    const key = generateKeyPair();
    out.push({ key, client: await RpcClient.connect(h.multiaddr, { key, timeoutMs: RPC_TIMEOUT_MS }) });
  }
  return out;
}

interface Acquired {
  details: InstanceDetails;
  rpcMs: number;
  reachMs: number;
}

/** lease_acquire, then poll the user port: ms until the reply and until the first 200, from the send. */
async function acquire(t: Tenant, image: string, durationSeconds: number, onLease?: (id: string) => void): Promise<Acquired> {
  const t0 = performance.now();
  const r = await t.client.call<Extract<LeaseResult, { kind: 'acquire' }>>(LEASE_PROTOCOL, 'lease_acquire', { image, config: { bench: 'hosting' }, duration_seconds: durationSeconds }, { signed: true });
  const rpcMs = ms(t0);
  const details = JSON.parse(Buffer.from(openSealed(r.instance, t.key)).toString('utf8')) as InstanceDetails;
  onLease?.(details.leaseId);
  const reached = await waitReachable(details.userPort, details.name);
  return { details, rpcMs, reachMs: ms(t0, reached) };
}

async function terminate(t: Tenant, leaseId: string): Promise<number> {
  const t0 = performance.now();
  await t.client.call(LEASE_PROTOCOL, 'lease_terminate', { lease_id: leaseId }, { signed: true });
  return ms(t0);
}

// ---- the reference: docker create + start of the same image with the same limits -------------------

async function referenceRun(image: string, dataDir: string, port: number, peerPort: number): Promise<{ createMs: number; startMs: number; createStartMs: number; afterStartMs: number; reachMs: number; removeMs: number }> {
  const name = `plexus-bench-ref-${randomBytes(4).toString('hex')}`;
  const p = (n: number): string => `${n}/tcp`;
  // What hosting's DockerHost.run sends, except /data: a plain directory here, a loop-mounted ext4 image there.
  const spec = {
    Image: image,
    Env: [`USER_PORT=${port}`, `PEER_PORT=${peerPort}`, `INSTANCE_NAME=${name}`, 'CONTRACT_ID=bench', 'LEASE_ID=bench'],
    Labels: { [BENCH_LABEL]: '1' },
    ExposedPorts: { [p(port)]: {}, [p(peerPort)]: {} },
    HostConfig: {
      Memory: SHARE.memoryMb * 1024 * 1024,
      MemorySwap: SHARE.memoryMb * 1024 * 1024,
      NanoCpus: Math.round(SHARE.cpus * 1e9),
      PidsLimit: 512,
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
      Binds: [`${dataDir}:/data:rw`],
      PortBindings: { [p(port)]: [{ HostIp: '127.0.0.1', HostPort: String(port) }], [p(peerPort)]: [{ HostIp: '127.0.0.1', HostPort: String(peerPort) }] },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      RestartPolicy: { Name: 'unless-stopped' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
    },
  };
  const t0 = performance.now();
  const created = await docker.dockerApi(socket, 'POST', `/containers/create?name=${name}`, spec);
  if (created.status !== 201) throw new Error(`reference: create: ${created.status} ${created.text}`);
  const t1 = performance.now();
  const started = await docker.dockerApi(socket, 'POST', `/containers/${created.json.Id as string}/start`);
  if (started.status !== 204) throw new Error(`reference: start: ${started.status} ${started.text}`);
  const t2 = performance.now();
  const reached = await waitReachable(port, name);
  const t3 = performance.now();
  await docker.dockerApi(socket, 'DELETE', `/containers/${created.json.Id as string}?force=true&v=true`);
  return { createMs: ms(t0, t1), startMs: ms(t1, t2), createStartMs: ms(t0, t2), afterStartMs: ms(t2, reached), reachMs: ms(t0, reached), removeMs: ms(t3) };
}

// ---- host-side steps alone ----------------------------------------------------------------------

/** The plugin's per-instance disk and user steps, run alone on the same filesystem: ms each. */
async function hostSteps(dir: string, reps: number): Promise<Record<string, Dist>> {
  const times: Record<string, number[]> = { 'truncate + mkfs.ext4': [], 'mount -o loop': [], umount: [], 'useradd --system': [], userdel: [] };
  const root = join(dir, 'steps');
  emergency.dirs.add(root);
  await mkdir(root, { recursive: true });
  for (let i = 0; i < reps; i++) {
    const image = join(root, `disk${i}.img`);
    const mnt = join(root, `data${i}`);
    await mkdir(mnt);
    let t0 = performance.now();
    const f = await open(image, 'wx', 0o600);
    await f.truncate(SHARE.diskMb * 1024 * 1024);
    await f.close();
    // The plugin's options exactly (disk.ts).
    await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
    times['truncate + mkfs.ext4']!.push(ms(t0));
    t0 = performance.now();
    await run('mount', ['-o', 'loop,nodev,nosuid', image, mnt]);
    times['mount -o loop']!.push(ms(t0));
    t0 = performance.now();
    await run('umount', [mnt]);
    times.umount!.push(ms(t0));
    await rm(image, { force: true });
    const user = `plxbench${randomBytes(4).toString('hex')}`;
    emergency.users.add(user);
    t0 = performance.now();
    await run('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', user]);
    times['useradd --system']!.push(ms(t0));
    t0 = performance.now();
    await run('userdel', [user]);
    times.userdel!.push(ms(t0));
    emergency.users.delete(user);
  }
  await rm(root, { recursive: true, force: true });
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, dist(v)]));
}

// ---- leftovers ----------------------------------------------------------------------------------

interface Leftovers {
  containers: number;
  listeningPorts: number;
  instanceDirs: number;
  loopMounts: number;
  loopDevices: number;
  users: number;
  /** All `sashipx*` users on the machine (other hosts' included). */
  usersMachineWide: number;
  leaseRecords: number;
}

async function leftovers(h: HostNode, ourUsers: Set<string>): Promise<Leftovers> {
  const list = await docker.dockerApi(socket, 'GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${HOST_LABEL}=${h.peerId}`] }))}`);
  const listening = listeningPorts();
  let ports = 0;
  for (let i = 0; i < INSTANCES; i++) for (const p of [h.ports.peer + i, h.ports.user + i]) if (listening.has(p)) ports++;
  const dirs = await readdir(join(h.dataDir, 'hosting', 'instances')).catch(() => [] as string[]);
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => (l.split(' ')[1] ?? '').startsWith(`${h.dataDir}/`)).length;
  let loops = 0;
  for (const dev of readdirSync('/sys/block').filter((d) => d.startsWith('loop'))) {
    try {
      if (readFileSync(`/sys/block/${dev}/loop/backing_file`, 'utf8').startsWith(`${h.dataDir}/`)) loops++;
    } catch {
      // not attached
    }
  }
  const users = (await readFile('/etc/passwd', 'utf8')).split('\n').map((l) => l.split(':')[0] ?? '').filter((u) => u.startsWith(USER_PREFIX));
  const password = (await readFile(join(h.dataDir, 'store', 'redis.password'), 'utf8')).trim();
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(h.redisPort), '--no-auth-warning', 'HLEN', `hosting:${h.peerId}:leases`], { env: { ...process.env, REDISCLI_AUTH: password } });
  return {
    containers: (list.json as unknown[] | undefined)?.length ?? Number.NaN,
    listeningPorts: ports,
    instanceDirs: dirs.length,
    loopMounts: mounts,
    loopDevices: loops,
    users: users.filter((u) => ourUsers.has(u)).length,
    usersMachineWide: users.length,
    leaseRecords: Number(stdout.trim()),
  };
}

/** After a host node is stopped: removes whatever of it is left (containers, mounts, users). */
async function sweep(h: HostNode, users: Set<string>): Promise<void> {
  const list = await docker.dockerApi(socket, 'GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${HOST_LABEL}=${h.peerId}`] }))}`);
  for (const c of (list.json ?? []) as { Id: string }[]) await docker.dockerApi(socket, 'DELETE', `/containers/${c.Id}?force=true&v=true`);
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${h.dataDir}/`));
  for (const m of mounts.reverse()) await run('umount', ['-l', m]).catch(() => undefined);
  // The users of leases whose reply never came (an interrupted provisioning): from their directories.
  for (const name of await readdir(join(h.dataDir, 'hosting', 'instances')).catch(() => [] as string[])) if (name.startsWith('sashi-')) users.add(`${USER_PREFIX}${name.slice('sashi-'.length)}`);
  const passwd = (await readFile('/etc/passwd', 'utf8')).split('\n').map((l) => l.split(':')[0] ?? '');
  for (const u of users) if (passwd.includes(u)) await run('userdel', [u]).catch(() => undefined);
}

// ---- the parts ----------------------------------------------------------------------------------

async function partSequential(h: HostNode, image: string, dir: string, leases: number): Promise<Record<string, unknown>> {
  const [t] = await tenants(h, 1);
  const tenant = t!;
  try {
    // One un-measured warm-up each (first use of the image, the daemon's caches, the RPC stream).
    progress('sequential: warm-up lease');
    const warm = await acquire(tenant, image, 3600);
    // The leak check reads <dataDir>/hosting/instances: make sure that is where instances live.
    if (!existsSync(join(h.dataDir, 'hosting', 'instances', warm.details.name))) throw new Error(`no ${join(h.dataDir, 'hosting', 'instances', warm.details.name)}: the instance directories are elsewhere; fix leftovers()`);
    await terminate(tenant, warm.details.leaseId);
    const rpc: number[] = [];
    const reach: number[] = [];
    const term: number[] = [];
    for (let i = 0; i < leases; i++) {
      const a = await acquire(tenant, image, 3600);
      rpc.push(a.rpcMs);
      reach.push(a.reachMs);
      term.push(await terminate(tenant, a.details.leaseId));
    }
    progress(`sequential: ${leases} leases done (acquire → reachable p50 ${dist(reach).p50} ms); reference runs`);
    const refData = join(dir, 'reference-data');
    await mkdir(refData, { recursive: true });
    await chmod(refData, 0o777);
    const refPort = await freePort();
    const refPeer = await freePort();
    await referenceRun(image, refData, refPort, refPeer); // warm-up
    const ref = { create: [] as number[], start: [] as number[], createStart: [] as number[], afterStart: [] as number[], reach: [] as number[], remove: [] as number[] };
    for (let i = 0; i < leases; i++) {
      const r = await referenceRun(image, refData, refPort, refPeer);
      ref.create.push(r.createMs);
      ref.start.push(r.startMs);
      ref.createStart.push(r.createStartMs);
      ref.afterStart.push(r.afterStartMs);
      ref.reach.push(r.reachMs);
      ref.remove.push(r.removeMs);
    }
    return {
      leases,
      warmUp: { rpcMs: round(warm.rpcMs, 1), reachMs: round(warm.reachMs, 1) },
      plexus: { acquireToReachableMs: dist(reach), acquireReplyMs: dist(rpc), afterReplyMs: dist(reach.map((r, i) => r - rpc[i]!)), terminateMs: dist(term) },
      reference: { createStartReachableMs: dist(ref.reach), createStartMs: dist(ref.createStart), createMs: dist(ref.create), startMs: dist(ref.start), startToReachableMs: dist(ref.afterStart), removeMs: dist(ref.remove) },
    };
  } finally {
    await tenant.client.close();
  }
}

async function partConcurrent(h: HostNode, image: string): Promise<Record<string, unknown>> {
  const ts = await tenants(h, INSTANCES);
  try {
    const t0 = performance.now();
    const got = await Promise.all(ts.map((t) => acquire(t, image, 3600)));
    const wallMs = ms(t0);
    const t1 = performance.now();
    const term = await Promise.all(got.map((g, i) => terminate(ts[i]!, g.details.leaseId)));
    const termWallMs = ms(t1);
    const status = await hostingStatus(h);
    return {
      concurrent: INSTANCES,
      wallMs: round(wallMs, 1),
      leasesPerSecond: round(INSTANCES / (wallMs / 1000), 2),
      acquireReplyMs: dist(got.map((g) => g.rpcMs)),
      acquireToReachableMs: dist(got.map((g) => g.reachMs)),
      terminateAllWallMs: round(termWallMs, 1),
      terminateMs: dist(term),
      instancesAfter: status.instances,
    };
  } finally {
    await Promise.all(ts.map((t) => t.client.close()));
  }
}

async function partCycles(h: HostNode, image: string, cycles: number, expireSeconds: number, users: Set<string>): Promise<Record<string, unknown>> {
  const ts = await tenants(h, INSTANCES);
  const rssBefore = memoryMb(h.node.pid);
  const acquireMs: number[] = [];
  const reachMs: number[] = [];
  const terminateMs: number[] = [];
  const expiryLagMs: number[] = [];
  const errors: Record<string, number> = {};
  let errorCount = 0;
  let terminated = 0;
  let expired = 0;
  let expiredBeforeReachable = 0;
  let next = 0;
  let peakAlive = 0;
  let alive = 0;
  const fail = (err: unknown): void => {
    const c = errCode(err);
    errors[c] = (errors[c] ?? 0) + 1;
    errorCount++;
  };
  const t0 = performance.now();
  let lastReport = t0;
  const lane = async (t: Tenant): Promise<void> => {
    while (next < cycles && errorCount < 20) {
      const c = next++;
      const byExpiry = c % 2 === 1;
      const leaseSeconds = byExpiry ? expireSeconds : 3600;
      let details: InstanceDetails | undefined;
      const sent = performance.now();
      try {
        const r = await t.client.call<Extract<LeaseResult, { kind: 'acquire' }>>(LEASE_PROTOCOL, 'lease_acquire', { image, config: { cycle: c }, duration_seconds: leaseSeconds }, { signed: true });
        acquireMs.push(ms(sent));
        details = JSON.parse(Buffer.from(openSealed(r.instance, t.key)).toString('utf8')) as InstanceDetails;
        users.add(`${USER_PREFIX}${details.leaseId}`);
        peakAlive = Math.max(peakAlive, ++alive);
      } catch (err) {
        fail(err);
        continue;
      }
      try {
        const reached = await waitReachable(details.userPort, details.name, byExpiry ? Date.parse(details.expiresAt) - Date.now() : REACH_TIMEOUT_MS);
        reachMs.push(ms(sent, reached));
      } catch (err) {
        if (byExpiry) expiredBeforeReachable++;
        else fail(err);
      }
      try {
        if (!byExpiry) {
          terminateMs.push(await terminate(t, details.leaseId));
          terminated++;
        } else {
          // Gone from the host's own list (its record is deleted last): the slot is free again.
          const expiresAt = Date.parse(details.expiresAt);
          const deadline = expiresAt + 60_000;
          for (;;) {
            const s = await hostingStatus(h);
            if (!s.running.some((l) => l.leaseId === details.leaseId)) break;
            if (Date.now() > deadline) throw new Error(`lease ${details.leaseId} still there 60 s after its expiry`);
            await sleep(100);
          }
          expiryLagMs.push(Date.now() - expiresAt);
          expired++;
        }
      } catch (err) {
        fail(err);
      } finally {
        alive--;
      }
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        progress(`cycles: ${terminated + expired} of ${cycles} (${errorCount} errors), host RSS ${memoryMb(h.node.pid)?.rss.toFixed(0)} MB`);
      }
    }
  };
  try {
    await Promise.all(ts.map(lane));
  } finally {
    await Promise.all(ts.map((t) => t.client.close()));
  }
  const wallMs = ms(t0);
  const rssAfter = memoryMb(h.node.pid);
  const status = await hostingStatus(h);
  let left = await leftovers(h, users);
  let leftAfter5s: Leftovers | undefined;
  if (Object.entries(left).some(([k, v]) => k !== 'usersMachineWide' && v !== 0)) {
    await sleep(5_000);
    leftAfter5s = await leftovers(h, users);
  }
  return {
    cycles,
    completed: terminated + expired,
    terminated,
    expired,
    expireSeconds,
    expiredBeforeReachable,
    peakAlive,
    wallSeconds: round(wallMs / 1000, 1),
    cyclesPerSecond: round((terminated + expired) / (wallMs / 1000), 2),
    errors,
    acquireReplyMs: dist(acquireMs),
    acquireToReachableMs: dist(reachMs),
    terminateMs: dist(terminateMs),
    expiryToGoneMs: dist(expiryLagMs),
    hostCounters: status.counters,
    leftovers: left,
    ...(leftAfter5s === undefined ? {} : { leftoversAfter5s: leftAfter5s }),
    hostRssMb: { before: rssBefore === undefined ? null : round(rssBefore.rss, 1), after: rssAfter === undefined ? null : round(rssAfter.rss, 1), peak: rssAfter === undefined ? null : round(rssAfter.hwm, 1) },
  };
}

// ---- main -----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { leases: { type: 'string' }, cycles: { type: 'string' }, 'expire-seconds': { type: 'string' }, seconds: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (v.help === true) return void process.stdout.write(USAGE);
  const leases = Math.round(positiveNumber('leases', v.leases, 20));
  const cycles = Math.round(positiveNumber('cycles', v.cycles, 200));
  const expireSeconds = Math.round(positiveNumber('expire-seconds', v['expire-seconds'], 2));
  // --seconds (run-all passes it to every benchmark) has no meaning here: counts, not windows.
  if (process.getuid?.() !== 0) usageError('the hosting benchmark needs root (loop-mounted instance disks, per-instance users)');

  process.on('exit', emergencyCleanup);
  process.on('SIGINT', emergencyCleanup);
  process.on('SIGTERM', emergencyCleanup);
  installCleanup();

  const started = new Date();
  const load0 = loadavg();
  const cpu0 = machineCpu();
  await loadPluginConstants();
  docker = await loadDockerdLib();
  progress('dockerd and the test image');
  const daemon = await docker.ensureDockerd();
  socket = daemon.socket;
  const users = emergency.users; // the per-instance users of host B's leases, removed on any exit
  const out: Record<string, unknown> = {};
  try {
    const image = await docker.ensureTestImage(socket);
    const version = (await docker.dockerApi(socket, 'GET', '/version')).json as { Version?: string };
    const info = (await docker.dockerApi(socket, 'GET', '/info')).json as { Driver?: string };
    const dir = await makeTempDir('plexus-bench-hosting-');
    emergency.dirs.add(dir);
    Object.assign(out, { date: started.toISOString(), docker: { version: version.Version, storageDriver: info.Driver, socket }, image, capacity: CAPACITY, share: SHARE, cores: cpus().length, node: process.version });

    progress('host-side steps alone (mkfs.ext4, mount, useradd), 5 times');
    out.steps = await hostSteps(dir, 5);

    progress('host A (perInstanceUser: false): starting');
    const a = await startHost(dir, 'host-a', false);
    try {
      out.hostAIdleRssMb = round(memoryMb(a.node.pid)?.rss ?? Number.NaN, 1);
      progress(`sequential: ${leases} leases`);
      out.sequential = await partSequential(a, image, dir, leases);
      progress(`concurrent: ${INSTANCES} acquires at once`);
      out.concurrent = await partConcurrent(a, image);
      out.hostALeftovers = await leftovers(a, new Set());
    } finally {
      await stopHost(a);
      out.hostALog = summarizeProblems(a.problems);
      await sweep(a, new Set());
    }

    // Host B's start deletes every sashipx* user none of its leases owns (reconcile), machine-wide.
    const foreign = (await readFile('/etc/passwd', 'utf8')).split('\n').map((l) => l.split(':')[0] ?? '').filter((u) => u.startsWith(USER_PREFIX));
    if (foreign.length > 0) progress(`warning: ${foreign.length} ${USER_PREFIX}* users exist before host B starts; its reconcile will delete them: ${foreign.slice(0, 5).join(', ')}`);
    progress('host B (perInstanceUser: true): starting');
    const b = await startHost(dir, 'host-b', true);
    try {
      await sleep(1_000);
      progress(`cycles: ${cycles}, half terminated, half expiring after ${expireSeconds} s, at most ${INSTANCES} alive`);
      out.cycles = await partCycles(b, image, cycles, expireSeconds, users);
    } finally {
      await stopHost(b);
      out.hostBLog = summarizeProblems(b.problems);
      await sweep(b, users);
    }
  } finally {
    await daemon.stop();
  }
  const cpu1 = machineCpu();
  out.machine = { loadAvgBefore: load0.map((x) => round(x, 2)), loadAvgAfter: loadavg().map((x) => round(x, 2)), busyPct: round(((cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total)) * 100, 1), wallSeconds: round((Date.now() - started.getTime()) / 1000, 1) };
  report(out, v.json === true);
}

// ---- report ---------------------------------------------------------------------------------------

function report(out: Record<string, any>, json: boolean): void {
  const f = (n: unknown, d = 1): string => (typeof n !== 'number' || !Number.isFinite(n) ? '-' : n.toFixed(d));
  const s = out.sequential;
  const c = out.concurrent;
  const y = out.cycles;
  const ratio = (a: number, b: number): string => f(a / b, 2);
  const pl = s.plexus;
  const ref = s.reference;
  const lines: string[] = [];
  lines.push(
    `hosting: plexus host node (store + ledger-overlay + hosting, ${out.capacity.instances} instances of ${out.share.cpus} CPU / ${out.share.memoryMb} MB / ${out.share.diskMb} MB loop disk) vs docker create + start, Docker ${out.docker.version} (${out.docker.storageDriver}), image ${out.image}, ${out.cores} cores, loopback`,
  );
  lines.push(`1. acquire → reachable (first HTTP 200 on the user port, polled every ${POLL_MS} ms), ${s.leases} leases one after the other (after 1 un-measured warm-up each; warm-up lease: ${f(s.warmUp.reachMs)} ms)`);
  lines.push(
    formatTable(
      ['measure, ms', 'p50', 'p99', 'max', 'reference p50', 'reference p99', 'reference max', 'plexus/reference (p50)'],
      [
        ['lease_acquire sent → first 200 | docker create → first 200', f(pl.acquireToReachableMs.p50), f(pl.acquireToReachableMs.p99), f(pl.acquireToReachableMs.max), f(ref.createStartReachableMs.p50), f(ref.createStartReachableMs.p99), f(ref.createStartReachableMs.max), ratio(pl.acquireToReachableMs.p50, ref.createStartReachableMs.p50)],
        ['  until the RPC reply | create + start answered', f(pl.acquireReplyMs.p50), f(pl.acquireReplyMs.p99), f(pl.acquireReplyMs.max), f(ref.createStartMs.p50), f(ref.createStartMs.p99), f(ref.createStartMs.max), ratio(pl.acquireReplyMs.p50, ref.createStartMs.p50)],
        ['  reply → first 200 | start answered → first 200', f(pl.afterReplyMs.p50), f(pl.afterReplyMs.p99), f(pl.afterReplyMs.max), f(ref.startToReachableMs.p50), f(ref.startToReachableMs.p99), f(ref.startToReachableMs.max), ''],
        ['lease_terminate (reply) | docker rm -f', f(pl.terminateMs.p50), f(pl.terminateMs.p99), f(pl.terminateMs.max), f(ref.removeMs.p50), f(ref.removeMs.p99), f(ref.removeMs.max), ratio(pl.terminateMs.p50, ref.removeMs.p50)],
      ],
    ),
  );
  lines.push(`   reference split, p50: POST /containers/create ${f(ref.createMs.p50)} ms, POST /start ${f(ref.startMs.p50)} ms`);
  lines.push(
    `2. provisioning throughput: ${c.concurrent} lease_acquire at once (8 tenants, own connections): all ${c.concurrent} reachable after ${f(c.wallMs / 1000, 2)} s = ${f(c.leasesPerSecond, 2)} leases/s; replies p50 ${f(c.acquireReplyMs.p50)} ms, max ${f(c.acquireReplyMs.max)} ms; terminating all ${c.concurrent} at once: ${f(c.terminateAllWallMs / 1000, 2)} s`,
  );
  lines.push(
    `   reference for one lease in series: 1 / p50(acquire → reachable) = ${f(1000 / pl.acquireToReachableMs.p50, 2)} leases/s; docker create + start alone: ${f(1000 / ref.createStartReachableMs.p50, 2)} containers/s`,
  );
  lines.push(
    `3. leak check (perInstanceUser: true): ${y.completed} of ${y.cycles} cycles (${y.terminated} terminated, ${y.expired} expired after ${y.expireSeconds} s; at most ${y.peakAlive} alive) in ${f(y.wallSeconds)} s = ${f(y.cyclesPerSecond, 2)} cycles/s; errors: ${Object.keys(y.errors).length === 0 ? 'none' : JSON.stringify(y.errors)}${y.expiredBeforeReachable > 0 ? `; ${y.expiredBeforeReachable} expired before they answered` : ''}`,
  );
  lines.push(
    `   acquire reply p50/p99 ${f(y.acquireReplyMs.p50)}/${f(y.acquireReplyMs.p99)} ms, → reachable p50/p99 ${f(y.acquireToReachableMs.p50)}/${f(y.acquireToReachableMs.p99)} ms, terminate p50/p99 ${f(y.terminateMs.p50)}/${f(y.terminateMs.p99)} ms, expiry → gone from the host's list p50/p99 ${f(y.expiryToGoneMs.p50)}/${f(y.expiryToGoneMs.p99)} ms`,
  );
  const l = y.leftovers;
  const row = (what: string, k: keyof Leftovers): (string | number)[] => [what, l[k], y.leftoversAfter5s === undefined ? '-' : y.leftoversAfter5s[k]];
  lines.push(
    formatTable(
      ['left after the cycles (aim: 0)', 'count', 'after 5 s more'],
      [
        row(`containers labelled ${HOST_LABEL}=<peer id>`, 'containers'),
        row(`listening ports in the peer and user ranges (${INSTANCES} + ${INSTANCES})`, 'listeningPorts'),
        row('directories under <dataDir>/hosting/instances', 'instanceDirs'),
        row('mounts under the data dir (/proc/mounts)', 'loopMounts'),
        row('loop devices backed by a file under the data dir', 'loopDevices'),
        row(`${USER_PREFIX}* users of these leases`, 'users'),
        row(`${USER_PREFIX}* users on the machine (any host)`, 'usersMachineWide'),
        row('lease records (HLEN hosting:<peer id>:leases)', 'leaseRecords'),
      ],
    ),
  );
  lines.push(`   host counters: ${JSON.stringify(y.hostCounters)}`);
  lines.push(`4. host node RSS (MB): host A idle ${f(out.hostAIdleRssMb)}; host B before the cycles ${f(y.hostRssMb.before)}, after ${f(y.hostRssMb.after)}, peak ${f(y.hostRssMb.peak)}`);
  lines.push(`host-side steps alone, same filesystem, ms p50 (max) of 5: ${Object.entries(out.steps as Record<string, Dist>).map(([k, d]) => `${k} ${f(d.p50)} (${f(d.max)})`).join(', ')}`);
  lines.push(`host A after parts 1-2: ${JSON.stringify(out.hostALeftovers)}`);
  for (const [name, log] of [['host A', out.hostALog], ['host B', out.hostBLog]] as const) {
    if (log === undefined) continue;
    lines.push(`${name} logged ${log.count} warnings/errors${log.count === 0 ? '' : `: ${Object.entries(log.byMessage as Record<string, number>).map(([m, n]) => `${n} × ${m}`).join('; ')}`}`);
  }
  lines.push(`machine: load average ${out.machine.loadAvgBefore.join(' ')} before, ${out.machine.loadAvgAfter.join(' ')} after; ${f(out.machine.busyPct)}% of all cores busy over the run (${f(out.machine.wallSeconds)} s)`);
  const text = lines.join('\n');
  if (json) {
    process.stderr.write(`${text}\n`);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else process.stdout.write(`${text}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench hosting: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
