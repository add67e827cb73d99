import { availableParallelism, cpus } from 'node:os';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup } from './lib/cleanup.js';
import type { LogLevel } from './lib/plexus-node.js';
import { machineCpu } from './lib/proc.js';
import { ed25519VerifyRate, helpWallTimes } from './lib/reference.js';
import { type RegistrationsReport, aimsOf, formatReport } from './lib/registration-report.js';
import { type Fsync, type LevelSpec, progress, runSuite } from './lib/registration-suite.js';
import { round } from './lib/stats.js';

const USAGE = `usage: node bench/dist/registrations.js [options]

Signed name_register calls per second on one explorer (store + phonebook), closed loops of
C concurrent clients, each its own libp2p node and key.

  --seconds N        measured seconds per concurrency level (default 8)
  --warmup N         warm-up seconds before each level (default 1)
  --levels LIST      concurrency levels, comma-separated (default 1,10,100)
  --workers K        client worker processes (default 2)
  --fsync MODE       fsync of the main explorer: always (default) or everysec
  --fsync-compare    also run the highest level once on an explorer with fsync everysec
  --open-rate LIST   also run open loops at the highest level: these total offered rates (calls/s,
                     comma-separated), latency counted from the scheduled send time
  --verify-threads N the explorer's rpc.verifyThreads (signature threads; 0: on the event loop);
                     default: the node's default (0)
  --verify-compare   also run the highest level once with the other arrangement: verify threads
                     (one per core beyond the first) when the main run verifies on the event loop
  --no-store-reference  skip the reference: the same registrations straight into the explorer's
                     redis (the phonebook's script over ioredis, no RPC), at the highest level
  --node-options=S   NODE_OPTIONS for the explorer process (e.g. --node-options=--max-semi-space-size=1)
  --wait-quiet N     first wait up to N seconds for the machine to be idle (< 10% busy for 3 s)
  --log-level L      explorer log level (default warn)
  --no-probe         do not preload the lag/GC probe into the explorer
  --cpu-prof DIR     profile the explorer (node --cpu-prof) and print its top functions
  --json             results as JSON on stdout; the table goes to stderr
  --help             this text
`;

interface Options {
  seconds: number;
  warmup: number;
  levels: number[];
  workers: number;
  fsync: Fsync;
  fsyncCompare: boolean;
  openRates: number[];
  verifyThreads: number | undefined;
  verifyCompare: boolean;
  storeReference: boolean;
  nodeOptions: string | undefined;
  logLevel: LogLevel;
  waitQuiet: number;
  probe: boolean;
  cpuProfDir: string | undefined;
  json: boolean;
}

function options(argv: string[]): Options {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        seconds: { type: 'string' },
        warmup: { type: 'string' },
        levels: { type: 'string' },
        workers: { type: 'string' },
        fsync: { type: 'string' },
        'fsync-compare': { type: 'boolean' },
        'open-rate': { type: 'string' },
        'verify-threads': { type: 'string' },
        'verify-compare': { type: 'boolean' },
        'no-store-reference': { type: 'boolean' },
        'node-options': { type: 'string' },
        'log-level': { type: 'string' },
        'wait-quiet': { type: 'string' },
        'no-probe': { type: 'boolean' },
        'cpu-prof': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (v.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const levels = (v.levels ?? '1,10,100').split(',').map((s) => Number(s.trim()));
  if (levels.some((n) => !Number.isInteger(n) || n < 1 || n > 1000)) usageError(`--levels expects integers in 1..1000, got '${v.levels}'`);
  const openRates = v['open-rate'] === undefined ? [] : v['open-rate'].split(',').map((s) => Number(s.trim()));
  if (openRates.some((n) => !Number.isFinite(n) || n <= 0 || n > 100_000)) usageError(`--open-rate expects rates in (0, 100000], got '${v['open-rate']}'`);
  const verifyThreads = v['verify-threads'] === undefined ? undefined : Number(v['verify-threads']);
  if (verifyThreads !== undefined && (!Number.isInteger(verifyThreads) || verifyThreads < 0 || verifyThreads > 16)) usageError(`--verify-threads expects an integer in 0..16, got '${v['verify-threads']}'`);
  const logLevel = (v['log-level'] ?? 'warn') as LogLevel;
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(logLevel)) usageError(`--log-level: unknown level '${logLevel}'`);
  return {
    seconds: Math.min(positiveNumber('seconds', v.seconds, 8), 600),
    warmup: Math.min(positiveNumber('warmup', v.warmup, 1), 60),
    levels,
    workers: Math.min(Math.floor(positiveNumber('workers', v.workers, 2)), 16),
    fsync: v.fsync === 'everysec' ? 'everysec' : v.fsync === undefined || v.fsync === 'always' ? 'always' : usageError(`--fsync expects always or everysec, got '${v.fsync}'`),
    fsyncCompare: v['fsync-compare'] === true,
    openRates,
    verifyThreads,
    verifyCompare: v['verify-compare'] === true,
    storeReference: v['no-store-reference'] !== true,
    nodeOptions: v['node-options'],
    logLevel,
    waitQuiet: v['wait-quiet'] === undefined ? 0 : Math.min(positiveNumber('wait-quiet', v['wait-quiet'], 0), 3600),
    probe: v['no-probe'] !== true,
    cpuProfDir: v['cpu-prof'],
    json: v.json === true,
  };
}

/** Fraction of the machine busy over the next second, in %. */
async function machineBusyFor1s(): Promise<number> {
  const a = machineCpu();
  await new Promise((r) => setTimeout(r, 1000));
  const b = machineCpu();
  return round((100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total), 0);
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  installCleanup();
  const date = new Date().toISOString();

  // Other work on the machine skews every figure here: measure how busy it is before we start,
  // and with --wait-quiet wait (bounded) for 3 quiet seconds in a row.
  let busyBeforePct = await machineBusyFor1s();
  if (opts.waitQuiet > 0) {
    const until = Date.now() + opts.waitQuiet * 1000;
    let quiet = busyBeforePct <= 10 ? 1 : 0;
    if (quiet === 0) progress(`machine ${busyBeforePct}% busy: waiting up to ${opts.waitQuiet} s for it to be quiet`);
    while (quiet < 3 && Date.now() < until) {
      busyBeforePct = await machineBusyFor1s();
      quiet = busyBeforePct <= 10 ? quiet + 1 : 0;
    }
  }
  if (busyBeforePct > 10) progress(`warning: the machine was ${busyBeforePct}% busy before the benchmark started`);

  progress('timing plexus --help (10 runs)');
  const help = await helpWallTimes(10);
  progress('measuring single-thread Ed25519 verify rate (node:crypto, 2 s)');
  const verify = ed25519VerifyRate(2000);

  const maxLevel = Math.max(...opts.levels);
  const specs: LevelSpec[] = [...opts.levels.map((concurrency) => ({ concurrency })), ...opts.openRates.map((offeredPerSec) => ({ concurrency: maxLevel, offeredPerSec }))];
  const main = await runSuite(opts, opts.fsync, specs, verify.verifiesPerSecond);
  const other: Fsync = opts.fsync === 'always' ? 'everysec' : 'always';
  const once = { ...opts, cpuProfDir: undefined, storeReference: false };
  const compare = opts.fsyncCompare ? await runSuite(once, other, [{ concurrency: maxLevel }], verify.verifiesPerSecond) : undefined;
  // The other arrangement in the same run: verify threads when the main run verifies on the event
  // loop (the default), the event loop when the main run had threads.
  const otherThreads = (opts.verifyThreads ?? 0) === 0 ? Math.max(1, availableParallelism() - 1) : 0;
  const inline = opts.verifyCompare ? await runSuite({ ...once, verifyThreads: otherThreads }, opts.fsync, [{ concurrency: maxLevel }], verify.verifiesPerSecond) : undefined;

  const report: RegistrationsReport = {
    date,
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    settings: {
      seconds: opts.seconds,
      warmupSeconds: opts.warmup,
      workers: Math.min(opts.workers, maxLevel),
      explorerLogLevel: opts.logLevel,
      explorerNodeOptions: opts.nodeOptions ?? null,
    },
    machineBusyBeforePct: busyBeforePct,
    reference: { ed25519VerifyPerSec: round(verify.verifiesPerSecond, 0) },
    helpWallMs: { median: round(help.medianMs), runs: help.runsMs.map((x) => round(x)) },
    main,
    ...(compare === undefined ? {} : { fsyncCompare: compare }),
    ...(inline === undefined ? {} : { verifyCompare: inline }),
    aims: aimsOf(main, help.medianMs),
  };
  (opts.json ? process.stderr : process.stdout).write(formatReport(report));
  if (opts.json) process.stdout.write(`${JSON.stringify({ benchmark: 'registrations', ...report }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench registrations: setup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
