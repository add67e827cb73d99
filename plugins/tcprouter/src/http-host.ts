import { isIP } from 'node:net';

/**
 * The `Host:` of an HTTP/1.x request, read from the first bytes a client sends: the request line
 * and header lines up to the blank line (RFC 9112). The caller bounds the buffer and the time
 * (limits.maxPeekBytes, limits.peekTimeoutMs); this module refuses what is not a request as soon
 * as the bytes show it, so garbage is not held until the deadline.
 */

/** What the bytes so far say. */
export type HttpHostResult =
  /** The blank line that ends the header has not arrived; nothing seen contradicts a request. */
  | { kind: 'incomplete' }
  /** A whole header: the host (lowercase, no port, no trailing dot), undefined when there is no Host or it is empty. */
  | { kind: 'complete'; host: string | undefined }
  /** Not an HTTP/1.x request, or one a server must answer 400 (RFC 9112 §3.2: two Host lines, obs-fold). */
  | { kind: 'invalid'; reason: string };

/** RFC 9110 token characters (method, header names). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP\/\d\.\d$/;
/** Longest method we wait for before deciding the bytes are not a request. */
const MAX_METHOD = 32;
const HOST_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/;

const invalid = (reason: string): HttpHostResult => ({ kind: 'invalid', reason });

/** Control bytes other than HT, CR, LF never belong in a request head. */
function hasControlByte(buf: Buffer, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = buf[i]!;
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return true;
  }
  return false;
}

/** Where the header ends (index after the blank line), or -1. Bare LF line ends are accepted, as most servers do. */
function headerEnd(buf: Buffer, from: number): number {
  for (let i = buf.indexOf(0x0a, from); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
    if (buf[i + 1] === 0x0a) return i + 2;
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

/** Reads the request head at the start of `buf`. */
export function parseHttpHost(buf: Buffer): HttpHostResult {
  // RFC 9112 §2.2: empty lines before the request line are ignored.
  let start = 0;
  while (start < buf.length && start < 8 && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  const end = headerEnd(buf, start);
  if (hasControlByte(buf, end < 0 ? buf.length : end)) return invalid('control byte in the request head');
  const firstLf = buf.indexOf(0x0a, start);
  if (firstLf < 0 || end < 0) {
    // Early refusal: the method must be a short token followed by a space.
    const sp = buf.indexOf(0x20, start);
    const method = buf.toString('latin1', start, sp < 0 ? Math.min(buf.length, start + MAX_METHOD + 1) : sp);
    if ((method.length > 0 && !TOKEN.test(method)) || method.length > MAX_METHOD) return invalid('not an HTTP request line');
    if (firstLf >= 0 && !REQUEST_LINE.test(buf.toString('latin1', start, firstLf).replace(/\r$/, ''))) return invalid('not an HTTP/1.x request line');
    return { kind: 'incomplete' };
  }
  const lines = buf.toString('latin1', start, end).split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (!REQUEST_LINE.test(lines[0]!)) return invalid('not an HTTP/1.x request line');
  let host: string | undefined;
  let seen = false;
  for (const line of lines.slice(1)) {
    if (line === '') break;
    if (line[0] === ' ' || line[0] === '\t') return invalid('obsolete line folding');
    const colon = line.indexOf(':');
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return invalid('malformed header line');
    if (line.slice(0, colon).toLowerCase() !== 'host') continue;
    if (seen) return invalid('two Host headers');
    seen = true;
    const h = hostOf(line.slice(colon + 1).trim());
    if (h === null) return invalid('Host is not host[:port]');
    host = h;
  }
  return { kind: 'complete', host };
}

/** `Example.ORG:8080` → `example.org`; `[2001:DB8::1]:80` → `2001:db8::1`; '' → undefined; null when malformed. */
export function hostOf(value: string): string | undefined | null {
  if (value === '') return undefined;
  let name: string;
  let rest: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0 || isIP(value.slice(1, close)) !== 6) return null;
    name = value.slice(1, close);
    rest = value.slice(close + 1);
  } else {
    const colon = value.indexOf(':');
    name = colon < 0 ? value : value.slice(0, colon);
    rest = colon < 0 ? '' : value.slice(colon);
    if (!HOST_NAME.test(name.toLowerCase()) || name.length > 254) return null;
  }
  if (rest !== '' && !/^:\d{0,5}$/.test(rest)) return null;
  name = name.toLowerCase();
  return name.endsWith('.') ? name.slice(0, -1) : name;
}
