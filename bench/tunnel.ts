import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { encodeService, tcprouterKey } from '@plexus/core';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir, trackProcessGroup, untrackProcessGroup } from './lib/cleanup.js';
import { type ProfileSummary, summarizeProfiles } from './lib/cpu-profile.js';
import { iperf3, startIperf3Server, type Iperf3Result } from './lib/iperf3.js';
import { PLEXUS_BIN, PlexusProcess } from './lib/plexus-node.js';
import { freePort } from './lib/ports.js';
import { cpuSeconds, machineCpu, memoryMb } from './lib/proc.js';
import { startSshTunnel, type SshTunnel } from './lib/ssh-tunnel.js';
import { round } from './lib/stats.js';
import { formatTable } from './lib/table.js';
import type { ClientRequest, FromClient, IdleOpenResult, LatencyResult, StreamResult, Target, ToClient } from './lib/tunnel-protocol.js';

/**
 * The reverse tunnel (tcprouter `clients` port + `plexus tunnel`) beside `ssh -R` and beside no
 * tunnel at all, in the same run, on loopback:
 *  (1) throughput: a client sends a request head with `Host:` (the router routes by it) and then
 *      streams bytes for S seconds, up (client → local service) and down, over 1 and 8 parallel
 *      connections; the same client and sink code on every path. iperf3 for direct and ssh -R as a
 *      sanity reference (iperf3 sends no Host, so it cannot cross the router);
 *  (2) new-connection latency: connect → head → first answer byte, sequential, p50/p99;
 *  (3) memory per idle tunnelled connection: RSS of the router node and of the tunnel client (and of
 *      sshd and ssh) before and after opening 1,000 (and 5,000) idle connections.
 * The router is a real `plexus start` node (store + tcprouter with its `clients` port) with a tunnel
 * route written into its store in the gateway's format; the tunnel client is a real `plexus tunnel`
 * process; the clients run in a forked worker; the local service is its own process. Never fails
 * on a number.
 */
const NAME = 'bench.tunnel.test';
const USAGE = `usage: node bench/dist/tunnel.js [--seconds S] [--connections LIST] [--latency-count N] [--idle LIST] [--no-iperf3] [--no-plexus] [--cpu-prof DIR] [--json]
  --seconds S          seconds per throughput run, prefix+stream and iperf3 alike (default 10)
  --connections LIST   parallel connections of the throughput runs (default 1,8)
  --latency-count N    sequential new connections per path for the latency figures (default 2000)
  --idle LIST          idle connections held open for the memory figures (default 1000,5000)
  --no-iperf3          skip the iperf3 reference runs
  --no-plexus          only the references (direct, ssh -R): for a build without the tunnel
  --cpu-prof DIR       run the router node and the tunnel client under node --cpu-prof (profiles in DIR)
                       and print their top functions
  --json               results as JSON on stdout; the tables go to stderr
`;
/** ENVIRONMENT.md, measured on these machines with iperf3, 1 stream (another day: compare ratios). */
const REFERENCE = { loopbackGbit: 13.2, sshGbit: 2.2 };
const STORE_PASSWORD = 'bench-store-password';
const PATHS = ['direct', 'plexus', 'ssh'] as const;
type PathName = (typeof PATHS)[number];
const run = promisify(execFile);

const progress = (line: string): void => void process.stderr.write(`# ${line}\n`);

/** The forked client worker (lib/tunnel-client.ts): one request at a time, answered by id. */
class ClientWorker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private exitError: Error | undefined;
  readonly child: ChildProcess;

  constructor() {
    // execArgv [] so that profiling flags given to the driver do not apply to the clients.
    this.child = fork(fileURLToPath(new URL('./lib/tunnel-client.js', import.meta.url)), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromClient) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`client worker: ${m.error}`));
    });
    this.child.once('exit', (code, signal) => {
      this.exitError = new Error(`client worker exited (code ${code}, signal ${signal})`);
      for (const p of this.pending.values()) p.reject(this.exitError);
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<T>(m: ClientRequest): Promise<T> {
    if (this.exitError !== undefined) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...m, id } as ToClient);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    await Promise.race([this.request({ op: 'exit' }).catch(() => undefined).then(() => exited), new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** A helper process in its own process group that prints one JSON line on stdout when ready. */
async function startHelper<T>(args: string[], what: string): Promise<{ info: T; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  trackProcessGroup(child.pid!);
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code})`)));
  });
  const stop = (): void => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // gone
    }
    untrackProcessGroup(child.pid!);
  };
  return { info: JSON.parse(line) as T, pid: child.pid!, stop };
}

/** `plexus status --json` of the router node: its tcprouter block. */
async function routerStatus(configFile: string): Promise<Record<string, unknown> | undefined> {
  const { stdout } = await run(PLEXUS_BIN, ['status', '--config', configFile, '--json'], { timeout: 30_000 });
  return (JSON.parse(stdout) as { plugins?: { tcprouter?: Record<string, unknown> } }).plugins?.tcprouter;
}

/** Tunnel sessions the router reports (`.tunnel.sessions`); undefined while the router has no such field. */
function sessionsOf(status: Record<string, unknown> | undefined): number | undefined {
  const t = status?.tunnel as Record<string, unknown> | undefined;
  const s = t?.sessions;
  if (typeof s === 'number') return s;
  if (Array.isArray(s)) return s.length;
  return undefined;
}

interface Router {
  node: PlexusProcess;
  http: number;
  clients: number;
}

/** The router: store + tcprouter (HTTP, TLS and the tunnel clients' port); the tunnel route written into the store. */
async function startRouter(dir: string, secret: string, maxStreams: number, env: Record<string, string>): Promise<Router> {
  const [redisPort, p2p, http, tls, clients] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const cfg = join(dir, 'router.yaml');
  await writeFile(
    cfg,
    `node:\n  name: bench-tunnel-router\n  dataDir: ${join(dir, 'router')}\n  listen: [/ip4/127.0.0.1/tcp/${p2p}]\n  log: { level: info }\n` +
      `plugins:\n  store: { port: ${redisPort}, fsync: everysec, password: ${STORE_PASSWORD} }\n  tcprouter:\n` +
      `    listen: { http: '127.0.0.1:${http}', tls: '127.0.0.1:${tls}', clients: '127.0.0.1:${clients}' }\n` +
      '    limits: { maxConnections: 20000, maxPerIp: 20000 }\n' +
      `    tunnel: { maxStreamsPerSession: ${maxStreams} }\n`,
  );
  const node = await PlexusProcess.start(cfg, { logLevel: 'info', env });
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, password: STORE_PASSWORD });
  try {
    // What `gateway expose --client-secret` writes (COMPAT §2): no addr, the client's secret.
    await redis.set(tcprouterKey(NAME), encodeService(NAME, { addr: '', tlsport: 443, httpport: 80, clientsecret: secret }));
  } finally {
    redis.disconnect();
  }
  return { node, http, clients };
}

/**
 * The tunnel client: a node whose only plugin is `tunnel`, exactly what `plexus tunnel --remote
 * ROUTER:CLIENTS --secret S --local 127.0.0.1:SERVICE --data-dir DIR` builds from its flags (no
 * libp2p listener), written as a role file so that `maxStreams` can be raised for the idle levels
 * (the command has no flag for it; its default, 1,024 per router, would refuse the 5,000 level).
 */
async function startTunnelClient(dir: string, clientsPort: number, secret: string, localPort: number, maxStreams: number, env: Record<string, string>): Promise<PlexusProcess> {
  const cfg = join(dir, 'tunnel.yaml');
  await writeFile(
    cfg,
    `node:\n  name: tunnel\n  dataDir: ${join(dir, 'tunnel')}\n  listen: []\n  log: { level: info }\n` +
      `plugins:\n  tunnel:\n    remotes: ['127.0.0.1:${clientsPort}']\n    secret: '${secret}'\n    local: '127.0.0.1:${localPort}'\n    maxStreams: ${maxStreams}\n`,
  );
  return PlexusProcess.start(cfg, { logLevel: 'info', env });
}

/** Until the router reports a session (when it reports sessions at all) and a request crosses the tunnel. */
async function waitForTunnel(router: Router, tunnel: PlexusProcess, worker: ClientWorker): Promise<number | undefined> {
  const deadline = Date.now() + 30_000;
  let sessions: number | undefined;
  let last = '';
  for (;;) {
    if (tunnel.exitStatus !== undefined) throw new Error(`the tunnel client exited:\n${tunnel.tail}`);
    const st = await routerStatus(router.node.configFile).catch(() => undefined);
    sessions = sessionsOf(st);
    if (sessions === undefined || sessions >= 1) {
      const r = await worker.request<LatencyResult>({ op: 'latency', target: { port: router.http, name: NAME }, count: 1 });
      if (r.completed === 1) return sessions;
      last = r.firstError ?? '';
    } else last = `router status: tunnel.sessions = ${sessions}`;
    if (Date.now() > deadline) {
      throw new Error(`no request crossed the tunnel within 30 s (${last})\n--- tunnel client (tail) ---\n${tunnel.tail.slice(-4000)}\n--- router (tail) ---\n${router.node.tail.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** CPU (% of one core) of named processes and the machine (% of all cores) over `fn`. */
async function withCpu<T>(pids: Record<string, number[]>, fn: () => Promise<T>): Promise<{ result: T; cpuPct: Record<string, number> }> {
  const sum = (ps: number[]): number => ps.reduce((a, p) => a + (cpuSeconds(p) || 0), 0);
  const before = Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, sum(ps)]));
  const m0 = machineCpu();
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const m1 = machineCpu();
  const cpuPct: Record<string, number> = Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, round(((sum(ps) - before[k]!) / seconds) * 100, 0)]));
  cpuPct.machineBusy = round(((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * 100, 0);
  return { result, cpuPct };
}

const rssKb = (pid: number): number => (memoryMb(pid)?.rss ?? Number.NaN) * 1024;
const fdCount = (pid: number): number => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
};

/**
 * RSS (KB) of each process once it stopped moving: polled every 200 ms until, over the last 2 s,
 * it moved less than max(256 KB, 0.25%) for every process; at most `maxMs`.
 */
async function settledRss(pids: Record<string, number[]>, maxMs = 30_000): Promise<{ kb: Record<string, number>; settled: boolean; waitedMs: number }> {
  const names = Object.keys(pids);
  const hist: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const t0 = Date.now();
  for (;;) {
    for (const n of names) hist[n]!.push(pids[n]!.reduce((a, p) => a + rssKb(p), 0));
    const window = 10;
    const steady = names.every((n) => {
      const h = hist[n]!.slice(-window);
      if (h.length < window) return false;
      const last = h[h.length - 1]!;
      return Math.max(...h) - Math.min(...h) <= Math.max(256, last * 0.0025);
    });
    const waitedMs = Date.now() - t0;
    if (steady || waitedMs > maxMs) return { kb: Object.fromEntries(names.map((n) => [n, hist[n]!.at(-1)!])), settled: steady, waitedMs };
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Until the processes' open descriptors are back to (about) what they were. */
async function waitFds(pids: number[], baseline: number, maxMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    if (pids.reduce((a, p) => a + fdCount(p), 0) <= baseline + 8) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface IdleLevel {
  count: number;
  opened: number;
  errors: number;
  firstError?: string;
  openSeconds: number;
  /** KB per process role, settled: before the first level (the baseline), before this one, with the connections open. */
  baselineKb: Record<string, number>;
  beforeKb: Record<string, number>;
  afterKb: Record<string, number>;
  /** (with the connections open − baseline) ÷ connections opened; `total` sums the roles. */
  kbPerConnection: Record<string, number>;
  settled: boolean;
  closedCleanly: boolean;
}

/**
 * Opens `count` idle connections through `target`, reads the settled RSS of the path's processes,
 * closes them and waits for their descriptors to be released. Growth is counted from `baseline`
 * (the RSS before the first level), so memory a smaller level left allocated is not reused for free.
 */
async function idleLevel(worker: ClientWorker, target: Target, pids: () => Record<string, number[]>, count: number, baseline: Record<string, number> | undefined): Promise<IdleLevel> {
  const all = (): number[] => Object.values(pids()).flat();
  const before = await settledRss(pids());
  const base = baseline ?? before.kb;
  const fdBase = all().reduce((a, p) => a + fdCount(p), 0);
  const open = await worker.request<IdleOpenResult>({ op: 'idleOpen', target, count, parallel: 64 });
  const after = await settledRss(pids());
  await worker.request({ op: 'idleClose' });
  const closedCleanly = await waitFds(all(), fdBase);
  const kbPerConnection: Record<string, number> = {};
  for (const k of Object.keys(base)) kbPerConnection[k] = open.opened === 0 ? Number.NaN : round((after.kb[k]! - base[k]!) / open.opened, 1);
  kbPerConnection.total = round(Object.keys(base).reduce((a, k) => a + kbPerConnection[k]!, 0), 1);
  return {
    count,
    opened: open.opened,
    errors: open.errors,
    ...(open.firstError === undefined ? {} : { firstError: open.firstError }),
    openSeconds: round(open.seconds, 2),
    baselineKb: base,
    beforeKb: before.kb,
    afterKb: after.kb,
    kbPerConnection,
    settled: before.settled && after.settled,
    closedCleanly,
  };
}

function parseList(name: string, value: string | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  const list = value.split(',').map((x) => positiveNumber(name, x.trim(), 0));
  return list.map((n) => Math.round(n));
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({
      options: {
        seconds: { type: 'string' },
        connections: { type: 'string' },
        'latency-count': { type: 'string' },
        idle: { type: 'string' },
        'no-iperf3': { type: 'boolean' },
        'no-plexus': { type: 'boolean' },
        'cpu-prof': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (v.help === true) return void process.stdout.write(USAGE);
  installCleanup();
  const seconds = positiveNumber('seconds', v.seconds, 10);
  const connections = parseList('connections', v.connections, [1, 8]);
  const latencyCount = Math.round(positiveNumber('latency-count', v['latency-count'], 2000));
  const idleCounts = parseList('idle', v.idle, [1000, 5000]);
  const withPlexus = v['no-plexus'] !== true;
  const withIperf = v['no-iperf3'] !== true;
  const profDir = v['cpu-prof'];
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
  const profEnv: Record<string, string> = profDir === undefined ? {} : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}` };

  // How busy the machine was before we started (other work skews every figure here).
  const m0 = machineCpu();
  await new Promise((r) => setTimeout(r, 1000));
  const m1 = machineCpu();
  const busyBefore = round(((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * 100, 0);

  const dir = await makeTempDir('plexus-bench-tunnel-');
  const secret = randomBytes(16).toString('hex');
  const stops: (() => Promise<void> | void)[] = [];
  const worker = new ClientWorker();
  stops.push(() => worker.close());
  try {
    const sink = await startHelper<{ port: number }>([fileURLToPath(new URL('./lib/tunnel-sink.js', import.meta.url))], 'the local service (tunnel-sink)');
    stops.push(sink.stop);
    const iperfServer = withIperf ? await startIperf3Server() : undefined;
    if (iperfServer !== undefined) stops.push(iperfServer.stop);
    progress(`local service on 127.0.0.1:${sink.info.port}${iperfServer === undefined ? '' : `, iperf3 -s on 127.0.0.1:${iperfServer.port}`}`);

    const ssh: SshTunnel = await startSshTunnel(dir, [sink.info.port, ...(iperfServer === undefined ? [] : [iperfServer.port])]);
    stops.push(() => ssh.stop());
    progress(`ssh -R: ${ssh.version}, cipher ${ssh.cipher}, 127.0.0.1:${ssh.publicPort.get(sink.info.port)} -> ${sink.info.port}`);

    let router: Router | undefined;
    let tunnel: PlexusProcess | undefined;
    let sessionsSeen: number | undefined;
    if (withPlexus) {
      // Room for the largest idle level in one session (both ends default to 1,024 streams).
      const maxStreams = Math.max(1024, ...idleCounts.map((n) => n + 256));
      router = await startRouter(dir, secret, maxStreams, profEnv);
      const r = router;
      stops.push(async () => void (await r.node.stop()));
      tunnel = await startTunnelClient(dir, router.clients, secret, sink.info.port, maxStreams, profEnv);
      const t = tunnel;
      stops.push(async () => void (await t.stop()));
      sessionsSeen = await waitForTunnel(router, tunnel, worker);
      progress(`plexus: router HTTP 127.0.0.1:${router.http}, clients port ${router.clients}, tunnel client pid ${tunnel.pid}; router reports ${sessionsSeen ?? '(no tunnel.sessions field)'} session(s)`);
    }

    const targets: Partial<Record<PathName, Target>> = {
      direct: { port: sink.info.port, name: NAME },
      ...(router === undefined ? {} : { plexus: { port: router.http, name: NAME } }),
      ssh: { port: ssh.publicPort.get(sink.info.port)!, name: NAME },
    };
    const paths = PATHS.filter((p) => targets[p] !== undefined);
    /** Processes doing each path's work beside the client and the sink. */
    const pathPids = (p: PathName): Record<string, number[]> =>
      p === 'plexus' ? { router: [router!.node.pid], tunnelClient: [tunnel!.pid] } : p === 'ssh' ? { sshd: ssh.sessionPids(), ssh: [ssh.sshPid] } : {};
    const cpuPids = (p: PathName): Record<string, number[]> => ({ client: [worker.pid], sink: [sink.pid], ...pathPids(p) });

    // Warm-up, not measured: a few connections on every path (code paths compiled, pools made).
    for (const p of paths) await worker.request<LatencyResult>({ op: 'latency', target: targets[p]!, count: 50 });

    // (3) Memory first, before any bulk transfer has grown the processes' buffers and heaps (memory
    // they keep, and that idle connections would then fill for free).
    const idle: Record<string, Partial<Record<PathName, IdleLevel>>> = {};
    const baselines: Partial<Record<PathName, Record<string, number>>> = {};
    for (const count of idleCounts) {
      idle[count] = {};
      for (const p of paths.filter((x) => x !== 'direct')) {
        progress(`idle: ${count} connections through ${p}`);
        const r = await idleLevel(worker, targets[p]!, () => pathPids(p), count, baselines[p]);
        baselines[p] ??= r.baselineKb;
        idle[count]![p] = r;
      }
    }

    // More warm-up: a short stream each way on every path.
    for (const p of paths) {
      for (const direction of ['up', 'down'] as const) await worker.request<StreamResult>({ op: 'stream', target: targets[p]!, direction, connections: 1, seconds: 1 });
    }

    // (2) New-connection latency, sequential.
    const latency: Partial<Record<PathName, LatencyResult>> = {};
    for (const p of paths) {
      progress(`latency: ${latencyCount} new connections through ${p}`);
      latency[p] = await worker.request<LatencyResult>({ op: 'latency', target: targets[p]!, count: latencyCount });
    }

    // (1) Throughput, prefix + stream.
    const throughput: Record<string, Record<string, Partial<Record<PathName, StreamResult & { cpuPct: Record<string, number> }>>>> = { up: {}, down: {} };
    for (const direction of ['up', 'down'] as const) {
      for (const n of connections) {
        throughput[direction]![n] = {};
        for (const p of paths) {
          progress(`throughput: ${direction}, ${n} connection(s), ${seconds} s through ${p}`);
          const { result, cpuPct } = await withCpu(cpuPids(p), () => worker.request<StreamResult>({ op: 'stream', target: targets[p]!, direction, connections: n, seconds }));
          throughput[direction]![n]![p] = { ...result, gbitPerSecond: round(result.gbitPerSecond, 3), perConnection: result.perConnection.map((x) => round(x, 3)), cpuPct };
        }
      }
    }

    // iperf3 (sanity reference; it cannot cross the router: no Host to route by).
    const iperf: Record<string, Partial<Record<'direct' | 'ssh', Iperf3Result & { cpuPct: Record<string, number> }>>> = {};
    if (iperfServer !== undefined) {
      for (const n of connections) {
        iperf[n] = {};
        for (const p of ['direct', 'ssh'] as const) {
          progress(`iperf3: ${n} stream(s), ${seconds} s, ${p}`);
          const port = p === 'direct' ? iperfServer.port : ssh.publicPort.get(iperfServer.port)!;
          const { result, cpuPct } = await withCpu(p === 'ssh' ? pathPids('ssh') : {}, () => iperf3(port, seconds, n));
          iperf[n]![p] = { ...result, gbitPerSecond: round(result.gbitPerSecond, 3), cpuPct };
        }
      }
    }

    const status = router === undefined ? undefined : await routerStatus(router.node.configFile);
    const rss = router === undefined ? undefined : { routerMb: round(memoryMb(router.node.pid)?.rss ?? Number.NaN), routerPeakMb: round(memoryMb(router.node.pid)?.hwm ?? Number.NaN), tunnelClientMb: round(memoryMb(tunnel!.pid)?.rss ?? Number.NaN), tunnelClientPeakMb: round(memoryMb(tunnel!.pid)?.hwm ?? Number.NaN) };

    // Stop in order (profiles are written when the processes exit).
    let profiles: { router?: ProfileSummary; tunnelClient?: ProfileSummary } | undefined;
    if (router !== undefined && tunnel !== undefined) {
      const routerPid = router.node.pid;
      const tunnelPid = tunnel.pid;
      await tunnel.stop();
      await router.node.stop();
      if (profDir !== undefined) {
        profiles = { router: (await summarizeProfiles(profDir, 15, routerPid))[0], tunnelClient: (await summarizeProfiles(profDir, 15, tunnelPid))[0] };
      }
    }

    const out = {
      date: new Date().toISOString(),
      name: NAME,
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? '?', node: process.version, busyBeforePct: busyBefore },
      settings: { seconds, connections, latencyCount, idleCounts },
      ssh: { version: ssh.version, cipher: ssh.cipher },
      iperf3Version: iperfServer?.version,
      reference: REFERENCE,
      throughput,
      iperf3: iperf,
      latency,
      idle,
      plexus: router === undefined ? undefined : { sessionsReported: sessionsSeen, rss, routerStatus: status, routerLogLines: router.node.stderrLines, tunnelLogLines: tunnel!.stderrLines, tunnelClientTail: tunnel!.tail.trimEnd().split('\n').slice(-5).join('\n') },
      profiles,
    };
    report(out, v.json === true);
  } finally {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch {
        // keep stopping the rest
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

type PerPath<T> = Partial<Record<PathName, T>>;

interface Out {
  date: string;
  machine: { cores: number; cpu: string; node: string; busyBeforePct: number };
  settings: { seconds: number; connections: number[]; latencyCount: number; idleCounts: number[] };
  ssh: { version: string; cipher: string };
  iperf3Version: string | undefined;
  reference: typeof REFERENCE;
  throughput: Record<string, Record<string, PerPath<StreamResult & { cpuPct: Record<string, number> }>>>;
  iperf3: Record<string, Partial<Record<'direct' | 'ssh', Iperf3Result & { cpuPct: Record<string, number> }>>>;
  latency: PerPath<LatencyResult>;
  idle: Record<string, PerPath<IdleLevel>>;
  plexus: { sessionsReported: number | undefined; rss: Record<string, number> | undefined; routerStatus: Record<string, unknown> | undefined; routerLogLines: number; tunnelClientTail: string; tunnelLogLines: number } | undefined;
  profiles: { router?: ProfileSummary; tunnelClient?: ProfileSummary } | undefined;
}

function report(out: Out, json: boolean): void {
  const f = (n: unknown, d = 0): string => (typeof n !== 'number' || !Number.isFinite(n) ? '-' : n.toFixed(d));
  const ratio = (a: unknown, b: unknown): string => (typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0 ? f(a / b, 2) : '-');
  const row = (what: string, vals: PerPath<number | undefined>, d: number): string[] => [what, f(vals.direct, d), f(vals.plexus, d), f(vals.ssh, d), ratio(vals.plexus, vals.ssh), ratio(vals.plexus, vals.direct)];
  const pick = <T>(r: PerPath<T> | undefined, fn: (x: T) => number): PerPath<number> => Object.fromEntries(PATHS.filter((p) => r?.[p] !== undefined).map((p) => [p, fn(r![p]!)]));
  const rows: string[][] = [];
  for (const dir of ['up', 'down'] as const) {
    for (const n of out.settings.connections) {
      rows.push(row(`${dir === 'up' ? 'upload' : 'download'}, ${n} connection${n === 1 ? '' : 's'}, Gbit/s (head + stream, ${out.settings.seconds} s)`, pick(out.throughput[dir]?.[n], (r) => r.gbitPerSecond), 2));
    }
  }
  for (const n of out.settings.connections) {
    if (out.iperf3[n] !== undefined) rows.push(row(`iperf3, ${n} stream${n === 1 ? '' : 's'}, Gbit/s (no Host: cannot cross the router)`, pick(out.iperf3[n], (r) => r.gbitPerSecond), 2));
  }
  const lat = out.latency;
  rows.push(row(`new connection → first byte, p50 ms (${out.settings.latencyCount} sequential)`, pick(lat, (r) => r.p50Ms), 3));
  rows.push(row('new connection → first byte, p99 ms', pick(lat, (r) => r.p99Ms), 3));
  const added = (q: 'p50Ms' | 'p99Ms'): PerPath<number> => ({ plexus: (lat.plexus?.[q] ?? Number.NaN) - (lat.direct?.[q] ?? Number.NaN), ssh: (lat.ssh?.[q] ?? Number.NaN) - (lat.direct?.[q] ?? Number.NaN) });
  rows.push(row('  added by the tunnel (− direct), p50 ms', added('p50Ms'), 3));
  rows.push(row('  added by the tunnel (− direct), p99 ms', added('p99Ms'), 3));
  for (const count of out.settings.idleCounts) rows.push(row(`memory per idle connection, ${count} open, KB (both ends)`, pick(out.idle[count], (r) => r.kbPerConnection.total!), 1));

  const cpuLine = (dir: string, n: number): string => {
    const r = out.throughput[dir]?.[n];
    const c = (p: PathName): string => {
      const x = r?.[p]?.cpuPct;
      if (x === undefined) return '';
      const parts = Object.entries(x).filter(([k]) => k !== 'machineBusy').map(([k, val]) => `${k} ${val}`);
      return `${p}: ${parts.join(', ')} (machine ${x.machineBusy}% of ${out.machine.cores} cores)`;
    };
    return `  ${dir === 'up' ? 'upload' : 'download'} x${n}: ${PATHS.map(c).filter((s) => s !== '').join('; ')}`;
  };
  const idleLines = out.settings.idleCounts.flatMap((count) => {
    const r = out.idle[count];
    const one = (p: 'plexus' | 'ssh'): string | undefined => {
      const x = r?.[p];
      if (x === undefined) return undefined;
      const parts = Object.keys(x.baselineKb).map((k) => `${k} ${f(x.kbPerConnection[k], 1)} KB (${f(x.baselineKb[k]! / 1024, 1)} → ${f(x.afterKb[k]! / 1024, 1)} MB)`);
      const flags = [x.settled ? '' : 'RSS did not settle', x.closedCleanly ? '' : 'descriptors not released within 30 s after closing', x.errors > 0 ? `${x.errors} failed (${x.firstError})` : ''].filter((s) => s !== '');
      return `  ${p === 'plexus' ? 'plexus' : 'ssh -R'}, ${x.opened}/${count} open in ${f(x.openSeconds, 1)} s: ${parts.join(', ')}${flags.length === 0 ? '' : `; ${flags.join('; ')}`}`;
    };
    return [one('plexus'), one('ssh')].filter((s): s is string => s !== undefined);
  });
  const errors: string[] = [];
  for (const [dir, byN] of Object.entries(out.throughput)) {
    for (const [n, byP] of Object.entries(byN)) {
      for (const [p, r] of Object.entries(byP)) {
        if (r.errors > 0) errors.push(`${dir} x${n} ${p}: ${r.errors} failed (${r.firstError})`);
        if ((r.countMismatches ?? 0) > 0) errors.push(`${dir} x${n} ${p}: ${r.countMismatches} connection(s) where the sink counted other than was sent`);
      }
    }
  }
  for (const [p, r] of Object.entries(out.latency)) if (r.errors > 0) errors.push(`latency ${p}: ${r.errors} failed (${r.firstError})`);
  const st = out.plexus?.routerStatus;
  const dirIperf1 = out.iperf3[1]?.direct?.gbitPerSecond;
  const sshIperf1 = out.iperf3[1]?.ssh?.gbitPerSecond;
  const text = [
    `reverse tunnel: plexus (tcprouter clients port + plexus tunnel) vs ssh -R (${out.ssh.version}; ${out.ssh.cipher}) vs direct, loopback, ${out.machine.cores} cores shared by client, router, tunnel client and local service; machine ${out.machine.busyBeforePct}% busy before the run`,
    formatTable(['measure', 'direct', 'plexus', 'ssh -R', 'plexus/ssh', 'plexus/direct'], rows),
    `reference (ENVIRONMENT.md, iperf3 1 stream, another day): raw loopback ${out.reference.loopbackGbit} Gbit/s, ssh -R ${out.reference.sshGbit} Gbit/s; this run: ${f(dirIperf1, 2)} and ${f(sshIperf1, 2)}`,
    'CPU, % of one core during the throughput runs:',
    ...out.settings.connections.flatMap((n) => [cpuLine('up', n), cpuLine('down', n)]),
    'memory per idle connection: settled RSS growth over the RSS before the first level ÷ connections (aim ≤ 40 KB per connection for each plexus process):',
    ...idleLines,
    ...(out.plexus === undefined
      ? ['plexus: not run (--no-plexus)']
      : [
          `plexus processes after the runs (MB): router RSS ${f(out.plexus.rss?.routerMb)} (peak ${f(out.plexus.rss?.routerPeakMb)}), tunnel client RSS ${f(out.plexus.rss?.tunnelClientMb)} (peak ${f(out.plexus.rss?.tunnelClientPeakMb)})`,
          `router status after the runs: connectionsOpen ${String(st?.connectionsOpen)}, tunnel ${JSON.stringify(st?.tunnel)}`,
        ]),
    ...errors.map((e) => `errors: ${e}`),
    ...profileLines('router node', out.profiles?.router),
    ...profileLines('tunnel client', out.profiles?.tunnelClient),
  ].join('\n');
  if (json) {
    process.stderr.write(`${text}\n`);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else process.stdout.write(`${text}\n`);
}

function profileLines(who: string, p: ProfileSummary | undefined): string[] {
  if (p === undefined) return [];
  return [
    '',
    `${who} CPU profile ${p.file}: ${round(p.totalMs / 1000)} s sampled, ${round(p.busyMs / 1000)} s busy (whole run); top functions by self time, % of busy time:`,
    formatTable(['self %', 'self ms', 'function', 'where'], p.self.map((x) => [round(x.pct, 1), round(x.ms, 0), x.name, x.where])),
    'project functions (core/, plugins/) by inclusive time:',
    formatTable(['incl %', 'incl ms', 'function', 'where'], p.inclusive.map((x) => [round(x.pct, 1), round(x.ms, 0), x.name, x.where])),
  ];
}

main().catch((err: unknown) => {
  process.stderr.write(`bench tunnel: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
