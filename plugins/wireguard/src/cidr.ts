import { isIPv4 } from 'node:net';

/** IPv4 network arithmetic for address allocation (members get one /32 each). */

export interface Cidr {
  /** Network address as a 32-bit unsigned number. */
  network: number;
  prefix: number;
  /** `a.b.c.d/p`, canonical. */
  text: string;
}

export function ipToNumber(ip: string): number | undefined {
  if (!isIPv4(ip)) return undefined;
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * `10.1.0.0/24` → its parts; undefined unless IPv4 with a prefix of 8 to 30 and no host bits set
 * (a /31 or /32 has no room for a network, a broadcast and members; a /7 is no private network).
 */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  if (m === null) return undefined;
  const network = ipToNumber(m[1]!);
  const prefix = Number(m[2]);
  if (network === undefined || prefix < 8 || prefix > 30) return undefined;
  if (network % 2 ** (32 - prefix) !== 0) return undefined;
  return { network, prefix, text: `${m[1]}/${prefix}` };
}

/** Whether `ip` is a host address of `cidr` (not its network or broadcast address). */
export function isHostOf(cidr: Cidr, ip: string): boolean {
  const n = ipToNumber(ip);
  if (n === undefined) return false;
  const size = 2 ** (32 - cidr.prefix);
  return n > cidr.network && n < cidr.network + size - 1;
}

/** The lowest host address of `cidr` not in `used`; undefined when the network is full. */
export function lowestFree(cidr: Cidr, used: ReadonlySet<string>): string | undefined {
  const size = 2 ** (32 - cidr.prefix);
  for (let n = cidr.network + 1; n < cidr.network + size - 1; n++) {
    const ip = numberToIp(n);
    if (!used.has(ip)) return ip;
  }
  return undefined;
}
