import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Readings from /proc (Linux only; the benchmarks target the project's Debian machines). */

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** VmRSS and VmHWM (peak RSS) of `pid` in MiB; undefined once the process is gone. */
export function memoryMb(pid: number): { rss: number; hwm: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

interface ProcStat {
  ppid: number;
  comm: string;
  /** user + system CPU time of all threads, in seconds. */
  cpuSeconds: number;
}

function procStat(pid: number, file = `/proc/${pid}/stat`): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces and parentheses: the fields after it start at the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(f[1]), comm, cpuSeconds: (Number(f[11]) + Number(f[12])) / ticksPerSecond() };
}

/** CPU seconds (user + system) `pid` has used so far; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  return procStat(pid)?.cpuSeconds ?? Number.NaN;
}

/** CPU seconds of `pid`'s main thread alone (a node process: its event loop); NaN once it is gone. */
export function mainThreadCpuSeconds(pid: number): number {
  return procStat(pid, `/proc/${pid}/task/${pid}/stat`)?.cpuSeconds ?? Number.NaN;
}

/** Direct children of `pid` whose command name starts with `commPrefix`. */
export function childPids(pid: number, commPrefix = ''): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (st !== undefined && st.ppid === pid && st.comm.startsWith(commPrefix)) out.push(Number(name));
  }
  return out;
}

/** Machine-wide CPU counters from /proc/stat, in ticks. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}
