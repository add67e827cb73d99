import { isIPv4, isIPv6 } from 'node:net';
import type { Multiaddr } from '@multiformats/multiaddr';

/**
 * The unit per-address limits count in: an IPv4 address, or an IPv6 /64. One host (or one
 * customer of a provider) usually gets a whole /64, so counting single IPv6 addresses would let
 * it open 2^64 times the limit.
 */
export type HostKey = string;

/** Host key of a textual IP address; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as the IPv4 address. */
export function hostKeyOfIp(ip: string): HostKey {
  const bare = ip.replace(/%.*$/, '');
  if (isIPv4(bare)) return bare;
  if (!isIPv6(bare)) return bare;
  const groups = expandIPv6(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The IP of a multiaddr's first `/ip4` or `/ip6` component, if it has one. */
export function ipOf(ma: Multiaddr): string | undefined {
  for (const c of ma.getComponents()) {
    if ((c.name === 'ip4' || c.name === 'ip6') && c.value !== undefined) return c.value;
  }
  return undefined;
}

/** Host key of a remote multiaddr; one that carries no IP (a relay, a unix socket) is its own key. */
export function hostKeyOf(ma: Multiaddr): HostKey {
  const ip = ipOf(ma);
  return ip === undefined ? ma.toString() : hostKeyOfIp(ip);
}

/** The 8 16-bit groups of a valid IPv6 address (with `::` and a trailing dotted IPv4 expanded). */
function expandIPv6(ip: string): number[] {
  let text = ip;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
