import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';
import type { Query } from './query.js';

/**
 * Assembling responses. A response is: our header + the query's own question bytes (so the
 * client's 0x20 case mix comes back unchanged) + a body (answer, authority and additional
 * sections) that does not depend on the question's bytes, so bodies can be encoded once and reused.
 */

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 16: 'BADVERS' };

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
/** RD and CD are copied from the query (RFC 1035 §4.1.1, RFC 6840 §5.9). */
const COPIED_FLAGS = 0x0100 | 0x0010;
const DO_BIT = 0x8000;
const OPT_LEN = 11;

/** Encoded sections after the question, with their record counts. */
export interface Body {
  bytes: Buffer;
  an: number;
  ns: number;
  ar: number;
}

export const EMPTY_BODY: Body = { bytes: Buffer.alloc(0), an: 0, ns: 0, ar: 0 };

/** Encodes the three sections with dns-packet (which writes names uncompressed, so no offset depends on the question). */
export function encodeBody(answers: Answer[], authorities: Answer[], additionals: Answer[]): Body {
  const full = dnsPacket.encode({ type: 'response', id: 0, flags: 0, questions: [], answers, authorities, additionals });
  return { bytes: full.subarray(12), an: answers.length, ns: authorities.length, ar: additionals.length };
}

/** Largest response the client takes over UDP: 512 without EDNS0, else its size capped by ours. */
export function udpLimit(query: Query, maxUdpPayload: number): number {
  return query.edns === undefined ? 512 : Math.min(query.edns.udpSize, maxUdpPayload);
}

export interface BuildOptions {
  rcode: number;
  authoritative: boolean;
  maxUdpPayload: number;
  /** UDP size limit, or undefined over TCP. */
  limit: number | undefined;
}

/**
 * The full response to `query` from `msg` (the raw request). When it does not fit `limit`, the
 * answer is TC=1 with the question only, so the client asks again over TCP (RFC 7766 §5).
 * @returns the bytes and whether they were truncated.
 */
export function buildResponse(msg: Buffer, query: Query, body: Body, opts: BuildOptions): { bytes: Buffer; truncated: boolean } {
  const qlen = query.questionEnd - 12;
  const opt = query.edns !== undefined;
  const size = 12 + qlen + body.bytes.length + (opt ? OPT_LEN : 0);
  const truncated = opts.limit !== undefined && size > opts.limit;
  const used = truncated ? EMPTY_BODY : body;
  const out = Buffer.allocUnsafe(12 + qlen + used.bytes.length + (opt ? OPT_LEN : 0));
  const rcode = opts.rcode;
  let flags = FLAG_QR | (query.flags & COPIED_FLAGS) | (rcode & 0xf);
  if (opts.authoritative) flags |= FLAG_AA;
  if (truncated) flags |= FLAG_TC;
  out.writeUInt16BE(query.id, 0);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(used.an, 6);
  out.writeUInt16BE(used.ns, 8);
  out.writeUInt16BE(used.ar + (opt ? 1 : 0), 10);
  msg.copy(out, 12, 12, query.questionEnd);
  used.bytes.copy(out, 12 + qlen);
  if (opt) writeOpt(out, 12 + qlen + used.bytes.length, opts.maxUdpPayload, rcode >> 4, query.edns!.flags & DO_BIT);
  return { bytes: out, truncated };
}

/** Our OPT record: root owner, our payload size, extended rcode bits, version 0, no options. */
function writeOpt(out: Buffer, off: number, payload: number, extRcode: number, flags: number): void {
  out[off] = 0;
  out.writeUInt16BE(41, off + 1);
  out.writeUInt16BE(payload, off + 3);
  out[off + 5] = extRcode;
  out[off + 6] = 0;
  out.writeUInt16BE(flags, off + 7);
  out.writeUInt16BE(0, off + 9);
}

/** A header-only error (FORMERR, NOTIMP) for a request whose question could not be used. */
export function headerOnly(id: number, requestFlags: number, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(id, 0);
  // The opcode is echoed so a NOTIMP says which opcode was refused.
  out.writeUInt16BE(FLAG_QR | (requestFlags & (COPIED_FLAGS | 0x7800)) | rcode, 2);
  return out;
}
