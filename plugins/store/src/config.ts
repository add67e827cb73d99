import { BlockList, isIP } from 'node:net';
import { isHostname, normalizeName, z } from '@plexus/core';

/** Defaults of the `store` block, next to the schema that applies them. */
export const STORE_DEFAULTS = {
  mode: 'managed',
  bind: '127.0.0.1',
  port: 6379,
  fsync: 'always',
  redisServer: 'redis-server',
} as const;

/** Defaults inside `replicaOf`. */
export const REPLICA_OF_DEFAULTS = {
  port: 6379,
} as const;

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
// IPv4-mapped loopback (::ffff:127.x.y.z) is loopback too.
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/** True for `localhost`, 127.0.0.0/8 and ::1: addresses no other machine can reach. */
export function isLoopback(address: string): boolean {
  if (address === 'localhost') return true;
  const family = isIP(address);
  if (family === 4) return loopback.check(address, 'ipv4');
  if (family === 6) return loopback.check(address, 'ipv6');
  return false;
}

/**
 * True for an IP address (v4 or v6) or a host name a resolver could look up (the shared hostname
 * rule of @plexus/core). Checked here because the name is written unquoted into redis.conf
 * (`replicaof HOST PORT`): the rule admits no space, quote or control character.
 */
export function isHostOrIp(value: string): boolean {
  return isIP(value) !== 0 || isHostname(normalizeName(value));
}

/** Names a sentinel group monitors; written unquoted into sentinel.conf. */
const MASTER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** `host:port` (IPv6 in brackets) with a host `isHostOrIp` accepts. */
export function isHostPort(value: string): boolean {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  if (m === null) return false;
  const port = Number(m[3]);
  return port >= 1 && port <= 65535 && isHostOrIp(m[1] ?? m[2] ?? '');
}

/** Splits a `host:port` that passed `isHostPort`. */
export function splitHostPort(value: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  return { host: value.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(value.slice(at + 1)) };
}

/** Defaults of the `sentinel` block. */
export const SENTINEL_DEFAULTS = {
  masterName: 'plexus',
  port: 26379,
  quorum: 2,
  downAfterMs: 5_000,
  failoverTimeoutMs: 15_000,
  ackReplicas: 1,
  ackTimeoutMs: 2_000,
  maxReplicaLagSeconds: 2,
} as const;

/**
 * `sentinel`: this managed store is one explorer of a high-availability group watched by Redis
 * Sentinel. The group's stores are one master and standbys; on the master's loss the sentinels
 * promote a standby and every other store follows it.
 */
export const sentinelSchema = z.strictObject({
  /** Name the sentinels monitor the group under. Default `plexus`. */
  masterName: z.string().regex(MASTER_NAME, 'expected letters, digits, - and _').default(SENTINEL_DEFAULTS.masterName),
  /**
   * The address the other explorers, the sentinels and the DNS nodes reach this node's store and
   * sentinel on (`replica-announce-ip`, `sentinel announce-ip`). Required: a store bound to
   * 0.0.0.0 cannot tell which of its addresses the others use.
   */
  announceIp: z.string().refine((v) => isIP(v) !== 0, { message: 'expected an IP address' }),
  /** Run a sentinel beside the redis-server (default). false: only the `sentinels` listed run. */
  managed: z.boolean().default(true),
  /** Port of the managed sentinel (it binds like the store, `bind`). Default 26379. */
  port: z.number().int().min(1).max(65535).default(SENTINEL_DEFAULTS.port),
  /** Every sentinel of the group as `host:port`, this node's own included when managed. */
  sentinels: z.array(z.string().refine(isHostPort, { message: 'expected host:port of a sentinel' })).min(1).max(16),
  /** The master when the group is first formed (no sentinel knows one yet), `host:port`. */
  initialMaster: z.string().refine(isHostPort, { message: 'expected host:port of the first master' }),
  /** Sentinels that must agree the master is down before a failover. Default 2. */
  quorum: z.number().int().min(1).max(16).default(SENTINEL_DEFAULTS.quorum),
  /** Silence after which a sentinel deems the master down (`down-after-milliseconds`). Default 5000. */
  downAfterMs: z.number().int().min(100).max(600_000).default(SENTINEL_DEFAULTS.downAfterMs),
  /** Sentinel's `failover-timeout`, ms. Default 15000. */
  failoverTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(SENTINEL_DEFAULTS.failoverTimeoutMs),
  /**
   * Replicas a change must reach before it is acknowledged (`WAIT`), and the fewest replicas a
   * master must have to accept writes at all (`min-replicas-to-write`). Default 1; 0 turns both off
   * (acknowledged changes may then be lost at a failover).
   */
  ackReplicas: z.number().int().min(0).max(16).default(SENTINEL_DEFAULTS.ackReplicas),
  /** How long a change waits for `ackReplicas` before ERR_NOT_REPLICATED. Default 2000 ms. */
  ackTimeoutMs: z.number().int().min(10).max(60_000).default(SENTINEL_DEFAULTS.ackTimeoutMs),
  /** A replica silent this long no longer counts for `min-replicas-to-write` (`min-replicas-max-lag`). Default 2 s. */
  maxReplicaLagSeconds: z.number().int().min(1).max(60).default(SENTINEL_DEFAULTS.maxReplicaLagSeconds),
  /**
   * This explorer's plexus multiaddr (with /p2p/), as clients dial it; standbys name it in
   * ERR_NOT_MASTER while this node is the master. Default: the node's listen address on `announceIp`.
   */
  multiaddr: z.string().regex(/^\/.+\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/, 'expected a multiaddr ending in /p2p/<peer id>').optional(),
});

/** The validated `sentinel` block, defaults applied. */
export type SentinelConfig = z.output<typeof sentinelSchema>;

/**
 * `replicaOf`: how a replica reaches and authenticates to its master. Strict like the block itself, so a
 * typo such as `pasword` is an error at `replicaOf.pasword` rather than a silent auth failure later.
 */
export const replicaOfSchema = z.strictObject({
  /** The master's IP address or host name. Required unless `network` is set. */
  host: z.string().refine(isHostOrIp, { message: 'expected an IP address or a host name' }).optional(),
  /**
   * Instead of `host`: the private (WireGuard) network the master is reached on. The replica then
   * replicates nothing until the `wireguard` plugin of this node names the master's address on that
   * network, so replication never flows over any other address.
   */
  network: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'expected a network name (lowercase letters, digits, -)').optional(),
  /**
   * Instead of `host`/`network`: the sentinels of an explorer group (`host:port` each). The replica
   * follows whichever store they name as master (asked at start, then on every `+switch-master`
   * they announce), never an address it was given once. `password` is the group's shared password.
   */
  sentinels: z.array(z.string().refine(isHostPort, { message: 'expected host:port of a sentinel' })).min(1).max(16).optional(),
  /** With `sentinels`: the master name they monitor (`store.sentinel.masterName` of the explorers). Default `plexus`. */
  masterName: z.string().regex(MASTER_NAME, 'expected letters, digits, - and _').optional(),
  /** The master's port. Default 6379. */
  port: z.number().int().min(1).max(65535).default(REPLICA_OF_DEFAULTS.port),
  /** The master's password (written as `masterauth`). Prefer `passwordFile` outside development. */
  password: z.string().min(1).optional(),
  /** File holding the master's password (trailing newline ignored), relative to the config file's directory. */
  passwordFile: z.string().min(1).optional(),
});

/** The validated `replicaOf` block, defaults applied. */
export type ReplicaOfConfig = z.output<typeof replicaOfSchema>;

/** Same address as far as a bind and a dial can tell: `localhost` is 127.0.0.1 for both. */
function sameAddress(a: string, b: string): boolean {
  const norm = (v: string): string => (v === 'localhost' ? '127.0.0.1' : v.toLowerCase());
  return norm(a) === norm(b);
}

// Redis parses these itself (`maxmemory 256mb`); checking here turns a redis start failure into a
// config error that names the key.
const MAXMEMORY = /^\d+(?:[kmg]b?)?$/i;

/**
 * Config block of the `store` plugin. Strict: unknown keys are errors.
 *
 * The mode decides which keys apply; cross-key rules live in one `superRefine` with a path per rule.
 */
export const storeConfigSchema = z
  .strictObject({
    /**
     * `managed` (default): run our own `redis-server` child. `replica`: run our own child as a read-only
     * replica of the master named by `replicaOf`. `external`: connect to `url`.
     */
    mode: z.enum(['managed', 'replica', 'external']).default(STORE_DEFAULTS.mode),
    /** Address the managed redis listens on. Default `127.0.0.1`. */
    bind: z
      .string()
      .refine((v) => v === 'localhost' || isIP(v) !== 0, { message: 'expected an IP address or "localhost"' })
      .default(STORE_DEFAULTS.bind),
    /** TCP port of the managed redis. Default 6379. */
    port: z.number().int().min(1).max(65535).default(STORE_DEFAULTS.port),
    /** Password clients must present (`requirepass`). Prefer `passwordFile` outside development. */
    password: z.string().min(1).optional(),
    /** File holding the password (trailing newline ignored), relative to the config file's directory. */
    passwordFile: z.string().min(1).optional(),
    /**
     * `always` (default): each write is fsynced before it is acknowledged, so acknowledged writes survive
     * a kill -9 of the whole node and a power cut. `everysec`: up to one second of writes may be lost on
     * a power cut, for much higher write throughput.
     */
    fsync: z.enum(['always', 'everysec']).default(STORE_DEFAULTS.fsync),
    /** Path or PATH-name of the redis-server binary. Default `redis-server`. */
    redisServer: z.string().min(1).default(STORE_DEFAULTS.redisServer),
    /** Memory cap of the managed redis, e.g. `256mb`. Unset: no cap. Writes fail when it is reached. */
    maxmemory: z.string().regex(MAXMEMORY, 'expected a size like 256mb, 1gb or 1048576').optional(),
    /** External mode only, and required there: `redis://[:password@]host[:port][/db]` or `rediss://`. */
    url: z
      .url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' })
      .optional(),
    /** Replica mode only, and required there: the master to replicate. */
    replicaOf: replicaOfSchema.optional(),
    /** Managed mode only: this store is one explorer of a sentinel-watched group (high availability). */
    sentinel: sentinelSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.password !== undefined && c.passwordFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'set either password or passwordFile, not both' });
    }
    if (c.mode === 'replica') {
      const r = c.replicaOf;
      if (r === undefined) {
        ctx.addIssue({ code: 'custom', path: ['replicaOf'], message: 'mode "replica" needs replicaOf ({ host, port, passwordFile })' });
      } else {
        if ([r.host, r.network, r.sentinels].filter((v) => v !== undefined).length !== 1) {
          ctx.addIssue({ code: 'custom', path: ['replicaOf', 'host'], message: 'set one of replicaOf.host, replicaOf.network or replicaOf.sentinels' });
        }
        if (r.masterName !== undefined && r.sentinels === undefined) {
          ctx.addIssue({ code: 'custom', path: ['replicaOf', 'masterName'], message: 'replicaOf.masterName goes with replicaOf.sentinels' });
        }
        if (r.password !== undefined && r.passwordFile !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['replicaOf', 'passwordFile'], message: 'set either password or passwordFile, not both' });
        }
        // Redis would accept it and then loop forever trying to sync from itself.
        const wildcard = c.bind === '0.0.0.0' || c.bind === '::';
        if (r.host !== undefined && r.port === c.port && (sameAddress(r.host, c.bind) || (wildcard && isLoopback(r.host)))) {
          ctx.addIssue({ code: 'custom', path: ['replicaOf'], message: 'replicaOf names this store itself; point it at the master' });
        }
      }
    } else if (c.replicaOf !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['replicaOf'], message: 'replicaOf is only allowed with mode "replica"' });
    }
    if (c.sentinel !== undefined) {
      const h = c.sentinel;
      if (c.mode !== 'managed') {
        ctx.addIssue({ code: 'custom', path: ['sentinel'], message: 'sentinel is only allowed with mode "managed" (DNS nodes use replicaOf.sentinels)' });
      }
      // A non-loopback bind without a password is reported below already.
      if (c.password === undefined && c.passwordFile === undefined && isLoopback(c.bind)) {
        ctx.addIssue({ code: 'custom', path: ['password'], message: 'a store with sentinel needs password or passwordFile: the group shares one password' });
      }
      const bind = c.bind === 'localhost' ? '127.0.0.1' : c.bind;
      if (bind !== '0.0.0.0' && bind !== '::' && bind !== h.announceIp) {
        ctx.addIssue({ code: 'custom', path: ['sentinel', 'announceIp'], message: `the store binds ${c.bind} only, so the others cannot reach it at ${h.announceIp}; bind ${h.announceIp} or 0.0.0.0` });
      }
      if (h.quorum > h.sentinels.length) {
        ctx.addIssue({ code: 'custom', path: ['sentinel', 'quorum'], message: `quorum ${h.quorum} is more than the ${h.sentinels.length} sentinels listed` });
      }
      if (h.managed && !h.sentinels.includes(`${h.announceIp.includes(':') ? `[${h.announceIp}]` : h.announceIp}:${h.port}`)) {
        ctx.addIssue({ code: 'custom', path: ['sentinel', 'sentinels'], message: `list this node's own sentinel (${h.announceIp}:${h.port}) among sentinel.sentinels` });
      }
    }
    if (c.mode === 'external') {
      if (c.url === undefined) {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'mode "external" needs url (redis://host:port)' });
      } else if (new URL(c.url).password !== '' && (c.password !== undefined || c.passwordFile !== undefined)) {
        ctx.addIssue({ code: 'custom', path: ['password'], message: 'the url already holds a password; drop password/passwordFile' });
      }
      return;
    }
    if (c.url !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'url is only allowed with mode "external"' });
    }
    if (!isLoopback(c.bind) && c.password === undefined && c.passwordFile === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['password'],
        message: `a ${c.mode} store bound to the non-loopback address ${c.bind} must have password or passwordFile`,
      });
    }
  });

/** The validated `store` block, defaults applied. */
export type StoreConfig = z.output<typeof storeConfigSchema>;
