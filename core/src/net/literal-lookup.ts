import { isIPv6 } from 'node:net';

/**
 * A `lookup` for sockets given IP literals only: hands the address back without asking the
 * system resolver (dgram would otherwise call getaddrinfo for every send to a literal).
 */
export function literalLookup(host: string, _family: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, host, isIPv6(host) ? 6 : 4);
}
