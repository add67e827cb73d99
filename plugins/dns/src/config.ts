import { isIP } from 'node:net';
import { DEFAULT_TTL, ZONE_CHANGE_STREAM, domainNameSchema, listenAddressSchema, parseHostPort, ttlSchema, z, zoneKeyPartSchema } from '@plexus/core';

/** Defaults of the `dns` block, next to the schema that applies them. */
export const DNS_DEFAULTS = {
  listen: ['0.0.0.0:53'],
  zones: [] as string[],
  ttl: DEFAULT_TTL,
  keyPrefix: '',
  keySuffix: '',
  forwarders: [] as string[],
  forwardTimeoutMs: 2000,
  maxUdpPayload: 1232,
  udpReceiveBufferBytes: 0,
  resyncIntervalMs: 300_000,
  countCheckIntervalMs: 30_000,
  wildcards: 'coredns',
  answerCacheSize: 20_000,
  syncWaitMs: 10_000,
  changeStream: ZONE_CHANGE_STREAM,
  workers: 1,
  tcp: { maxConnections: 512, maxPerIp: 32, queryTimeoutMs: 5_000, idleTimeoutMs: 10_000 },
} as const;

/**
 * How a name without a field of its own is answered (`lookup.ts`):
 * - `coredns` (default): exactly as CoreDNS's redis plugin on the same data, so a DNS node can be
 *   swapped for real CoreDNS and back without a single answer changing. Fields are matched as
 *   stored (a hand-written `WWW` never answers), and a name with nothing of its own is answered by
 *   the nearest `*` whose parent "exists" by CoreDNS's test, so `apps.gateway.tf` with only
 *   `www.apps` and `*` present gets the `*` records.
 * - `rfc4592`: DNS wildcards as RFC 4592 defines them, fields matched case-insensitively: an
 *   empty non-terminal (`apps` above `www.apps`) is NODATA, and only the closest encloser's own
 *   `*` can answer below it.
 */
export const WILDCARD_RULES = ['coredns', 'rfc4592'] as const;
export type WildcardRules = (typeof WILDCARD_RULES)[number];

/** Zones: domain names like gateway.tf, normalized (lowercase, no trailing dot). */
const zoneName = domainNameSchema;

const forwarder = z
  .string()
  // A bare IP means port 53, as in CoreDNS's `forward . 9.9.9.9`.
  .transform((v) => (isIP(v) === 4 ? `${v}:53` : isIP(v) === 6 ? `[${v}]:53` : v))
  .refine((v) => parseHostPort(v, true) !== undefined, { message: 'expected IP or IP:PORT, e.g. 9.9.9.9:53' });

/** `plugins.dns`. Strict: unknown keys are errors. */
export const DnsConfigSchema = z.strictObject({
  /** `IP:PORT` addresses to answer on, each over UDP and TCP. Default `['0.0.0.0:53']`. */
  listen: z.array(listenAddressSchema).min(1).default([...DNS_DEFAULTS.listen]),
  /** Zones served authoritatively (e.g. `gateway.tf`); hashes below them (`threebot.gateway.tf.`) are zones too. */
  zones: z.array(zoneName).min(1, 'expected at least one zone, e.g. [gateway.tf]'),
  /** Largest TTL handed out, and the TTL of records that have none (seconds). Default 300. */
  ttl: ttlSchema.default(DNS_DEFAULTS.ttl),
  /** Prepended to zone names to form the store key. Default ''. */
  keyPrefix: zoneKeyPartSchema.default(DNS_DEFAULTS.keyPrefix),
  /** Appended to zone names to form the store key. Default ''. */
  keySuffix: zoneKeyPartSchema.default(DNS_DEFAULTS.keySuffix),
  /** Upstream resolvers (`IP` or `IP:PORT`) for names outside the zones; empty: those get REFUSED. Default []. */
  forwarders: z.array(forwarder).default([...DNS_DEFAULTS.forwarders]),
  /** How long one forwarder gets before the next one is tried (ms). Default 2000. */
  forwardTimeoutMs: z.number().int().min(50).max(30_000).default(DNS_DEFAULTS.forwardTimeoutMs),
  /** EDNS0 UDP payload size we advertise and the most we send over UDP. Default 1232 (DNS flag day 2020). */
  maxUdpPayload: z.number().int().min(512).max(65_535).default(DNS_DEFAULTS.maxUdpPayload),
  /**
   * Receive buffer of each UDP socket (SO_RCVBUF, bytes): queries arriving in a burst wait here
   * instead of being dropped by the kernel. The kernel caps it at `net.core.rmem_max` (212992 on a
   * stock Debian): `status` shows the size in effect and the node warns when it was capped. A
   * larger buffer absorbs bursts while the node keeps up, but under sustained overload it turns
   * drops into a standing queue that delays every answer (plugins/dns README). 0: the system
   * default (`net.core.rmem_default`). Default 0.
   */
  udpReceiveBufferBytes: z.number().int().min(0).max(268_435_456).default(DNS_DEFAULTS.udpReceiveBufferBytes),
  /**
   * Period of a full re-read of the zone hashes (ms, chunked and diffed: it never stalls the
   * answers), the safety net for changes that send no keyspace event and leave every hash's field
   * count as it was: a value changed by a replica's full resync from its master that the link
   * check missed. Default 300000.
   */
  resyncIntervalMs: z.number().int().min(100).max(86_400_000).default(DNS_DEFAULTS.resyncIntervalMs),
  /**
   * Period of the count check between full re-reads (ms): the zone hashes in the store and their
   * HLEN against what is held, no field read. A hash that differs twice in a row (FLUSHDB, a hash
   * deleted or filled without an event seen) is re-read by itself. 0: none. Default 30000.
   */
  countCheckIntervalMs: z.number().int().min(0).max(86_400_000).default(DNS_DEFAULTS.countCheckIntervalMs),
  /** Most encoded answers kept in memory (least recently used go first). Default 20000 (about 4 MB). */
  answerCacheSize: z.number().int().min(0).max(10_000_000).default(DNS_DEFAULTS.answerCacheSize),
  /**
   * On a replica store: how long start waits for the replica to complete a sync with its master
   * (then the view is read again) before serving its local copy anyway, `status` saying
   * `cache.ready: false` until the sync completes (ms). 0: do not wait. Default 10000.
   */
  syncWaitMs: z.number().int().min(0).max(600_000).default(DNS_DEFAULTS.syncWaitMs),
  /** The stream the gateway names each changed zone field in (plugins/gateway README). Default `gateway:zone-changes`. */
  changeStream: z.string().min(1).default(DNS_DEFAULTS.changeStream),
  /**
   * DNS threads on the same ports (SO_REUSEPORT; the kernel spreads clients over them), each with
   * its own view of the zones kept from the store's change stream, so the memory of the view and
   * the answer cache is paid once per thread. The TCP limits are divided among them. Default 1.
   */
  workers: z.number().int().min(1).max(64).default(DNS_DEFAULTS.workers),
  /** Lookup rules for names without a field of their own: `coredns` (default) or `rfc4592`; see WILDCARD_RULES. */
  wildcards: z.enum(WILDCARD_RULES).default(DNS_DEFAULTS.wildcards),
  /**
   * Limits of DNS over TCP (a trickling or silent client must not hold sockets): `maxConnections`
   * (512) in total, `maxPerIp` (32) from one address, `queryTimeoutMs` (5000) for a query to arrive
   * whole from its first byte, `idleTimeoutMs` (10000) between queries (RFC 7766 §6.2.3).
   */
  tcp: z
    .strictObject({
      maxConnections: z.number().int().min(1).max(1_000_000).default(DNS_DEFAULTS.tcp.maxConnections),
      maxPerIp: z.number().int().min(1).max(1_000_000).default(DNS_DEFAULTS.tcp.maxPerIp),
      queryTimeoutMs: z.number().int().min(100).max(600_000).default(DNS_DEFAULTS.tcp.queryTimeoutMs),
      idleTimeoutMs: z.number().int().min(100).max(3_600_000).default(DNS_DEFAULTS.tcp.idleTimeoutMs),
    })
    .prefault({}),
});

/** The validated `dns` block, defaults applied. */
export type DnsConfig = z.output<typeof DnsConfigSchema>;
