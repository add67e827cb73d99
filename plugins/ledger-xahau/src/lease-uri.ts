/**
 * Lease slot URIToken URIs, as Evernode hosts mint them (evernode-js-client
 * UtilHelpers.decodeLeaseTokenUri): the URI field is hex of the ASCII of base64 of
 *
 *     "evrlease" | "LTV" uint16 version | uint16 lease index | 16 bytes (half the ToS hash)
 *     | int64 lease amount (XFL) | uint32 identifier | 17 bytes outbound IP (6 + IPv6), optional
 *
 * (URIs without the "LTV" version part are the older form.)
 */

const PREFIX = Buffer.from('evrlease');
const VERSION_PREFIX = Buffer.from('LTV');

export interface LeaseTokenUri {
  version: number | null;
  leaseIndex: number;
  halfTosHash: string;
  /** EVR per moment, a decimal string. */
  leaseAmount: string;
  identifier: number | null;
  outboundIpv6: string | null;
}

/** XFL (Hooks' 64-bit decimal float) to a plain decimal string. */
export function xflToDecimal(xfl: bigint): string {
  if (xfl === 0n) return '0';
  if (xfl < 0n) throw new RangeError('not an XFL');
  const mantissa = xfl & ((1n << 54n) - 1n);
  const exponent = Number((xfl >> 54n) & 0xffn) - 97;
  const negative = ((xfl >> 62n) & 1n) === 0n;
  let digits = mantissa.toString();
  let out: string;
  if (exponent >= 0) out = digits + '0'.repeat(exponent);
  else {
    const point = digits.length + exponent;
    if (point <= 0) digits = '0'.repeat(1 - point) + digits;
    const p = digits.length + exponent;
    out = `${digits.slice(0, p)}.${digits.slice(p)}`.replace(/\.?0+$/, '');
  }
  return negative ? `-${out}` : out;
}

/** A positive decimal string to XFL (16-digit mantissa). For tests and tools. */
export function decimalToXfl(value: string): bigint {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (m === null) throw new RangeError('a positive decimal');
  let mantissa = BigInt(m[1]! + (m[2] ?? ''));
  let exponent = -(m[2]?.length ?? 0);
  if (mantissa === 0n) return 0n;
  while (mantissa < 1_000_000_000_000_000n) {
    mantissa *= 10n;
    exponent--;
  }
  while (mantissa > 9_999_999_999_999_999n) {
    mantissa /= 10n;
    exponent++;
  }
  return (1n << 62n) | (BigInt(exponent + 97) << 54n) | mantissa;
}

/** The fields of a lease token URI (ledger hex), or undefined when it is not one. */
export function decodeLeaseTokenUri(uriHex: string): LeaseTokenUri | undefined {
  let buf: Buffer;
  try {
    buf = Buffer.from(Buffer.from(uriHex, 'hex').toString('latin1'), 'base64');
  } catch {
    return undefined;
  }
  if (buf.length < PREFIX.length + 2 + 16 + 8 || !buf.subarray(0, PREFIX.length).equals(PREFIX)) return undefined;
  let o = PREFIX.length;
  let version: number | null = null;
  if (buf.subarray(o, o + 3).equals(VERSION_PREFIX)) {
    version = buf.readUInt16BE(o + 3);
    o += 5;
  }
  if (buf.length < o + 2 + 16 + 8) return undefined;
  const leaseIndex = buf.readUInt16BE(o);
  const halfTosHash = buf.subarray(o + 2, o + 18).toString('hex');
  const xfl = buf.readBigInt64BE(o + 18);
  if (xfl <= 0n) return undefined;
  o += 26;
  const identifier = buf.length >= o + 4 ? buf.readUInt32BE(o) : null;
  o += 4;
  const outboundIpv6 = buf.length >= o + 17 && buf[o] === 6 ? buf.subarray(o + 1, o + 17).toString('hex').toUpperCase().replace(/(.{4})(?!$)/g, '$1:') : null;
  return { version, leaseIndex, halfTosHash, leaseAmount: xflToDecimal(xfl), identifier, outboundIpv6 };
}

/**
 * The URI (ledger hex) of a lease slot token as Evernode's HostClient.offerLease mints it: version
 * 1, the full fixed-size layout with the 17 bytes of IP data (family 6 + IPv6, or zeros).
 */
export function mintLeaseUri(u: { leaseIndex: number; halfTosHash: string; leaseAmount: string; identifier: number; outboundIpv6?: string }): string {
  const amount = Buffer.alloc(8);
  amount.writeBigInt64BE(decimalToXfl(u.leaseAmount));
  const id = Buffer.alloc(4);
  id.writeUInt32BE(u.identifier >>> 0);
  const ip = Buffer.alloc(17);
  if (u.outboundIpv6 !== undefined) {
    ip[0] = 6;
    Buffer.from(u.outboundIpv6.replace(/:/g, ''), 'hex').copy(ip, 1);
  }
  const raw = Buffer.concat([PREFIX, VERSION_PREFIX, u16(1), u16(u.leaseIndex), Buffer.from(u.halfTosHash.slice(0, 32), 'hex'), amount, id, ip]);
  return Buffer.from(raw.toString('base64'), 'latin1').toString('hex').toUpperCase();
}

/** The URI (ledger hex) of a lease token in any of its forms. For tests and tools. */
export function encodeLeaseTokenUri(u: { version?: number; leaseIndex: number; halfTosHash: string; leaseAmount: string; identifier?: number; outboundIpv6?: string }): string {
  const parts: Buffer[] = [PREFIX];
  if (u.version !== undefined) parts.push(VERSION_PREFIX, u16(u.version));
  const amount = Buffer.alloc(8);
  amount.writeBigInt64BE(decimalToXfl(u.leaseAmount));
  parts.push(u16(u.leaseIndex), Buffer.from(u.halfTosHash.padEnd(32, '0').slice(0, 32), 'hex'), amount);
  if (u.identifier !== undefined) {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(u.identifier);
    parts.push(id);
    if (u.outboundIpv6 !== undefined) parts.push(Buffer.from([6]), Buffer.from(u.outboundIpv6.replace(/:/g, ''), 'hex'));
  }
  return Buffer.from(Buffer.concat(parts).toString('base64'), 'latin1').toString('hex').toUpperCase();
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
