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
        if ((r.host === undefined) === (r.network === undefined)) {
          ctx.addIssue({ code: 'custom', path: ['replicaOf', 'host'], message: 'set either replicaOf.host or replicaOf.network (one of them)' });
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
