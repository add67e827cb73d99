import { isIP } from 'node:net';
import { z } from '@plexus/core';

/** Defaults of the `dns` block, next to the schema that applies them. */
export const DNS_DEFAULTS = {
  listen: ['0.0.0.0:53'],
  zones: [] as string[],
  ttl: 300,
  keyPrefix: '',
  keySuffix: '',
  forwarders: [] as string[],
  forwardTimeoutMs: 2000,
  maxUdpPayload: 1232,
  resyncIntervalMs: 30_000,
} as const;

/** A parsed `host:port` (IPv6 hosts written `[::1]:53`). */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Splits `host:port` / `[v6]:port`; undefined when it is not one. `requireIp` refuses host names;
 * port 0 (any free port, for tests) only with `allowPortZero`.
 */
export function parseHostPort(value: string, requireIp: boolean, allowPortZero = false): HostPort | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]+):(\d{1,5})$/.exec(value);
  if (m === null) return undefined;
  const host = m[1]!;
  const port = Number(m[2]);
  if (port > 65535 || (port === 0 && !allowPortZero)) return undefined;
  if (value.startsWith('[') && isIP(host) !== 6) return undefined;
  if (requireIp && isIP(host) === 0) return undefined;
  return { host, port };
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Lowercase zone name without the trailing dot; the error message says what is expected. */
const zoneName = z
  .string()
  .transform((v) => v.toLowerCase().replace(/\.$/, ''))
  .refine((v) => v.length > 0 && v.length <= 253 && v.split('.').every((l) => LABEL.test(l)), {
    message: 'expected a domain name like gateway.tf (letters, digits, - and _ in dot-separated labels)',
  });

const listenAddress = z.string().refine((v) => parseHostPort(v, true, true) !== undefined, {
  message: 'expected IP:PORT, e.g. 0.0.0.0:53 or [::]:53 (port 0: any free port)',
});

const forwarder = z
  .string()
  // A bare IP means port 53, as in CoreDNS's `forward . 9.9.9.9`.
  .transform((v) => (isIP(v) === 4 ? `${v}:53` : isIP(v) === 6 ? `[${v}]:53` : v))
  .refine((v) => parseHostPort(v, true) !== undefined, { message: 'expected IP or IP:PORT, e.g. 9.9.9.9:53' });

/** Prefix/suffix become part of SCAN/PSUBSCRIBE patterns; we escape them, but a newline has no business there. */
const keyPart = z.string().max(128).refine((v) => !/[\r\n\0]/.test(v), { message: 'no control characters' });

/** `plugins.dns`. Strict: unknown keys are errors. */
export const DnsConfigSchema = z.strictObject({
  /** `IP:PORT` addresses to answer on, each over UDP and TCP. Default `['0.0.0.0:53']`. */
  listen: z.array(listenAddress).min(1).default([...DNS_DEFAULTS.listen]),
  /** Zones served authoritatively (e.g. `gateway.tf`); hashes below them (`threebot.gateway.tf.`) are zones too. */
  zones: z.array(zoneName).min(1, 'expected at least one zone, e.g. [gateway.tf]'),
  /** Largest TTL handed out, and the TTL of records that have none (seconds). Default 300. */
  ttl: z.number().int().min(1).max(2_147_483_647).default(DNS_DEFAULTS.ttl),
  /** Prepended to zone names to form the store key. Default ''. */
  keyPrefix: keyPart.default(DNS_DEFAULTS.keyPrefix),
  /** Appended to zone names to form the store key. Default ''. */
  keySuffix: keyPart.default(DNS_DEFAULTS.keySuffix),
  /** Upstream resolvers (`IP` or `IP:PORT`) for names outside the zones; empty: those get REFUSED. Default []. */
  forwarders: z.array(forwarder).default([...DNS_DEFAULTS.forwarders]),
  /** How long one forwarder gets before the next one is tried (ms). Default 2000. */
  forwardTimeoutMs: z.number().int().min(50).max(30_000).default(DNS_DEFAULTS.forwardTimeoutMs),
  /** EDNS0 UDP payload size we advertise and the most we send over UDP. Default 1232 (DNS flag day 2020). */
  maxUdpPayload: z.number().int().min(512).max(65_535).default(DNS_DEFAULTS.maxUdpPayload),
  /**
   * Period of a full re-read of the zone hashes (ms), the safety net for changes that send no
   * keyspace event: FLUSHDB/FLUSHALL, and a replica's full resync from its master. Default 30000.
   */
  resyncIntervalMs: z.number().int().min(100).max(86_400_000).default(DNS_DEFAULTS.resyncIntervalMs),
});

/** The validated `dns` block, defaults applied. */
export type DnsConfig = z.output<typeof DnsConfigSchema>;
