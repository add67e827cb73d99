import { isIP } from 'node:net';
import { z } from 'zod';

/** Addresses and ports as configs and RPC params carry them. */

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

/** `host:port`, with IPv6 hosts in brackets. */
export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** `IP:PORT` a server listens on; port 0 (any free port) allowed. Parses to a HostPort. */
export const listenAddressSchema = z
  .string()
  .refine((v) => parseHostPort(v, true, true) !== undefined, { message: 'expected IP:PORT, e.g. 0.0.0.0:53 or [::]:53 (port 0: any free port)' });

/**
 * The canonical text of an IP address, or undefined when `ip` is not one. IPv4 must be dotted
 * quad without leading zeros; IPv6 is compressed and lowercased (RFC 5952 via the URL parser) so
 * `2001:DB8:0::1` and `2001:db8::1` are one address, not two. Zone ids (`%eth0`) are refused.
 */
export function canonicalIp(ip: string): { ip: string; family: 4 | 6 } | undefined {
  if (ip.includes('%')) return undefined;
  const family = isIP(ip);
  if (family === 4) return { ip, family };
  if (family === 6) return { ip: new URL(`http://[${ip}]`).hostname.slice(1, -1), family };
  return undefined;
}

/** Any IP address, returned in canonical form. */
export const ipSchema = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const c = canonicalIp(s);
    if (c === undefined) {
      ctx.addIssue({ code: 'custom', message: `'${s.slice(0, 64)}' is not an IPv4 or IPv6 address` });
      return z.NEVER;
    }
    return c.ip;
  });

/** A TCP or UDP port, 1..65535. */
export const portSchema = z.number().int().min(1).max(65535);
