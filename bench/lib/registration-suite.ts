import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PlexusError, RpcClient } from '@plexus/core';
import { makeTempDir, removeTempDir } from './cleanup.js';
import { ClientWorkers } from './client-workers.js';
import { type ProfileSummary, summarizeProfiles } from './cpu-profile.js';
import type { ProbeLine } from './explorer-probe.js';
import { type LogLevel, PlexusProcess, plexusId, writeExplorerConfig } from './plexus-node.js';
import { childPids, cpuSeconds, machineCpu, mainThreadCpuSeconds, memoryMb } from './proc.js';
import { type StoreReference, storeReference } from './registration-reference.js';
import { percentile, round, sortedCopy } from './stats.js';

const PHONEBOOK = '/plexus/phonebook/1';
const PROBE_MODULE = pathToFileURL(join(import.meta.dirname, 'explorer-probe.js')).href;

export type Fsync = 'always' | 'everysec';

export interface SuiteOptions {
  seconds: number;
  warmup: number;
  workers: number;
  logLevel: LogLevel;
  /** NODE_OPTIONS for the explorer, besides the probe and the profiler. */
  nodeOptions: string | undefined;
  /** Preload the lag/GC probe into the explorer. */
  probe: boolean;
  cpuProfDir: string | undefined;
  /** `node.rpc.verifyThreads` of the explorer; undefined: the node's default. */
  verifyThreads?: number;
  /** After the levels, also write the same registrations straight into the explorer's redis. */
  storeReference?: boolean;
}

/** One measured run: C clients, closed loop, or open loop at a total offered rate. */
export interface LevelSpec {
  concurrency: number;
  offeredPerSec?: number;
}

export interface LevelResult {
  concurrency: number;
  /** Open loop only: the total rate the clients were told to send. */
  offeredPerSec?: number;
  registrationsPerSec: number;
  completed: number;
  p50Ms: number;
  p99Ms: number;
  p90Ms: number;
  p999Ms: number;
  maxMs: number;
  errors: number;
  errorCodes: Record<string, number>;
  /** registrations/s ÷ single-thread Ed25519 verifies/s. */
  ratioToVerify: number;
  /**
   * CPU in % of one core over the window; `otherPct` is the rest of the machine's busy time (kernel
   * work for loopback TCP and fsync, the driver, other processes). machineBusyPct: % of all cores.
   */
  cpu: { explorerPct: number; redisPct: number; clientsPct: number; otherPct: number; machineBusyPct: number };
  /**
   * CPU ms per completed registration: the explorer process (all threads), its main thread (the
   * event loop), its redis-server, the clients. Far less sensitive to other load than the rates.
   */
  cpuMsPerRegistration: { explorer: number; explorerMainThread: number; redis: number; clients: number };
  /** From the probe preloaded into the explorer; undefined without it. */
  explorer?: { lagMaxMs: number; gcMaxMs: number; gcPct: number };
  clients: { lagP99Ms: number; lagMaxMs: number; gcMaxMs: number };
}

export interface SuiteResult {
  fsync: Fsync;
  /** `node.rpc.verifyThreads` as configured; null: the node's default. */
  verifyThreads: number | null;
  levels: LevelResult[];
  memoryMb: { explorerIdle: number; explorerWithClients: number; explorerPeak: number; redisIdle: number; redisPeak: number };
  connect: { clients: number; seconds: number; refusedAttempts: number };
  /** What the explorer logged at its level (warn by default: any line is worth a look). */
  explorerLog: { lines: number; tail: string };
  profile?: ProfileSummary[];
  storeReference?: StoreReference;
}

export const progress = (line: string): void => {
  process.stderr.write(`# ${line}\n`);
};

/** Starts one explorer, connects the clients, runs every level, stops everything it started. */
export async function runSuite(opts: SuiteOptions, fsync: Fsync, levels: LevelSpec[], verifyPerSec: number): Promise<SuiteResult> {
  const dir = await makeTempDir('plexus-bench-');
  try {
    const cfg = await writeExplorerConfig(dir, { fsync, logLevel: opts.logLevel, ...(opts.verifyThreads === undefined ? {} : { verifyThreads: opts.verifyThreads }) });
    const id = await plexusId(cfg.file);
    const target = id.multiaddrs.find((a) => a.startsWith('/ip4/127.0.0.1/'));
    if (target === undefined) throw new Error(`plexus id gave no loopback multiaddr: ${id.multiaddrs.join(', ')}`);
    const probeFile = join(dir, 'probe.jsonl');
    const nodeOptions = [
      opts.nodeOptions,
      opts.probe ? `--import=${PROBE_MODULE}` : undefined,
      opts.cpuProfDir === undefined ? undefined : `--cpu-prof --cpu-prof-dir=${opts.cpuProfDir}`,
    ].filter((x) => x !== undefined);
    const env = { ...(nodeOptions.length > 0 ? { NODE_OPTIONS: nodeOptions.join(' ') } : {}), ...(opts.probe ? { PLEXUS_BENCH_PROBE_FILE: probeFile } : {}) };
    progress(`starting explorer (fsync ${fsync}, verify threads ${opts.verifyThreads ?? 'default'}, log level ${opts.logLevel}) from ${cfg.file}`);
    const node = await PlexusProcess.start(cfg.file, { logLevel: opts.logLevel, probe: () => phonebookAnswers(target), env });
    let workers: ClientWorkers | undefined;
    try {
      const redisPid = childPids(node.pid, 'redis-server')[0];
      if (redisPid === undefined) throw new Error('the explorer has no redis-server child');
      const explorerIdle = memoryMb(node.pid)!.rss;
      const redisIdle = memoryMb(redisPid)!.rss;

      const maxLevel = Math.max(...levels.map((l) => l.concurrency));
      workers = ClientWorkers.spawn(Math.min(opts.workers, maxLevel));
      // libp2p accepts at most 5 inbound connections per second per IP: pace below that.
      const paceMs = workers.size * 220;
      progress(`connecting ${maxLevel} clients from ${workers.size} worker process(es), one every ${paceMs / workers.size} ms`);
      const t0 = Date.now();
      const connected = await workers.connect(maxLevel, { target, paceMs, timeoutMs: 10_000, connectBudgetMs: Math.max(120_000, maxLevel * 1000) });
      const connect = { clients: maxLevel, seconds: round((Date.now() - t0) / 1000), refusedAttempts: connected.reduce((a, c) => a + c.retries, 0) };
      const explorerWithClients = memoryMb(node.pid)!.rss;

      const peak = { explorer: explorerWithClients, redis: redisIdle };
      const results: LevelResult[] = [];
      for (const spec of levels) {
        results.push(await runLevel(opts, spec, { fsync, node, redisPid, workers, peak, verifyPerSec, probeFile: opts.probe ? probeFile : undefined }));
        const gone = node.exitStatus;
        if (gone !== undefined) {
          throw new Error(`the explorer exited during the ${spec.concurrency}-client level (code ${gone.code}, signal ${gone.signal}); its stderr (tail):\n${node.tail}`);
        }
        if (childPids(node.pid, 'redis-server')[0] !== redisPid) progress(`warning: the explorer's redis-server (pid ${redisPid}) is gone or was replaced during this level`);
        peak.explorer = Math.max(peak.explorer, memoryMb(node.pid)?.hwm ?? 0);
      }
      peak.redis = Math.max(peak.redis, memoryMb(redisPid)?.hwm ?? 0);
      let reference: StoreReference | undefined;
      if (opts.storeReference === true) {
        progress(`reference: ${maxLevel} closed loops of the phonebook's register script straight into the explorer's redis (no RPC), ${opts.warmup} s warm-up + ${opts.seconds} s`);
        reference = await storeReference(join(dir, 'data'), cfg.redisPort, maxLevel, opts.warmup * 1000, opts.seconds * 1000, `ref${Date.now().toString(36)}`);
      }
      await workers.close();
      workers = undefined;
      const exit = await node.stop();
      if (exit?.code !== 0) progress(`explorer exited with code ${exit?.code}, signal ${exit?.signal}`);
      const result: SuiteResult = {
        fsync,
        verifyThreads: opts.verifyThreads ?? null,
        levels: results,
        memoryMb: {
          explorerIdle: round(explorerIdle),
          explorerWithClients: round(explorerWithClients),
          explorerPeak: round(peak.explorer),
          redisIdle: round(redisIdle),
          redisPeak: round(peak.redis),
        },
        connect,
        explorerLog: { lines: node.stderrLines, tail: node.stderrLines === 0 ? '' : node.tail.trimEnd().split('\n').slice(-6).join('\n') },
      };
      if (reference !== undefined) result.storeReference = reference;
      if (opts.cpuProfDir !== undefined) result.profile = await summarizeProfiles(opts.cpuProfDir, 20, node.pid);
      return result;
    } finally {
      await workers?.close();
      await node.stop();
    }
  } finally {
    removeTempDir(dir);
  }
}

/** Readiness at log levels that hide "node started": a phonebook `get` answers (ERR_NOT_FOUND is an answer). */
async function phonebookAnswers(target: string): Promise<void> {
  const c = await RpcClient.connect(target, { timeoutMs: 2000 });
  try {
    await c.call(PHONEBOOK, 'get', { name: 'bench-probe' });
  } catch (err) {
    if (!(err instanceof PlexusError && err.code === 'ERR_NOT_FOUND')) throw err;
  } finally {
    await c.close();
  }
}

interface LevelContext {
  fsync: Fsync;
  node: PlexusProcess;
  redisPid: number;
  workers: ClientWorkers;
  /** Running RSS maxima in MiB, updated by the sampler. */
  peak: { explorer: number; redis: number };
  verifyPerSec: number;
  probeFile: string | undefined;
}

async function runLevel(opts: SuiteOptions, spec: LevelSpec, ctx: LevelContext): Promise<LevelResult> {
  const { concurrency, offeredPerSec } = spec;
  const { node, redisPid, peak } = ctx;
  const mode = offeredPerSec === undefined ? 'closed loop' : `open loop, ${offeredPerSec}/s offered`;
  progress(`fsync ${ctx.fsync}: ${concurrency} concurrent client(s), ${mode}, ${opts.warmup} s warm-up + ${opts.seconds} s`);
  const startAt = Date.now() + 300;
  const measureStart = startAt + opts.warmup * 1000;
  const measureMs = opts.seconds * 1000;
  const sampler = setInterval(() => {
    peak.explorer = Math.max(peak.explorer, memoryMb(node.pid)?.rss ?? 0);
    peak.redis = Math.max(peak.redis, memoryMb(redisPid)?.rss ?? 0);
  }, 100);
  const snap = (): { explorer: number; explorerMain: number; redis: number; machine: { busy: number; total: number } } => ({
    explorer: cpuSeconds(node.pid),
    explorerMain: mainThreadCpuSeconds(node.pid),
    redis: cpuSeconds(redisPid),
    machine: machineCpu(),
  });
  let first: ReturnType<typeof snap> | undefined;
  let last: ReturnType<typeof snap> | undefined;
  const tFirst = setTimeout(() => (first = snap()), measureStart - Date.now());
  const tLast = setTimeout(() => (last = snap()), measureStart + measureMs - Date.now());
  let runs;
  try {
    runs = await ctx.workers.run(concurrency, {
      startAt,
      warmupMs: opts.warmup * 1000,
      measureMs,
      tag: `b${startAt.toString(36)}-c${concurrency}`,
      maxCallsPerClient: 10_000_000,
      ...(offeredPerSec === undefined ? {} : { openRatePerClient: offeredPerSec / concurrency }),
    });
  } finally {
    clearInterval(sampler);
    clearTimeout(tFirst);
    clearTimeout(tLast);
  }
  // Workers answer after the window closed, so both snapshots exist; be safe anyway.
  first ??= snap();
  last ??= snap();
  const seconds = measureMs / 1000;
  const lat = sortedCopy(runs.flatMap((r) => r.latenciesMs));
  const completed = runs.reduce((a, r) => a + r.completed, 0);
  const errorCodes: Record<string, number> = {};
  for (const r of runs) for (const [k, n] of Object.entries(r.errors)) errorCodes[k] = (errorCodes[k] ?? 0) + n;
  const machineTicks = last.machine.total - first.machine.total;
  const machineBusyPct = machineTicks > 0 ? (100 * (last.machine.busy - first.machine.busy)) / machineTicks : Number.NaN;
  const explorerPct = (100 * (last.explorer - first.explorer)) / seconds;
  const redisPct = (100 * (last.redis - first.redis)) / seconds;
  const clientsPct = (100 * runs.reduce((a, r) => a + r.cpuSeconds, 0)) / seconds;
  const rps = completed / seconds;
  const msPer = (cpuSecondsUsed: number): number => round((1000 * cpuSecondsUsed) / Math.max(1, completed), 3);
  const explorer = ctx.probeFile === undefined ? undefined : probeWindow(ctx.probeFile, measureStart, measureStart + measureMs);
  return {
    concurrency,
    ...(offeredPerSec === undefined ? {} : { offeredPerSec }),
    registrationsPerSec: round(rps, 0),
    completed,
    p50Ms: round(percentile(lat, 50), 2),
    p99Ms: round(percentile(lat, 99), 2),
    p90Ms: round(percentile(lat, 90), 2),
    p999Ms: round(percentile(lat, 99.9), 2),
    maxMs: round(percentile(lat, 100), 2),
    errors: Object.values(errorCodes).reduce((a, b) => a + b, 0),
    errorCodes,
    ratioToVerify: round(rps / ctx.verifyPerSec, 3),
    cpu: {
      explorerPct: round(explorerPct, 0),
      redisPct: round(redisPct, 0),
      clientsPct: round(clientsPct, 0),
      otherPct: round(Math.max(0, machineBusyPct * cpus().length - explorerPct - redisPct - clientsPct), 0),
      machineBusyPct: round(machineBusyPct, 0),
    },
    cpuMsPerRegistration: {
      explorer: msPer(last.explorer - first.explorer),
      explorerMainThread: msPer(last.explorerMain - first.explorerMain),
      redis: msPer(last.redis - first.redis),
      clients: msPer(runs.reduce((a, r) => a + r.cpuSeconds, 0)),
    },
    ...(explorer === undefined ? {} : { explorer }),
    clients: {
      lagP99Ms: round(Math.max(...runs.map((r) => r.loopDelayP99Ms)), 1),
      lagMaxMs: round(Math.max(...runs.map((r) => r.loopDelayMaxMs)), 1),
      gcMaxMs: round(Math.max(...runs.map((r) => r.gcMaxMs)), 1),
    },
  };
}

/** The probe's seconds that fall inside [from, to] (a line covers the second before its `t`). */
function probeWindow(file: string, from: number, to: number): { lagMaxMs: number; gcMaxMs: number; gcPct: number } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ProbeLine)
    .filter((l) => l.t > from + 500 && l.t <= to + 500);
  if (lines.length === 0) return undefined;
  const covered = lines.length * 1000;
  return {
    lagMaxMs: round(Math.max(...lines.map((l) => l.lagMaxMs)), 1),
    gcMaxMs: round(Math.max(...lines.map((l) => l.gcMaxMs)), 1),
    gcPct: round((100 * lines.reduce((a, l) => a + l.gcTotalMs, 0)) / covered, 1),
  };
}
