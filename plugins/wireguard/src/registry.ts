import { EventEmitter } from 'node:events';
import { PlexusError, type Logger } from '@plexus/core';
import type { Redis } from 'ioredis';
import { lowestFree, parseCidr, type Cidr } from './cidr.js';
import type { RegistryNetworkConfig } from './config.js';
import { WIREGUARD_ERRORS } from './errors.js';
import { memberRecordSchema, type JoinResult, type MemberRecord, type MembersView } from './records.js';

/** Redis keys of one network in the registry. */
export const registryKeys = (network: string) => ({
  /** Hash: field = member's node key (64 hex), value = MemberRecord JSON. */
  members: `wireguard:members:${network}`,
  /** Counter bumped at every change of the membership. */
  version: `wireguard:version:${network}`,
  /** Set of node keys an operator removed: their joins are refused until readmitted. */
  removed: `wireguard:removed:${network}`,
});

/** Long polls waiting for a change, in all; more are answered at once with the current view. */
const MAX_WAITERS = 4096;

export interface JoinRequest {
  name: string;
  key: string;
  endpoint?: string | undefined;
  listenPort: number;
}

/**
 * The registry side (explorer): memberships and address allocation per network, in the store so
 * they survive a restart. Every change runs under one in-process lock: the explorer's plugin is the
 * only writer of these keys, so allocation needs no Redis transaction to stay collision-free.
 */
export class Registry {
  private lock: Promise<unknown> = Promise.resolve();
  private readonly changes = new EventEmitter();
  private waiters = 0;
  private readonly cidrs = new Map<string, Cidr>();

  constructor(
    private readonly redis: Redis,
    private readonly networks: Readonly<Record<string, RegistryNetworkConfig>>,
    /** Node key of the registry node itself (its own membership marks the store master). */
    readonly registryKey: string,
    private readonly log: Logger,
  ) {
    this.changes.setMaxListeners(0);
    for (const [name, n] of Object.entries(networks)) this.cidrs.set(name, parseCidr(n.cidr)!);
  }

  networkNames(): string[] {
    return Object.keys(this.networks);
  }

  /** Joins (or re-joins, keeping the address) `signer` to `network`. */
  join(network: string, signer: string, req: JoinRequest): Promise<JoinResult> {
    return this.locked(async () => {
      const net = this.network(network);
      const keys = registryKeys(network);
      if (net.config.allow !== undefined && !net.config.allow.includes(signer) && signer !== this.registryKey) {
        throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_NOT_ALLOWED, `node key ${signer.slice(0, 12)}… may not join ${network}`, { data: { network } });
      }
      if ((await this.redis.sismember(keys.removed, signer)) === 1) {
        throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_REMOVED, `node key ${signer.slice(0, 12)}… was removed from ${network}`, { data: { network } });
      }
      const all = await this.records(network);
      const mine = all.find((m) => m.signer === signer);
      const others = all.filter((m) => m.signer !== signer);
      if (others.some((m) => m.name === req.name)) {
        throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_NAME_TAKEN, `another node already joined ${network} as ${req.name}`, { data: { network, name: req.name } });
      }
      if (others.some((m) => m.key === req.key)) {
        throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_KEY_TAKEN, `another member of ${network} uses this WireGuard key`, { data: { network } });
      }
      let address = mine?.address;
      if (address === undefined) {
        address = lowestFree(net.cidr, new Set(others.map((m) => m.address)));
        if (address === undefined) {
          throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_NETWORK_FULL, `no free address left in ${network} (${net.cidr.text})`, { data: { network } });
        }
      }
      const record: MemberRecord = { name: req.name, signer, key: req.key, listenPort: req.listenPort, address, joinedAt: mine?.joinedAt ?? new Date().toISOString() };
      if (req.endpoint !== undefined) record.endpoint = req.endpoint;
      let version = Number((await this.redis.get(keys.version)) ?? 0);
      if (mine === undefined || JSON.stringify(mine) !== JSON.stringify(record)) {
        version = await this.write(network, (tx) => void tx.hset(keys.members, signer, JSON.stringify(record)));
        this.log.info({ network, name: req.name, address, signer: signer.slice(0, 12), endpoint: req.endpoint ?? null, rejoin: mine !== undefined }, 'member joined');
      }
      return { address, cidr: net.cidr.text, version };
    });
  }

  /** Removes `signer`'s membership, releasing its address. `ban`: refuse its joins until readmitted. */
  remove(network: string, signer: string, ban: boolean): Promise<{ removed: boolean; version: number }> {
    return this.locked(async () => {
      this.network(network);
      const keys = registryKeys(network);
      const existed = (await this.redis.hexists(keys.members, signer)) === 1;
      if (!existed && !ban) return { removed: false, version: Number((await this.redis.get(keys.version)) ?? 0) };
      const version = await this.write(network, (tx) => {
        tx.hdel(keys.members, signer);
        if (ban) tx.sadd(keys.removed, signer);
      });
      this.log.info({ network, signer: signer.slice(0, 12), ban }, ban ? 'member removed by the operator' : 'member left');
      return { removed: existed, version };
    });
  }

  /** Lets a removed node key join again. */
  readmit(network: string, signer: string): Promise<{ readmitted: boolean }> {
    return this.locked(async () => {
      this.network(network);
      return { readmitted: (await this.redis.srem(registryKeys(network).removed, signer)) === 1 };
    });
  }

  /** Replaces the WireGuard key of `signer`'s membership. */
  rotate(network: string, signer: string, key: string): Promise<{ version: number }> {
    return this.locked(async () => {
      this.network(network);
      const keys = registryKeys(network);
      const all = await this.records(network);
      const mine = all.find((m) => m.signer === signer);
      if (mine === undefined) throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_NOT_MEMBER, `this node is not a member of ${network}`, { data: { network } });
      if (all.some((m) => m.signer !== signer && m.key === key)) {
        throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_KEY_TAKEN, `another member of ${network} uses this WireGuard key`, { data: { network } });
      }
      const version = await this.write(network, (tx) => void tx.hset(keys.members, signer, JSON.stringify({ ...mine, key })));
      this.log.info({ network, name: mine.name }, 'member rotated its key');
      return { version };
    });
  }

  /**
   * The membership of `network`. With `since` equal to the current version, waits up to `waitMs`
   * for a change first (long poll): a member learns of a change as soon as it is written.
   * `asker` must be a member (or the registry node): the membership is for members' eyes only.
   * `idle` is the RPC call's (see RpcCall.idle).
   */
  async members(network: string, asker: string, since: number | undefined, waitMs: number, idle?: <T>(event: Promise<T>) => Promise<T>): Promise<MembersView> {
    const net = this.network(network);
    if (since !== undefined && waitMs > 0 && this.waiters < MAX_WAITERS) {
      // Listening before reading the version: a change between the two still ends the wait.
      const wait = this.nextChange(network, waitMs);
      const current = Number((await this.redis.get(registryKeys(network).version)) ?? 0);
      if (current !== since) wait.cancel();
      // Parked, not working: it does not count toward rpc.maxPendingRequests while it waits.
      await (idle === undefined ? wait.changed : idle(wait.changed));
    }
    const [records, version] = await Promise.all([this.records(network), this.redis.get(registryKeys(network).version)]);
    if (asker !== this.registryKey && !records.some((m) => m.signer === asker)) {
      throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_NOT_MEMBER, `this node is not a member of ${network}`, { data: { network } });
    }
    return { network, version: Number(version ?? 0), cidr: net.cidr.text, topology: net.config.topology, registry: this.registryKey, members: records };
  }

  /** Every member record of `network`; a malformed stored entry is logged and skipped. */
  async records(network: string): Promise<MemberRecord[]> {
    const raw = await this.redis.hgetall(registryKeys(network).members);
    const out: MemberRecord[] = [];
    for (const [signer, json] of Object.entries(raw)) {
      let parsed: ReturnType<typeof memberRecordSchema.safeParse>;
      try {
        parsed = memberRecordSchema.safeParse(JSON.parse(json));
      } catch {
        parsed = memberRecordSchema.safeParse(undefined);
      }
      if (parsed.success && parsed.data.signer === signer) out.push(parsed.data);
      else this.log.warn({ network, signer }, 'skipping a malformed member record in the store');
    }
    return out.sort((a, b) => a.address.localeCompare(b.address, 'en', { numeric: true }));
  }

  private network(name: string): { config: RegistryNetworkConfig; cidr: Cidr } {
    const config = this.networks[name];
    const cidr = this.cidrs.get(name);
    if (config === undefined || cidr === undefined) {
      throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_NETWORK_UNKNOWN, `this registry allocates no network ${name}`, { data: { network: name } });
    }
    return { config, cidr };
  }

  /** Runs `change` and bumps the version in one MULTI, then wakes the long polls. */
  private async write(network: string, change: (tx: ReturnType<Redis['multi']>) => void): Promise<number> {
    const tx = this.redis.multi();
    change(tx);
    tx.incr(registryKeys(network).version);
    const results = await tx.exec();
    const failed = results?.find(([err]) => err !== null);
    if (results === null || failed !== undefined) throw new PlexusError('ERR_UNAVAILABLE', `the store refused a registry write: ${failed?.[0]?.message ?? 'aborted'}`);
    this.changes.emit(network);
    return Number(results[results.length - 1]![1]);
  }

  private nextChange(network: string, waitMs: number): { changed: Promise<void>; cancel: () => void } {
    this.waiters++;
    let done = (): void => undefined;
    const changed = new Promise<void>((resolve) => {
      let finished = false;
      done = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.changes.off(network, done);
        this.waiters--;
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.changes.on(network, done);
    });
    return { changed, cancel: () => done() };
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Wakes every long poll (at stop, so none holds the node up). */
  wakeAll(): void {
    for (const name of this.networkNames()) this.changes.emit(name);
  }
}
