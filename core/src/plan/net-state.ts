import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { NetDockerd } from './dockerd.js';
import type { LoadedPlan } from './load.js';

/** What `plexus net up` made, recorded in `<run dir>/state.json` as it is made (so `down` removes a partial `up` too). */

export interface NetNode {
  name: string;
  role: string;
  ns: string;
  address: string;
  dataDir: string;
  config: string;
  log: string;
  /** Where its libp2p listens (`…/p2p/<peer id>`); none behind NAT. */
  multiaddr?: string;
  /** Host nodes: the Engine API socket of their dockerd. */
  docker?: string;
}

export interface NetState {
  plan: string;
  name: string;
  id: string;
  runDir: string;
  namespaces: string[];
  nft: { ns: string; table: string }[];
  supervisors: { node: string; pid: number }[];
  dockerds: NetDockerd[];
  nodes: NetNode[];
  visitor?: { ns: string; address: string };
  /** Multiaddr of the explorer, for the CLI's --explorer. */
  explorer?: string;
  upMs?: number;
}

export function runDirOf(loaded: LoadedPlan, runDir: string | undefined): string {
  return resolve(runDir ?? join('.plexus-net', loaded.plan.network.name));
}

/** Short id of a run dir: every name made (namespaces, veths, nft tables) carries it, so runs never collide. */
export function idOf(runDir: string): string {
  return createHash('sha256').update(runDir).digest('hex').slice(0, 4);
}

export async function readState(runDir: string): Promise<NetState | undefined> {
  try {
    return JSON.parse(await readFile(join(runDir, 'state.json'), 'utf8')) as NetState;
  } catch {
    return undefined;
  }
}

export async function saveState(s: NetState): Promise<void> {
  await writeFile(join(s.runDir, 'state.json'), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
}

export const prefix24 = (ip: string): string => ip.split('.').slice(0, 3).join('.');
