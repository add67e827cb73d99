import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  name: string;
  where: string;
  /** Share of the busy (non-idle) samples. */
  pct: number;
  ms: number;
}

export interface ProfileSummary {
  file: string;
  /** Sampled wall time, and the part of it the process was not idle. */
  totalMs: number;
  busyMs: number;
  /** By self time: where the CPU actually went. */
  self: HotFunction[];
  /** By inclusive time, project code only (core/, plugins/): which of our functions the time is spent under. */
  inclusive: HotFunction[];
}

/**
 * Summaries of the `.cpuprofile` files `node --cpu-prof` wrote into `dir`; with `pid`, only that
 * process's (node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile).
 */
export async function summarizeProfiles(dir: string, limit = 15, pid?: number): Promise<ProfileSummary[]> {
  const out: ProfileSummary[] = [];
  const mine = (n: string): boolean => n.endsWith('.cpuprofile') && (pid === undefined || n.split('.')[3] === String(pid));
  for (const f of (await readdir(dir)).filter(mine).sort()) {
    out.push(summarize(JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile, join(dir, f), limit));
  }
  return out;
}

function summarize(p: CpuProfile, file: string, limit: number): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: ProfileNode): { key: string; name: string; where: string; ours: boolean } => {
    const fr = n.callFrame;
    const name = fr.functionName || '(anonymous)';
    const where = fr.url === '' ? '' : `${shortUrl(fr.url)}:${fr.lineNumber + 1}`;
    return { key: `${name} ${where}`, name, where, ours: /\/(core|plugins\/[^/]+)\/dist\//.test(fr.url) && !fr.url.includes('node_modules') };
  };
  const self = new Map<string, { name: string; where: string; us: number }>();
  const incl = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  let idle = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const n = byId.get(id);
    if (n === undefined) return;
    const l = label(n);
    if (l.name === '(idle)') {
      idle += dt;
      return;
    }
    const e = self.get(l.key) ?? { name: l.name, where: l.where, us: 0 };
    e.us += dt;
    self.set(l.key, e);
    // Inclusive: every distinct project function on this sample's stack (recursion counted once).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (node === undefined) break;
      const a = label(node);
      if (!a.ours || seen.has(a.key)) continue;
      seen.add(a.key);
      const ie = incl.get(a.key) ?? { name: a.name, where: a.where, us: 0 };
      ie.us += dt;
      incl.set(a.key, ie);
    }
  });
  const busy = total - idle;
  const top = (m: Map<string, { name: string; where: string; us: number }>): HotFunction[] =>
    [...m.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, limit)
      .map((e) => ({ name: e.name, where: e.where, ms: e.us / 1000, pct: busy > 0 ? (100 * e.us) / busy : 0 }));
  return { file, totalMs: total / 1000, busyMs: busy / 1000, self: top(self), inclusive: top(incl) };
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const m = /\/(core|plugins\/[^/]+)\/dist\/(.*)$/.exec(url);
  return m === null ? url.replace(/^file:\/\//, '') : `${m[1]}/${m[2]}`;
}
