import type { InfoAnswer } from './client.js';
import type { SentinelView } from './sentinel.js';

/**
 * What `status()` reports, for `plexus status` and for other plugins through the capability. A type
 * alias rather than an interface so that it also satisfies `PluginInstance.status()`'s
 * `Record<string, unknown>`; it is a superset of core's `StoreStatus`.
 */
export type StoreStatusReport = {
  role: 'master' | 'replica';
  managed: boolean;
  /** Where the store listens, `host:port`, without the password. */
  address: string;
  keys: number;
  /** Replica: `up` only while redis reports its link up and the master answers us too. */
  masterLink?: 'up' | 'down';
  /** Replica: the master, `host:port`. */
  masterHost?: string;
  /**
   * Replica: bytes of the master's replication stream not yet processed here (master's
   * `master_repl_offset` minus our `slave_repl_offset`). Unset when the master cannot be asked, or
   * when it is on another history than ours (it restarted and a full sync is due).
   */
  lagBytes?: number;
  /** Replica: seconds since anything came over the link; unset while it is down. */
  lastIoSecondsAgo?: number;
  /** Replica: seconds the link has been down; unset while it is up. */
  linkDownSinceSeconds?: number;
  /** Replica: a full copy is being transferred from the master right now. */
  syncInProgress?: boolean;
  /** Replica: why the master could not be asked (unreachable, or it refused our masterauth). */
  masterError?: string;
  /** Master: replicas connected now. */
  connectedReplicas?: number;
  /** Master: one entry per connected replica. */
  replicas?: ReplicaEntry[];
  /** Addresses redis listens on, when another plugin added some to `bind` (`listenOn`). */
  listening?: string[];
  /** Stores of a sentinel group (explorers) and replicas following one (DNS nodes): the sentinels' view. */
  sentinel?: SentinelView;
};

/** One replica as its master sees it (an `INFO replication` `slaveN:` line). */
export type ReplicaEntry = {
  /** `ip:port` the replica announced (its listening port, not the link's source port). */
  addr: string;
  /** `online` once in sync; `wait_bgsave`/`send_bulk` during a full sync. */
  state: string;
  /** Offset the replica acknowledged processing. */
  offset: number;
  /** How far behind the master's offset that is. */
  lagBytes: number;
};

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddress(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Parses `INFO` text into a map of its `key:value` lines. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}

/** A numeric INFO field, or undefined when absent or not a number. */
function num(info: Map<string, string>, key: string): number | undefined {
  const raw = info.get(key);
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * The replicas listed in a master's `INFO replication` (`slave0:ip=10.1.0.2,port=6379,state=online,
 * offset=1234,lag=0`), each with its lag behind `master_repl_offset`.
 */
export function parseReplicas(info: Map<string, string>): ReplicaEntry[] {
  const masterOffset = num(info, 'master_repl_offset') ?? 0;
  const out: ReplicaEntry[] = [];
  for (const [key, value] of info) {
    if (!/^slave\d+$/.test(key)) continue;
    const fields = new Map(value.split(',').map((pair) => {
      const at = pair.indexOf('=');
      return [pair.slice(0, at), pair.slice(at + 1)] as const;
    }));
    const offset = Number(fields.get('offset') ?? 0);
    out.push({
      addr: formatAddress({ host: fields.get('ip') ?? '?', port: Number(fields.get('port') ?? 0) }),
      state: fields.get('state') ?? 'unknown',
      offset,
      lagBytes: Math.max(0, masterOffset - offset),
    });
  }
  return out;
}

/** Inputs of `buildStatus`: what this store's redis said, and for a replica what its master said. */
export interface StatusInput {
  managed: boolean;
  address: string;
  keys: number;
  /** Parsed `INFO replication` of this store's redis. */
  local: Map<string, string>;
  /** The master's `INFO replication`, when this is a replica that knows how to ask it. */
  master?: InfoAnswer | undefined;
  /** `host:port` of the configured master, used when redis does not name one. */
  configuredMaster?: string | undefined;
}

/** Assembles the status report from INFO answers. Pure, so the rules are tested without servers. */
export function buildStatus(input: StatusInput): StoreStatusReport {
  const { local } = input;
  const role = local.get('role') === 'slave' ? 'replica' : 'master';
  const status: StoreStatusReport = { role, managed: input.managed, address: input.address, keys: input.keys };
  if (role === 'master') {
    status.connectedReplicas = num(local, 'connected_slaves') ?? 0;
    status.replicas = parseReplicas(local);
    return status;
  }
  const host = local.get('master_host');
  const port = num(local, 'master_port');
  const masterHost = host !== undefined && port !== undefined ? formatAddress({ host, port }) : input.configuredMaster;
  if (masterHost !== undefined) status.masterHost = masterHost;
  const linkUp = local.get('master_link_status') === 'up';
  status.masterLink = linkUp && input.master?.ok !== false ? 'up' : 'down';
  status.syncInProgress = local.get('master_sync_in_progress') === '1';
  const io = num(local, 'master_last_io_seconds_ago');
  if (linkUp && io !== undefined && io >= 0) status.lastIoSecondsAgo = io;
  const downSince = num(local, 'master_link_down_since_seconds');
  if (!linkUp && downSince !== undefined && downSince >= 0) status.linkDownSinceSeconds = downSince;
  if (input.master?.ok === false) {
    status.masterError = input.master.authFailed ? `the master refused masterauth: ${input.master.error}` : input.master.error;
  } else if (input.master?.ok === true) {
    const remote = parseInfo(input.master.info);
    const masterOffset = num(remote, 'master_repl_offset');
    // slave_repl_offset is what this replica has applied; master_repl_offset is the fallback of older redis.
    const applied = num(local, 'slave_repl_offset') ?? num(local, 'master_repl_offset');
    // Offsets of two different histories (the master restarted, a full sync is due) do not subtract.
    const sameHistory = remote.get('master_replid') === local.get('master_replid');
    if (masterOffset !== undefined && applied !== undefined && sameHistory) {
      status.lagBytes = Math.max(0, masterOffset - applied);
    }
  }
  return status;
}
