import { mkdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import type { Redis } from 'ioredis';
import {
  PlexusError,
  type PluginContext,
  type PluginInstance,
  type StoreCapability,
  type StoreWatchBatch,
  type StoreWatchKind,
  type StoreWatchOptions,
  type StoreWatcher,
} from '@plexus/core';
import { closeClient, openClient, queryInfo, waitReady, type ClientTarget } from './client.js';
import { splitHostPort, type SentinelConfig, type StoreConfig } from './config.js';
import { stopLeftoverRedis } from './orphan.js';
import { listenAddress, redisPaths, refreshSentinelSecrets, renderRedisConf, renderSentinelConf, type RedisConfInput } from './redis-conf.js';
import { addresses, askSentinel, currentMaster, SentinelFollower, sentinelView, type HostPort } from './sentinel.js';
import { RedisChild, resolveBinary } from './redis-process.js';
import { generatedPassword, readSecret, writePrivateFile } from './secrets.js';
import { buildStatus, formatAddress, parseInfo, type StoreStatusReport } from './status.js';
import { RedisSupervisor } from './supervisor.js';
import { StoreWatch } from './watch.js';
import { registerStoreMetrics } from './metrics.js';

/** How long start-up waits for redis to answer (managed) or to be reachable (external). */
const READY_TIMEOUT_MS = 10_000;
/**
 * How long `status()` waits for a replica's master. Short: `plexus status` must answer promptly even
 * when the master is gone, and then the lag is simply unknown.
 */
const MASTER_QUERY_MS = 500;

/**
 * Hash on the group's master: store address (`host:port`, as sentinels name it) -> the plexus
 * multiaddr of the explorer running that store. Each explorer writes its own entry when it becomes
 * master, so a standby can name the current master's multiaddr in ERR_NOT_MASTER.
 */
export const EXPLORERS_KEY = 'store:explorers';
/**
 * Counter the acknowledger bumps before each WAIT: WAIT only waits for the offset of its own
 * connection's last write, so a write on that connection is what makes one WAIT cover every change
 * completed before it, whichever connection made it.
 */
export const ACK_KEY = 'store:ack';
/** How often an explorer of a sentinel group reads its own role (a promotion or a demotion). */
const ROLE_POLL_MS = 250;

/** How a replica reaches its master (`replicaOf` with the password read). */
interface MasterTarget {
  host: string;
  port: number;
  password: string | undefined;
}

/** Host our own clients dial: a wildcard bind is reached over loopback. */
function dialHost(bind: string): string {
  const host = listenAddress(bind);
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** The running store: the plugin instance, and behind the `store` capability the store itself. */
export class Store implements PluginInstance, StoreCapability {
  /** `replica` in replica mode (and on a standby explorer): reads work, writes fail with READONLY. */
  private currentRole: 'master' | 'replica';
  /** `sentinel`: this store is one explorer of a sentinel group. */
  private readonly group: SentinelConfig | undefined;
  /** The group's shared password (explorers) or the master's (a replica following the sentinels). */
  private groupPassword: string | undefined;
  /** Explorers with a managed sentinel: its supervisor. */
  private sentinelSupervisor: RedisSupervisor | undefined;
  /** Replicas with `replicaOf.sentinels`: follows the master they name. */
  private follower: SentinelFollower | undefined;
  private roleTimer: NodeJS.Timeout | undefined;
  /** Whether this explorer's entry in EXPLORERS_KEY was written since it last became master. */
  private published = false;
  /** Sentinel groups: the connection WAIT blocks on, so that it never holds up the shared one. */
  private acker: Redis | undefined;
  /** The acknowledgement round in flight, and the one that callers arriving meanwhile share. */
  private ackRound: Promise<number> | undefined;
  private ackNext: Promise<number> | undefined;
  readonly address: { host: string; port: number };
  /** Whether this plugin runs the redis-server (modes managed and replica). */
  private readonly managed: boolean;
  /** Replica mode: the master, for `status()` to read its offset. Set during start (or by `replicateFrom`). */
  private master: MasterTarget | undefined;
  /** `replicaOf.network`: the private network whose plugin names the master (`replicateFrom`). */
  readonly replicaOfNetwork: string | undefined;
  /** `replicaOf.network` replicas: the master's password and port, until `replicateFrom` names the host. */
  private networkMaster: { port: number; password: string | undefined } | undefined;
  /** Addresses added to `bind` by `listenOn`. */
  private extraBinds: readonly string[] = [];
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private supervisor: RedisSupervisor | undefined;
  private client: Redis | undefined;
  private target: ClientTarget | undefined;
  /** Watchers still running, stopped with the store. */
  private readonly watchers = new Set<StoreWatch<StoreWatchKind>>();

  constructor(private readonly ctx: PluginContext<StoreConfig>) {
    registerStoreMetrics(ctx.metrics, () => this.status());
    const c = ctx.config;
    this.managed = c.mode !== 'external';
    this.currentRole = c.mode === 'replica' ? 'replica' : 'master';
    this.group = c.sentinel;
    this.replicaOfNetwork = c.mode === 'replica' ? c.replicaOf?.network : undefined;
    if (c.mode === 'external' && c.url !== undefined) {
      const url = new URL(c.url);
      this.address = { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 6379 : Number(url.port) };
    } else {
      this.address = { host: c.bind, port: c.port };
    }
  }

  /** `master` accepts writes. In a sentinel group it changes at a failover (read every 250 ms). */
  get role(): 'master' | 'replica' {
    return this.currentRole;
  }

  /** The shared command connection. Throws ERR_UNAVAILABLE before start and after stop. */
  get redis(): Redis {
    if (this.client === undefined) throw new PlexusError('ERR_UNAVAILABLE', 'the store is not started');
    return this.client;
  }

  /** A new connection with the same settings; the caller closes it (`quit()`). */
  duplicate(): Redis {
    if (this.target === undefined) throw new PlexusError('ERR_UNAVAILABLE', 'the store is not started');
    return openClient(this.target, this.ctx.log);
  }

  /**
   * An in-memory view of the keys matching `options.patterns`, kept current for `onChange` (see
   * `StoreWatchOptions` in @plexus/core). Resolves after the first full batch was delivered.
   * @throws ERR_UNAVAILABLE when the store is not started or the first full load fails.
   */
  async watch<K extends StoreWatchKind>(options: StoreWatchOptions<K>, onChange: (batch: StoreWatchBatch<K>) => void): Promise<StoreWatcher> {
    const source = { redis: () => this.redis, duplicate: () => this.duplicate(), log: this.ctx.log };
    const watcher = new StoreWatch(source, options, onChange);
    this.watchers.add(watcher);
    watcher.onStop = () => this.watchers.delete(watcher);
    await watcher.start();
    return watcher;
  }

  start(): Promise<void> {
    this.starting ??= this.open().catch(async (err: unknown) => {
      await this.close(); // leave nothing running behind a failed start
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting?.catch(() => undefined);
      await this.close();
      this.starting = undefined;
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  /** What the store provides: a narrow view, so other plugins get the capability, not start/stop. */
  capabilities(): { store: StoreCapability } {
    return { store: this.view() };
  }

  private view(): StoreCapability {
    // `redis` is a getter so a holder always sees the live connection (and ERR_UNAVAILABLE after stop).
    const store = this;
    return {
      get redis() {
        return store.redis;
      },
      duplicate: () => store.duplicate(),
      get role() {
        return store.role;
      },
      address: store.address,
      status: () => store.status(),
      watch: (options, onChange) => store.watch(options, onChange),
      listenOn: (addresses) => store.listenOn(addresses),
      replicaOfNetwork: store.replicaOfNetwork,
      replicateFrom: (host) => store.replicateFrom(host),
      ...(store.group === undefined ? {} : { writable: () => store.writable(), acknowledge: () => store.acknowledge() }),
    };
  }

  /**
   * Sentinel groups: resolves when this store is the master right now (asked, not remembered).
   * @throws ERR_NOT_MASTER naming the master (its multiaddr when it published one, and its store address).
   */
  async writable(): Promise<void> {
    let role: unknown[];
    try {
      role = (await this.redis.call('ROLE')) as unknown[];
    } catch (cause) {
      // Sentinel drops every client of a store it reconfigures; the connection is back in moments.
      throw new PlexusError('ERR_UNAVAILABLE', `the store does not answer right now (${(cause as Error).message}); retry`, { cause });
    }
    if (role[0] === 'master') return;
    const masterStore = role[0] === 'slave' ? formatAddress({ host: String(role[1]), port: Number(role[2]) }) : undefined;
    const multiaddr = masterStore === undefined ? null : await this.redis.hget(EXPLORERS_KEY, masterStore).catch(() => null);
    const data: Record<string, unknown> = {};
    if (multiaddr !== null) data.master = multiaddr;
    if (masterStore !== undefined) data.masterStore = masterStore;
    throw new PlexusError('ERR_NOT_MASTER', `this explorer is a standby; changes go to the master${multiaddr !== null ? ` ${multiaddr}` : masterStore !== undefined ? ` (store ${masterStore})` : ' (being elected)'}`, { data });
  }

  /**
   * Sentinel groups: waits until every write completed before the call reached `ackReplicas`
   * replicas (Redis WAIT: received by them), at most `ackTimeoutMs`. Group commit: one round
   * (INCR ACK_KEY, WAIT) on a connection of its own covers every caller that arrived before it was
   * sent; callers arriving while a round is in flight share the next one.
   * @throws ERR_NOT_REPLICATED when fewer confirmed in time.
   */
  async acknowledge(): Promise<void> {
    const h = this.group;
    if (h === undefined || h.ackReplicas === 0) return;
    let reached: number;
    try {
      reached = await this.ackBatch();
    } catch (cause) {
      if (cause instanceof PlexusError) throw cause;
      const message = (cause as Error).message;
      const why = message.startsWith('NOREPLICAS') ? 'the master reaches too few standbys and refuses writes' : `the store did not confirm replication (${message})`;
      throw new PlexusError('ERR_NOT_REPLICATED', `${why}; the change may be lost at a failover`, { cause, data: { reached: 0, required: h.ackReplicas } });
    }
    if (reached < h.ackReplicas) {
      throw new PlexusError('ERR_NOT_REPLICATED', `the change reached ${reached} of the ${h.ackReplicas} replica(s) required within ${h.ackTimeoutMs} ms; it may be lost at a failover`, {
        data: { reached, required: h.ackReplicas, timeoutMs: h.ackTimeoutMs },
      });
    }
  }

  /**
   * Listens on `addresses` besides the configured `bind` (kept first, so this plugin's own client
   * and local tools keep reaching it); `[]` goes back to `bind` alone. The managed redis always has
   * a password (configured or generated), which is what makes a non-loopback address acceptable.
   * @throws ERR_UNAVAILABLE for an external store; ERR_CONFIG_INVALID for a wildcard `bind` (it
   * already listens everywhere) or a value that is not an IP address.
   */
  async listenOn(addresses: readonly string[]): Promise<void> {
    const c = this.ctx.config;
    if (!this.managed) throw new PlexusError('ERR_UNAVAILABLE', 'an external store cannot be rebound; configure its own bind');
    const bind = listenAddress(c.bind);
    if (bind === '0.0.0.0' || bind === '::') throw new PlexusError('ERR_CONFIG_INVALID', `store.bind ${c.bind} already listens on every address; bind 127.0.0.1 to let the store listen only on the private network`);
    const bad = addresses.find((a) => isIP(a) === 0);
    if (bad !== undefined) throw new PlexusError('ERR_CONFIG_INVALID', `'${bad}' is not an IP address to listen on`);
    const all = [...new Set([bind, ...addresses])];
    if (all.join(' ') === [bind, ...this.extraBinds].join(' ')) return;
    await this.redis.config('SET', 'bind', all.join(' '));
    // Into redis.conf too, so a redis-server the supervisor restarts after a crash keeps listening
    // there (the file is regenerated from the config block at the next node start).
    await this.redis.config('REWRITE');
    this.extraBinds = all.slice(1);
    this.ctx.log.info({ bind: all }, 'the store listens on new addresses');
  }

  /**
   * `replicaOf.network` replicas: follows the master at `host` (its address on that network), with
   * the configured port and password; a no-op when it already does.
   * @throws ERR_UNAVAILABLE for any other store; ERR_CONFIG_INVALID when `host` is not an IP address.
   */
  async replicateFrom(host: string): Promise<void> {
    const m = this.networkMaster;
    if (m === undefined) throw new PlexusError('ERR_UNAVAILABLE', 'only a replica configured with replicaOf.network takes its master at runtime');
    if (isIP(host) === 0) throw new PlexusError('ERR_CONFIG_INVALID', `'${host}' is not an IP address to replicate from`);
    if (this.master?.host === host) return;
    if (m.password !== undefined) await this.redis.config('SET', 'masterauth', m.password);
    await this.redis.replicaof(host, m.port);
    // As in listenOn: a restarted redis-server must come back as this master's replica, not standalone.
    await this.redis.config('REWRITE');
    this.master = { host, port: m.port, password: m.password };
    this.ctx.log.info({ master: formatAddress(this.master), network: this.replicaOfNetwork }, 'replicating the master over the private network');
  }

  /**
   * Role, address and key count; for a replica the link to its master and the lag behind it (asking
   * the master itself, at most 500 ms); for a master its replicas. Also `plexus status`'s answer.
   * @throws ERR_UNAVAILABLE when this store's own redis does not answer.
   */
  async status(): Promise<StoreStatusReport> {
    let local: Map<string, string>;
    let keys: number;
    try {
      const [replication, dbsize] = await Promise.all([this.redis.info('replication'), this.redis.dbsize()]);
      local = parseInfo(replication);
      keys = dbsize;
    } catch (cause) {
      throw new PlexusError('ERR_UNAVAILABLE', `the store at ${formatAddress(this.address)} does not answer`, { cause });
    }
    const followed = local.get('master_host');
    const m = this.master ?? (this.group !== undefined && followed !== undefined
      ? { host: followed, port: Number(local.get('master_port')), password: this.groupPassword }
      : undefined);
    // Only a replica's offset is compared against its master's; the master is asked after our own INFO,
    // so its offset can only be ahead of the one we read.
    const master = m !== undefined && local.get('role') === 'slave'
      ? await queryInfo(m.host, m.port, m.password, 'replication', MASTER_QUERY_MS)
      : undefined;
    const report = buildStatus({
      managed: this.managed,
      address: formatAddress(this.address),
      keys,
      local,
      master,
      configuredMaster: m === undefined ? undefined : formatAddress(m),
    });
    if (this.networkMaster !== undefined && report.role === 'master') {
      // Not told its master yet: redis runs standalone, but this store is a replica waiting for the network.
      return { role: 'replica', managed: this.managed, address: report.address, keys, masterLink: 'down', masterError: `waiting for the ${this.replicaOfNetwork} network to name the master` };
    }
    if (this.extraBinds.length > 0) report.listening = [listenAddress(this.ctx.config.bind), ...this.extraBinds];
    const watched = this.sentinelsWatched();
    if (watched !== undefined) report.sentinel = await sentinelView(watched.sentinels, watched.masterName, this.groupPassword, MASTER_QUERY_MS);
    return report;
  }

  /** The sentinels this store listens to, if any (explorer group, or a replica following one). */
  private sentinelsWatched(): { sentinels: HostPort[]; masterName: string } | undefined {
    const c = this.ctx.config;
    if (c.sentinel !== undefined) return { sentinels: addresses(c.sentinel.sentinels), masterName: c.sentinel.masterName };
    if (c.replicaOf?.sentinels !== undefined) return { sentinels: addresses(c.replicaOf.sentinels), masterName: c.replicaOf.masterName ?? 'plexus' };
    return undefined;
  }

  private async open(): Promise<void> {
    const c = this.ctx.config;
    const configured = await readSecret(c.password, c.passwordFile, this.ctx.configDir, "the store's passwordFile", (path) => `create it, mode 0600, with: (umask 077; mkdir -p ${dirname(path)} && head -c 24 /dev/urandom | base64 > ${path})`);
    if (c.mode === 'external') {
      this.target = { url: c.url, options: { password: configured } };
      await this.connect('ERR_UNAVAILABLE');
      return;
    }
    let password = configured;
    if (password === undefined) {
      const generated = await generatedPassword(this.ctx.dataDir);
      password = generated.password;
      if (generated.created) this.ctx.log.info({ file: generated.file }, 'generated a password for the managed redis (replicas and tools read it from this file)');
    }
    const binary = await resolveBinary(c.redisServer, this.ctx.configDir);
    if (binary === undefined) {
      throw new PlexusError(
        'ERR_DEPENDENCY_MISSING',
        `redis-server not found ("${c.redisServer}"${c.redisServer.includes('/') ? '' : ' on PATH'}); install it with: apt-get install redis-server`,
      );
    }
    const dir = join(this.ctx.dataDir, 'redis');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const paths = redisPaths(dir);
    let replicaOf: RedisConfInput['replicaOf'];
    if (c.mode === 'replica' && c.replicaOf !== undefined) {
      const r = c.replicaOf;
      const masterPassword = await readSecret(r.password, r.passwordFile, this.ctx.configDir, "the store's replicaOf.passwordFile", (path) => `it holds the master's password: copy the master's passwordFile here, mode 0600 (install -m 600 MASTER_FILE ${path})`);
      if (r.sentinels !== undefined) {
        this.groupPassword = masterPassword;
        const found = await currentMaster(addresses(r.sentinels), r.masterName ?? 'plexus', masterPassword);
        if (found !== undefined) this.master = { ...found, password: masterPassword };
        replicaOf = { host: found?.host, port: found?.port ?? r.port, password: masterPassword };
      } else {
        if (r.host !== undefined) this.master = { host: r.host, port: r.port, password: masterPassword };
        else this.networkMaster = { port: r.port, password: masterPassword };
        replicaOf = { host: r.host, port: r.port, password: masterPassword };
      }
    }
    let group: RedisConfInput['group'];
    const h = c.sentinel;
    if (h !== undefined) {
      this.groupPassword = password;
      // A returning explorer rejoins as a standby of whoever the sentinels elected meanwhile; only
      // when no sentinel knows the group yet does the configured first master apply.
      // 3 s per sentinel, not 1: on a loaded machine a sentinel that answers late reads as "no
      // sentinel knows the group", and the returning explorer would start as a second master.
      const known = await currentMaster(addresses(h.sentinels), h.masterName, password, 3_000);
      const master = known ?? splitHostPort(h.initialMaster);
      const self = master.host === h.announceIp && master.port === c.port;
      if (!self) replicaOf = { host: master.host, port: master.port, password };
      this.currentRole = self ? 'master' : 'replica';
      group = { announceIp: h.announceIp, password, minReplicas: h.ackReplicas, maxLagSeconds: h.maxReplicaLagSeconds };
      this.ctx.log.info({ master: formatAddress(master), from: known === undefined ? 'sentinel.initialMaster' : 'the sentinels' }, self ? 'starting as the master of the group' : 'starting as a standby');
    }
    await writePrivateFile(paths.conf, renderRedisConf({ bind: c.bind, port: c.port, dir, fsync: c.fsync, password, maxmemory: c.maxmemory, replicaOf, group, replicaPriority: c.replicaOf?.sentinels !== undefined ? 0 : undefined }));
    await stopLeftoverRedis(paths.pidfile, dir, this.ctx.log);
    const host = dialHost(c.bind);
    this.supervisor = new RedisSupervisor(
      () => RedisChild.start({ binary, dir, host, port: c.port, password, readyTimeoutMs: READY_TIMEOUT_MS }),
      this.ctx.log,
    );
    await this.supervisor.start();
    this.target = { options: { host, port: c.port, password } };
    await this.connect('ERR_PLUGIN_START');
    if (h !== undefined) {
      if (h.managed) await this.startSentinel(h, binary, password);
      this.roleTimer = setInterval(() => void this.readRole(), ROLE_POLL_MS);
      this.roleTimer.unref();
      await this.readRole();
    }
    const r = c.replicaOf;
    if (r?.sentinels !== undefined) {
      this.follower = new SentinelFollower(addresses(r.sentinels), r.masterName ?? 'plexus', this.groupPassword, (m) => this.follow(m), this.ctx.log);
      this.follower.start();
      if (this.master === undefined) await this.follower.check();
    }
    if (this.master !== undefined) await this.checkMaster(this.master);
    else if (this.networkMaster !== undefined) this.ctx.log.info({ network: this.replicaOfNetwork }, 'serving the local copy until the private network names the master');
  }

  /**
   * Starts this explorer's sentinel. Its file is written whole only when absent (the sentinel keeps
   * its view of the group there); later starts renew only its password lines, and quorum and
   * timings from the config are applied at every start (SENTINEL SET).
   */
  private async startSentinel(h: SentinelConfig, binary: string, password: string): Promise<void> {
    const c = this.ctx.config;
    const dir = join(this.ctx.dataDir, 'sentinel');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const paths = redisPaths(dir);
    const kept = await readFile(paths.conf, 'utf8').catch(() => undefined);
    await writePrivateFile(paths.conf, kept !== undefined
      ? refreshSentinelSecrets(kept, h.masterName, password)
      : renderSentinelConf({
        bind: c.bind, port: h.port, dir, announceIp: h.announceIp, masterName: h.masterName, master: splitHostPort(h.initialMaster),
        quorum: h.quorum, password, downAfterMs: h.downAfterMs, failoverTimeoutMs: h.failoverTimeoutMs,
      }));
    await stopLeftoverRedis(paths.pidfile, dir, this.ctx.log);
    const host = dialHost(c.bind);
    this.sentinelSupervisor = new RedisSupervisor(
      () => RedisChild.start({ binary, dir, host, port: h.port, password, extraArgs: ['--sentinel'], readyTimeoutMs: READY_TIMEOUT_MS }),
      this.ctx.log,
    );
    await this.sentinelSupervisor.start();
    const self = { host, port: h.port };
    for (const [key, value] of [['quorum', h.quorum], ['down-after-milliseconds', h.downAfterMs], ['failover-timeout', h.failoverTimeoutMs], ['auth-pass', password]] as const) {
      const ok = await askSentinel(self, password, ['set', h.masterName, key, String(value)], 2_000);
      if (ok === undefined) this.ctx.log.warn({ key }, 'the sentinel did not take a setting');
    }
    this.ctx.log.info({ sentinel: formatAddress({ host: h.announceIp, port: h.port }), masterName: h.masterName, quorum: h.quorum }, 'sentinel running');
  }

  /** Joins the acknowledgement round that starts after this call (see `acknowledge`). */
  private ackBatch(): Promise<number> {
    if (this.ackRound === undefined) {
      this.ackRound = this.ackOnce().finally(() => {
        this.ackRound = undefined;
      });
      return this.ackRound;
    }
    // The round in flight may have been sent before this caller's write completed: wait for the next.
    this.ackNext ??= this.ackRound.catch(() => 0).then(() => {
      this.ackNext = undefined;
      return this.ackBatch();
    });
    return this.ackNext;
  }

  /** One round: a write on the acknowledger's connection, then WAIT for it; the replicas reached. */
  private async ackOnce(): Promise<number> {
    const h = this.group as SentinelConfig;
    this.acker ??= this.duplicate();
    const results = await this.acker.pipeline().incr(ACK_KEY).wait(h.ackReplicas, h.ackTimeoutMs).exec();
    for (const [err] of results ?? []) if (err !== null) throw err;
    return Number(results?.[1]?.[1] ?? 0);
  }

  /** Reads this explorer's role; on becoming master, publishes its multiaddr for the standbys. */
  private async readRole(): Promise<void> {
    const client = this.client;
    if (client === undefined || client.status !== 'ready') return;
    let role: 'master' | 'replica';
    try {
      role = ((await client.call('ROLE')) as unknown[])[0] === 'master' ? 'master' : 'replica';
    } catch {
      return;
    }
    if (role !== this.currentRole) {
      this.ctx.log.info({ role }, role === 'master' ? 'this store was promoted to master' : 'this store is now a standby');
      this.currentRole = role;
    }
    if (role !== 'master') {
      this.published = false;
      return;
    }
    if (this.published) return;
    const h = this.group as SentinelConfig;
    const multiaddr = h.multiaddr ?? this.ownMultiaddr(h.announceIp);
    if (multiaddr === undefined) return;
    // Refused (NOREPLICAS) until a standby is connected; the next poll tries again.
    await client.hset(EXPLORERS_KEY, formatAddress({ host: h.announceIp, port: this.ctx.config.port }), multiaddr).then(() => {
      this.published = true;
    }, () => undefined);
  }

  /** The node's listen multiaddr on `ip` (a wildcard listen address stands for it). */
  private ownMultiaddr(ip: string): string | undefined {
    const listen = this.ctx.node.listen ?? [];
    const proto = ip.includes(':') ? 'ip6' : 'ip4';
    const exact = listen.find((a) => a.startsWith(`/${proto}/${ip}/`));
    if (exact !== undefined) return exact;
    const wildcard = listen.find((a) => a.startsWith(proto === 'ip4' ? '/ip4/0.0.0.0/' : '/ip6/::/'));
    return wildcard?.replace(proto === 'ip4' ? '/ip4/0.0.0.0/' : '/ip6/::/', `/${proto}/${ip}/`);
  }

  /** Replicas following the sentinels: replicate `m` unless already doing so. */
  private async follow(m: HostPort): Promise<void> {
    if (this.master?.host === m.host && this.master.port === m.port) return;
    await this.redis.replicaof(m.host, m.port);
    await this.redis.config('REWRITE');
    this.master = { ...m, password: this.groupPassword };
    this.ctx.log.info({ master: formatAddress(m) }, 'following the master the sentinels name');
  }

  /**
   * A replica starts (and serves its last copy) whatever state its master is in; an unreachable master
   * or a refused masterauth is only worth a warning, so that operators see it without `plexus status`.
   */
  private async checkMaster(m: MasterTarget): Promise<void> {
    const answer = await queryInfo(m.host, m.port, m.password, 'replication', MASTER_QUERY_MS);
    const master = formatAddress(m);
    if (answer.ok) {
      this.ctx.log.info({ master }, 'replicating the store of the master');
    } else if (answer.authFailed) {
      this.ctx.log.warn({ master, reason: answer.error }, 'the master refused masterauth (auth failed); serving the local copy until replicaOf.password is fixed');
    } else {
      this.ctx.log.warn({ master, reason: answer.error }, 'the master is not reachable; serving the local copy until it is');
    }
  }

  private async connect(code: 'ERR_UNAVAILABLE' | 'ERR_PLUGIN_START'): Promise<void> {
    const client = openClient(this.target as ClientTarget, this.ctx.log);
    this.client = client;
    const notReady = await waitReady(client, READY_TIMEOUT_MS);
    if (notReady !== undefined) {
      throw new PlexusError(code, `the store at ${formatAddress(this.address)} is not reachable: ${notReady}`);
    }
  }

  private async close(): Promise<void> {
    // Before the connection they read from goes away, so none of them logs an outage.
    await Promise.all([...this.watchers].map((w) => w.stop()));
    clearInterval(this.roleTimer);
    this.roleTimer = undefined;
    await this.follower?.stop();
    this.follower = undefined;
    const acker = this.acker;
    this.acker = undefined;
    await this.ackRound?.catch(() => undefined);
    if (acker !== undefined) await closeClient(acker);
    this.published = false;
    const client = this.client;
    this.client = undefined;
    this.target = undefined;
    this.master = undefined;
    this.networkMaster = undefined;
    this.extraBinds = [];
    if (client !== undefined) await closeClient(client);
    const supervisor = this.supervisor;
    this.supervisor = undefined;
    await supervisor?.stop();
    const sentinel = this.sentinelSupervisor;
    this.sentinelSupervisor = undefined;
    await sentinel?.stop();
  }
}
