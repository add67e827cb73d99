import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { stopDockerd } from './dockerd.js';
import { loadPlanFile } from './load.js';
import { idOf, readState, runDirOf } from './net-state.js';
import { alive, inNs, linksWithPrefix, mountsUnder, namespaces, processesIn, sh, unmountUnder } from './netns.js';

/**
 * `plexus net down`: removes what `up` made, found from its state and by the run's id in names (so
 * a lost state file still leaves nothing behind), and counts what it removed and what is left.
 */

/** What `down` removed and what it could not, by kind; `left` must be all zeros. */
export interface DownResult {
  plan: string;
  runDir: string;
  removed: Record<Kind, number>;
  left: Record<Kind, number>;
}

type Kind = 'processes' | 'containers' | 'namespaces' | 'interfaces' | 'nftTables' | 'wireguardSockets' | 'mounts';
const KINDS: Kind[] = ['processes', 'containers', 'namespaces', 'interfaces', 'nftTables', 'wireguardSockets', 'mounts'];
let leftAfterDown = 0;

/** Total of `left` of the last `netDown` in this process (the CLI's exit code). */
export function lastDownLeft(): number {
  return leftAfterDown;
}

export async function netDown(planFile: string, runDirOpt?: string): Promise<DownResult> {
  const loaded = await loadPlanFile(planFile);
  const runDir = runDirOf(loaded, runDirOpt);
  const id = idOf(runDir);
  const state = await readState(runDir);
  const removed = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  const mine = (ns: string): boolean => ns.startsWith(`px${id}-`);

  // Nodes first, cleanly: a node stopping removes its WireGuard interfaces and stops its redis-server.
  for (const s of state?.supervisors ?? []) if (alive(s.pid)) process.kill(s.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while ((state?.supervisors ?? []).some((s) => alive(s.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const s of state?.supervisors ?? []) {
    if (alive(s.pid)) process.kill(s.pid, 'SIGKILL');
    removed.processes++;
  }
  for (const d of state?.dockerds ?? []) {
    removed.containers += await stopDockerd(d);
    removed.processes++;
  }
  // Whatever still runs inside our namespaces (a node that did not stop, its children).
  const ours = (await namespaces()).filter(mine);
  for (const pid of await processesIn(ours)) {
    try {
      process.kill(pid, 'SIGKILL');
      removed.processes++;
    } catch {
      // Gone meanwhile.
    }
  }
  const stillThere = async (): Promise<number> => (await processesIn(ours)).length;
  const killDeadline = Date.now() + 10_000;
  while ((await stillThere()) > 0 && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 100));

  for (const t of state?.nft ?? []) {
    if (await inNs(t.ns, ['nft', 'delete', 'table', 'ip', t.table]).then(() => true, () => false)) removed.nftTables++;
  }
  for (const ns of ours) {
    const links = (await inNs(ns, ['ip', '-o', 'link', 'show']).catch(() => '')).split('\n').filter((l) => /^\d+:/.test(l) && !/^\d+:\s+lo:/.test(l));
    if (await sh(['ip', 'netns', 'del', ns]).then(() => true, () => false)) {
      removed.namespaces++;
      removed.interfaces += links.length;
    }
  }
  // wireguard-go's control sockets of a node that was killed rather than stopped.
  const wgDir = '/var/run/wireguard';
  for (const f of await readdir(wgDir).catch(() => [] as string[])) {
    if (f.startsWith(`px${id}`)) {
      await rm(join(wgDir, f), { force: true });
      removed.wireguardSockets++;
    }
  }
  for (const leaked of await linksWithPrefix(`pv${id}`)) {
    if (await sh(['ip', 'link', 'del', leaked]).then(() => true, () => false)) removed.interfaces++;
  }
  // Mounts dockerd left in its data root (a private mount propagation keeps them after it exits).
  removed.mounts += await unmountUnder(join(runDir, 'docker'));
  // Run-dir state goes; the logs stay for reading after the fact.
  for (const entry of ['config', 'data', 'docker', 'secrets.yaml', 'state.json']) await rm(join(runDir, entry), { recursive: true, force: true });

  const left: Record<Kind, number> = {
    processes: (state?.supervisors ?? []).filter((s) => alive(s.pid)).length + (state?.dockerds ?? []).filter((d) => alive(d.pid)).length,
    containers: 0,
    namespaces: (await namespaces()).filter(mine).length,
    interfaces: (await linksWithPrefix(`pv${id}`)).length,
    nftTables: 0,
    wireguardSockets: (await readdir(wgDir).catch(() => [] as string[])).filter((f) => f.startsWith(`px${id}`)).length,
    mounts: (await mountsUnder(runDir)).length,
  };
  leftAfterDown = Object.values(left).reduce((a, b) => a + b, 0);
  return { plan: loaded.plan.network.name, runDir, removed, left };
}

export function formatDown(r: DownResult): string {
  const list = (c: Record<Kind, number>): string => KINDS.map((k) => `${k} ${c[k]}`).join(', ');
  const leftTotal = Object.values(r.left).reduce((a, b) => a + b, 0);
  return [`${r.plan}: removed ${list(r.removed)}`, leftTotal === 0 ? 'left behind: nothing' : `LEFT BEHIND: ${list(r.left)}`, `logs kept in ${join(r.runDir, 'logs')}`].join('\n');
}
