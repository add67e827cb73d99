import { adminGet, adminSocketPath } from '../admin.js';
import { textTable } from '../cli/node-commands.js';
import { PlexusError } from '../errors.js';
import { PLAN_ERRORS } from './errors.js';
import { loadPlanFile } from './load.js';
import { type NetNode, type NetState, readState, runDirOf } from './net-state.js';
import { alive } from './netns.js';

/** `plexus net status`: each node's health from its supervisor and its admin socket. */

export async function waitFor(state: NetState, nodes: NetNode[], ok: (row: StatusRow) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await Promise.all(nodes.map((n) => rowOf(state, n)));
    if (rows.every(ok)) return;
    if (Date.now() > deadline) {
      const bad = rows.filter((r) => !ok(r));
      throw new PlexusError(PLAN_ERRORS.ERR_NET, `not ready after ${timeoutMs / 1000} s: ${bad.map((r) => `${r.node} (${r.health}${r.detail === '' ? '' : `: ${r.detail}`})`).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface StatusRow {
  node: string;
  role: string;
  netns: string;
  address: string;
  multiaddr?: string;
  /** Host nodes: their dockerd's socket (`docker -H unix://…`). */
  docker?: string;
  /** ready | starting | degraded | down */
  health: string;
  /** Replication lag of a replica store, in bytes behind its master; undefined for other nodes. */
  lagBytes?: number;
  /** Addresses in the WireGuard networks. */
  wireguard: Record<string, string>;
  detail: string;
}

async function rowOf(state: NetState, n: NetNode): Promise<StatusRow> {
  const row: StatusRow = {
    node: n.name,
    role: n.role,
    netns: n.ns,
    address: n.address,
    ...(n.multiaddr === undefined ? {} : { multiaddr: n.multiaddr }),
    ...(n.docker === undefined ? {} : { docker: n.docker }),
    health: 'down',
    wireguard: {},
    detail: '',
  };
  const sup = state.supervisors.find((s) => s.node === n.name);
  if (sup === undefined || !alive(sup.pid)) return { ...row, detail: sup === undefined ? 'not started' : 'supervisor gone' };
  let st: any;
  try {
    st = await adminGet(adminSocketPath(n.dataDir), '/status', 2000);
  } catch (err) {
    return { ...row, health: 'starting', detail: (err as Error).message.split('\n')[0]! };
  }
  const problems: string[] = [];
  const store = st?.plugins?.store;
  if (store?.role === 'replica') {
    if (typeof store.lagBytes === 'number') row.lagBytes = store.lagBytes;
    if (store.masterLink !== 'up') problems.push(`store master link ${store.masterLink ?? '?'}`);
  }
  for (const w of (st?.plugins?.wireguard?.networks ?? []) as { network: string; address?: string }[]) {
    if (w.address === undefined) problems.push(`no address in ${w.network} yet`);
    else row.wireguard[w.network] = w.address;
  }
  // A tunnel `waiting` reached its router, which has no name exposed with its secret yet: that
  // is the operator's next step (`plexus gateway expose --client-secret`), not a fault.
  const remotes = (st?.plugins?.tunnel?.remotes ?? []) as { remote: string; state: string }[];
  const unreached = remotes.filter((r) => r.state !== 'up' && r.state !== 'waiting');
  if (unreached.length > 0) problems.push(`router ${unreached.map((r) => `${r.remote} ${r.state}`).join(', ')}`);
  else if (remotes.length > 0 && remotes.every((r) => r.state === 'waiting')) row.detail = 'tunnel waiting: no name exposed with its secret yet';
  return { ...row, health: problems.length === 0 ? 'ready' : 'degraded', detail: problems.length === 0 ? row.detail : problems.join('; ') };
}

export async function statusRows(state: NetState): Promise<StatusRow[]> {
  return Promise.all(state.nodes.map((n) => rowOf(state, n)));
}

export interface StatusResult {
  plan: string;
  runDir: string;
  explorer?: string;
  up: boolean;
  visitor?: { ns: string; address: string };
  nodes: StatusRow[];
}

export async function netStatus(planFile: string, runDirOpt?: string): Promise<StatusResult> {
  const loaded = await loadPlanFile(planFile);
  const runDir = runDirOf(loaded, runDirOpt);
  const state = await readState(runDir);
  if (state === undefined) return { plan: loaded.plan.network.name, runDir, up: false, nodes: [] };
  return { plan: state.name, runDir, up: state.supervisors.some((s) => alive(s.pid)), ...(state.explorer === undefined ? {} : { explorer: state.explorer }), ...(state.visitor === undefined ? {} : { visitor: state.visitor }), nodes: await statusRows(state) };
}

export function formatStatus(r: StatusResult): string {
  if (r.nodes.length === 0) return `${r.plan} is not up (no state in ${r.runDir}).`;
  return [`${r.plan}: ${r.up ? 'up' : 'down'} (run dir ${r.runDir})`, statusTable(r.nodes)].join('\n');
}

export function statusTable(rows: StatusRow[]): string {
  return textTable(
    ['node', 'role', 'netns', 'address', 'health', 'lag', 'wireguard', 'detail'],
    rows.map((r) => [r.node, r.role, r.netns, r.address, r.health, r.lagBytes === undefined ? '-' : `${r.lagBytes} B`, Object.entries(r.wireguard).map(([k, v]) => `${k} ${v}`).join(', ') || '-', r.detail]),
    '(no nodes)',
  );
}
