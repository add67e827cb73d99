import type { ProfileSummary } from './cpu-profile.js';
import type { LevelResult, SuiteResult } from './registration-suite.js';
import { round } from './stats.js';
import { formatTable } from './table.js';

/** Everything the registrations benchmark reports, as printed and as written with --json. */
export interface RegistrationsReport {
  date: string;
  machine: { cores: number; cpu: string; node: string };
  settings: { seconds: number; warmupSeconds: number; workers: number; explorerLogLevel: string; explorerNodeOptions: string | null };
  machineBusyBeforePct: number;
  reference: { ed25519VerifyPerSec: number };
  helpWallMs: { median: number; runs: number[] };
  main: SuiteResult;
  fsyncCompare?: SuiteResult;
  /** The highest level again with the other rpc.verifyThreads arrangement (threads vs the event loop). */
  verifyCompare?: SuiteResult;
  aims: { aim: string; target: string; measured: number; met: boolean }[];
}

export function aimsOf(main: SuiteResult, helpMedianMs: number): RegistrationsReport['aims'] {
  const closed = main.levels.filter((l) => l.offeredPerSec === undefined);
  const top = closed.reduce((a, b) => (b.registrationsPerSec > a.registrationsPerSec ? b : a));
  const at100 = closed.find((l) => l.concurrency === 100);
  const open100 = main.levels.filter((l) => l.offeredPerSec !== undefined && l.concurrency === 100);
  // Issue 14: >= 4,000/s with 100 clients on 2 cores; p99 < 20 ms at 1,000/s offered (open loop).
  return [
    { aim: `signed registrations/s, 100 clients, one explorer, 2 cores (fsync ${main.fsync})`, target: '>= 4,000', measured: (at100 ?? top).registrationsPerSec, met: (at100 ?? top).registrationsPerSec >= 4000 },
    ...open100.filter((l) => l.offeredPerSec === 1000).map((l) => ({ aim: `p99 at 100 concurrent clients, open loop ${l.offeredPerSec}/s`, target: '< 20 ms', measured: l.p99Ms, met: l.p99Ms < 20 })),
    { aim: 'idle explorer RSS (node process)', target: '< 100 MB', measured: main.memoryMb.explorerIdle, met: main.memoryMb.explorerIdle < 100 },
    { aim: 'plexus --help wall time (median)', target: '< 300 ms', measured: round(helpMedianMs), met: helpMedianMs < 300 },
  ];
}

const label = (r: SuiteResult, l: LevelResult): string =>
  `${r.fsync}${r.verifyThreads === null ? '' : `, verify threads ${r.verifyThreads}`}, ${l.offeredPerSec === undefined ? 'closed' : `open ${l.offeredPerSec}/s`}, C=${l.concurrency}`;

function throughputTable(r: SuiteResult, open: boolean): string {
  const rows = r.levels.filter((l) => (l.offeredPerSec !== undefined) === open);
  const headers = ['concurrency', ...(open ? ['offered/s'] : []), 'registrations/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', '÷ verify/s'];
  return formatTable(
    headers,
    rows.map((l) => [l.concurrency, ...(open ? [l.offeredPerSec!] : []), l.registrationsPerSec, l.p50Ms, l.p99Ms, l.p999Ms, l.errors, l.ratioToVerify]),
  );
}

function resourceTable(suites: SuiteResult[]): string {
  const headers = ['run', 'explorer CPU %', 'redis CPU %', 'clients CPU %', 'other CPU %', 'machine busy %', 'explorer lag max ms', 'explorer GC max ms', 'explorer GC %', 'client lag p99 ms', 'client lag max ms', 'client GC max ms'];
  const na = Number.NaN;
  const rows = suites.flatMap((r) =>
    r.levels.map((l) => [
      label(r, l),
      l.cpu.explorerPct,
      l.cpu.redisPct,
      l.cpu.clientsPct,
      l.cpu.otherPct,
      l.cpu.machineBusyPct,
      l.explorer?.lagMaxMs ?? na,
      l.explorer?.gcMaxMs ?? na,
      l.explorer?.gcPct ?? na,
      l.clients.lagP99Ms,
      l.clients.lagMaxMs,
      l.clients.gcMaxMs,
    ]),
  );
  return formatTable(headers, rows);
}

function profileLines(p: ProfileSummary): string[] {
  return [
    `explorer CPU profile ${p.file}: ${round(p.totalMs / 1000)} s sampled, ${round(p.busyMs / 1000)} s busy (whole run, idle phases included); % of busy time`,
    'top functions by self time:',
    formatTable(['self %', 'self ms', 'function', 'where'], p.self.map((f) => [round(f.pct, 1), round(f.ms, 0), f.name, f.where])),
    '',
    'project functions (core/, plugins/) by inclusive time:',
    formatTable(['incl %', 'incl ms', 'function', 'where'], p.inclusive.map((f) => [round(f.pct, 1), round(f.ms, 0), f.name, f.where])),
  ];
}

/** The human-readable report. */
export function formatReport(rep: RegistrationsReport): string {
  const { main, fsyncCompare: compare, verifyCompare: inline } = rep;
  const suites = [main, ...(compare === undefined ? [] : [compare]), ...(inline === undefined ? [] : [inline])];
  const maxLevel = Math.max(...main.levels.map((l) => l.concurrency));
  const atMax = main.levels.find((l) => l.offeredPerSec === undefined && l.concurrency === maxLevel)!;
  const out: string[] = [];
  out.push(`Signed registrations (phonebook name_register over libp2p RPC), one explorer (store + phonebook), ${rep.date}`);
  out.push(
    `machine: ${rep.machine.cores} x ${rep.machine.cpu}, Node ${rep.machine.node}; ${rep.settings.seconds} s per level after ${rep.settings.warmupSeconds} s warm-up; ` +
      `clients in ${rep.settings.workers} worker process(es), each client its own libp2p node and Ed25519 key` +
      (rep.settings.explorerNodeOptions === null ? '' : `; explorer NODE_OPTIONS=${rep.settings.explorerNodeOptions}`),
  );
  out.push('');
  out.push(`fsync ${main.fsync}, closed loop (each client sends its next call when the previous one is answered):`);
  out.push(throughputTable(main, false));
  if (main.levels.some((l) => l.offeredPerSec !== undefined)) {
    out.push('');
    out.push(`fsync ${main.fsync}, open loop (fixed send schedule; latency from the scheduled send time):`);
    out.push(throughputTable(main, true));
  }
  if (compare !== undefined) {
    out.push('');
    out.push(`fsync ${compare.fsync}, closed loop (comparison):`);
    out.push(throughputTable(compare, false));
  }
  if (inline !== undefined) {
    const a = inline.levels[0]!;
    out.push('');
    out.push(`fsync ${inline.fsync}, closed loop, rpc.verifyThreads ${inline.verifyThreads ?? 'default'} (the other arrangement), same run:`);
    out.push(throughputTable(inline, false));
    out.push(`ratio, main run ÷ rpc.verifyThreads ${inline.verifyThreads ?? 'default'}, C=${a.concurrency}: ${round(atMax.registrationsPerSec / Math.max(1, a.registrationsPerSec), 2)} (registrations/s), ${round(atMax.p99Ms / Math.max(0.01, a.p99Ms), 2)} (p99)`);
  }
  const ref = main.storeReference;
  if (ref !== undefined) {
    out.push('');
    out.push(
      `reference: the same registrations (the phonebook's script, new names) from ${ref.callers} closed loops over one ioredis connection straight into the ` +
        `explorer's redis (fsync ${main.fsync}), no RPC, no libp2p, no signatures: ${ref.registrationsPerSec.toLocaleString('en-US')}/s, ` +
        `p50 ${ref.p50Ms} ms, p99 ${ref.p99Ms} ms, p99.9 ${ref.p999Ms} ms, ${ref.errors} errors; ` +
        `plexus ÷ reference at C=${atMax.concurrency}: ${round(atMax.registrationsPerSec / Math.max(1, ref.registrationsPerSec), 2)}`,
    );
  }
  for (const r of suites) {
    const errs = r.levels.filter((l) => l.errors > 0).map((l) => `${label(r, l)}: ${Object.entries(l.errorCodes).map(([k, n]) => `${k} x${n}`).join(', ')}`);
    if (errs.length > 0) out.push(`errors by code: ${errs.join('; ')}`);
  }
  out.push('');
  out.push(
    `reference: Ed25519 verify, node:crypto, one thread: ${rep.reference.ed25519VerifyPerSec.toLocaleString('en-US')}/s (one signature per registration: ` +
      'the ceiling of an explorer that verifies on its one JS thread, rpc.verifyThreads 0); ÷ verify/s = registrations/s over that.',
  );
  const m = main.memoryMb;
  out.push(
    `explorer RSS: idle ${m.explorerIdle} MB, ${main.connect.clients} clients connected ${m.explorerWithClients} MB, peak under load ${m.explorerPeak} MB; ` +
      `its redis-server: idle ${m.redisIdle} MB, peak ${m.redisPeak} MB`,
  );
  out.push(`plexus --help: median ${rep.helpWallMs.median} ms over ${rep.helpWallMs.runs.length} runs (min ${Math.min(...rep.helpWallMs.runs)}, max ${Math.max(...rep.helpWallMs.runs)})`);
  out.push(
    `connecting ${main.connect.clients} clients took ${main.connect.seconds} s (${main.connect.refusedAttempts} refused attempts): libp2p admits 5 inbound ` +
      'connections/s per IP by default, so the clients connect at a paced rate before the levels run',
  );
  out.push('');
  out.push('where the time went (CPU in % of one core over the window, the machine has ' + `${rep.machine.cores * 100}%; machine busy in % of all cores; lag = event-loop delay):`);
  out.push(resourceTable(suites));
  out.push('');
  out.push('CPU ms per registration (load on the machine changes these far less than the rates; main thread = the explorer\'s event loop):');
  out.push(
    formatTable(
      ['run', 'explorer', 'explorer main thread', 'redis', 'clients'],
      suites.flatMap((r) => r.levels.map((l) => [label(r, l), l.cpuMsPerRegistration.explorer, l.cpuMsPerRegistration.explorerMainThread, l.cpuMsPerRegistration.redis, l.cpuMsPerRegistration.clients])),
    ),
  );
  out.push('');
  out.push(formatTable(['aim', 'target', 'measured', 'met'], rep.aims.map((a) => [a.aim, a.target, a.measured, a.met ? 'yes' : 'no'])));
  out.push('');
  out.push(
    `note: the explorer, its redis-server and the clients share this machine's ${rep.machine.cores} cores. At ${atMax.concurrency} clients (closed loop) the clients used ` +
      `${atMax.cpu.clientsPct}% of a core, the explorer ${atMax.cpu.explorerPct}%, redis ${atMax.cpu.redisPct}%, everything else (kernel, driver) ${atMax.cpu.otherPct}%; ` +
      `machine ${atMax.cpu.machineBusyPct}% busy. ` +
      (atMax.cpu.explorerPct >= 75 ? `The explorer process is at ${atMax.cpu.explorerPct}% of a core and its request path runs on one JS thread: it is close to its limit. ` : '') +
      (atMax.cpu.machineBusyPct >= 85
        ? 'The machine is CPU-bound and the clients take CPU a dedicated explorer would have: the figure is a lower bound for an explorer on its own 2 cores.'
        : atMax.cpu.explorerPct >= 75
          ? 'The machine still has some idle CPU, so the clients do not yet starve the explorer.'
          : 'Neither the machine nor the explorer is CPU-bound: the limit is latency (fsync, round trips).'),
  );
  out.push(
    `note: in a closed loop mean latency = clients / throughput (Little's law): ${atMax.concurrency} clients at ${atMax.registrationsPerSec}/s wait ` +
      `${round((1000 * atMax.concurrency) / Math.max(1, atMax.registrationsPerSec))} ms on average, so p99 < 20 ms at ${atMax.concurrency} closed-loop clients needs well over ` +
      `${(atMax.concurrency * 50).toLocaleString('en-US')}/s; the open-loop rows (--open-rate) show latency at ${maxLevel} clients below saturation.`,
  );
  const maxOther = Math.max(...suites.flatMap((r) => r.levels.map((l) => l.cpu.otherPct)));
  if (rep.machineBusyBeforePct > 10 || maxOther > 30) {
    out.push(
      `warning: other work shared the machine (busy ${rep.machineBusyBeforePct}% before the start; other CPU up to ${maxOther}% of a core during a level): ` +
        'the figures are low and noisy; rerun on a quiet machine.',
    );
  }
  for (const r of suites) {
    if (r.explorerLog.lines > 0) out.push(`the explorer (fsync ${r.fsync}) logged ${r.explorerLog.lines} line(s) at level ${rep.settings.explorerLogLevel}; last:\n${r.explorerLog.tail}`);
  }
  for (const p of main.profile ?? []) out.push('', ...profileLines(p));
  return `${out.join('\n')}\n`;
}
