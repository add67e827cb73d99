/**
 * Parsing of incoming DNS queries straight from the wire. The hot path needs the question and
 * the EDNS0 OPT record only; a hand-written parser gets them without building a whole decoded
 * packet per query, and it decides exactly what is malformed (RFC 1035 §4.1, RFC 6891 §6.1.1).
 */

/** EDNS0 parameters of a query's OPT record. */
export interface Edns {
  /** Requestor's UDP payload size; values below 512 are treated as 512 (RFC 6891 §6.2.5). */
  udpSize: number;
  version: number;
  /** The DO bit (0x8000) and the rest of the 16-bit flags field. */
  flags: number;
}

export interface Query {
  id: number;
  /** The 16-bit flags word of the request. */
  flags: number;
  /**
   * Identity of the question for the answer cache, made from the wire bytes without decoding
   * the name (the hot path): the case-folded name bytes plus the type.
   */
  key: string;
  qtype: number;
  qclass: number;
  /** Offset just after the question: bytes 12..questionEnd are echoed into the answer. */
  questionEnd: number;
  edns: Edns | undefined;
}

/** What to do with a datagram: answer it, answer with an error code, or drop it. */
export type ParseOutcome =
  | { kind: 'query'; query: Query }
  /** The header parsed but the rest did not: FORMERR, or NOTIMP for an opcode we do not serve. */
  | { kind: 'error'; id: number; flags: number; rcode: 1 | 4; reason: string }
  /** Too short for a header, or a response (answering responses invites loops). */
  | { kind: 'drop'; reason: string };

const MAX_NAME_WIRE = 255;

/**
 * Walks the question name (no compression: a query's only name has nothing to point back to).
 * Returns where it ends and whether it is plain ASCII / has capitals, or why it is malformed.
 */
function scanQname(buf: Buffer, start: number): { end: number; ascii: boolean; upper: boolean } | string {
  let off = start;
  let ascii = true;
  let upper = false;
  for (;;) {
    if (off >= buf.length) return 'name runs past the end';
    const len = buf[off]!;
    if (len === 0) return { end: off + 1, ascii, upper };
    if (len > 63) return len >= 0xc0 ? 'compression pointer in the question' : 'unknown label type';
    if (off + 1 + len > buf.length) return 'label runs past the end';
    if (off + 1 + len - start >= MAX_NAME_WIRE) return 'name longer than 255 bytes';
    for (let i = off + 1; i <= off + len; i++) {
      const b = buf[i]!;
      if (b >= 0x80) ascii = false;
      else if (b >= 65 && b <= 90) upper = true;
    }
    off += 1 + len;
  }
}

/** The question name in text form: lowercase (ASCII folding), no trailing dot, root ''. */
export function decodeQname(buf: Buffer, start = 12): string {
  let off = start;
  let name = '';
  for (let len = buf[off]!; len !== 0; len = buf[off]!) {
    let label = buf.toString('utf8', off + 1, off + 1 + len);
    // A dot inside a label cannot be a name we hold; escaping it keeps `a.b` (one label) apart from `a`.`b`.
    if (label.includes('.')) label = label.replaceAll('.', '\\.');
    if (/[A-Z]/.test(label)) label = label.replace(/[A-Z]+/g, (x) => x.toLowerCase());
    name = name === '' ? label : `${name}.${label}`;
    off += 1 + len;
  }
  return name;
}

/** Skips a name anywhere else in the message (compression allowed); returns the offset after it. */
function skipName(buf: Buffer, start: number): number {
  let off = start;
  for (let n = 0; n < 128; n++) {
    if (off >= buf.length) return -1;
    const len = buf[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (len > 63) return -1;
    off += 1 + len;
  }
  return -1;
}

/** Parses a query. Never throws, whatever the bytes. */
export function parseQuery(buf: Buffer): ParseOutcome {
  if (buf.length < 12) return { kind: 'drop', reason: 'shorter than a header' };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) !== 0) return { kind: 'drop', reason: 'a response, not a query' };
  const fail = (reason: string): ParseOutcome => ({ kind: 'error', id, flags, rcode: 1, reason });
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { kind: 'error', id, flags, rcode: 4, reason: `opcode ${opcode} not implemented` };
  if (buf.readUInt16BE(4) !== 1) return fail('a query must hold exactly one question');
  const q = scanQname(buf, 12);
  if (typeof q === 'string') return fail(q);
  if (q.end + 4 > buf.length) return fail('question runs past the end');
  const qtype = buf.readUInt16BE(q.end);
  const qclass = buf.readUInt16BE(q.end + 2);
  const questionEnd = q.end + 4;

  // Answer and authority records are unusual in a query but legal; they are skipped.
  const skip = buf.readUInt16BE(6) + buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  let off = questionEnd;
  let edns: Edns | undefined;
  for (let i = 0; i < skip + arcount; i++) {
    const nameStart = off;
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return fail('record runs past the end');
    const type = buf.readUInt16BE(off);
    const rdlen = buf.readUInt16BE(off + 8);
    if (off + 10 + rdlen > buf.length) return fail('record data runs past the end');
    if (i >= skip && type === 41) {
      if (edns !== undefined) return fail('more than one OPT record');
      if (buf[nameStart] !== 0) return fail('OPT owner must be the root');
      edns = { udpSize: Math.max(512, buf.readUInt16BE(off + 2)), version: buf[off + 5]!, flags: buf.readUInt16BE(off + 6) };
    }
    off += 10 + rdlen;
  }
  // latin1 maps each byte to one char, so for ASCII names the wire form is a cheap exact key;
  // other names take the decoded (UTF-8) form, in a namespace of their own.
  let name = q.ascii ? buf.toString('latin1', 12, q.end) : `\u0001${decodeQname(buf)}`;
  if (q.ascii && q.upper) name = name.toLowerCase();
  const key = name + String.fromCharCode(qtype);
  return { kind: 'query', query: { id, flags, key, qtype, qclass, questionEnd, edns } };
}
