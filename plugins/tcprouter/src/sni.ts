/**
 * The server name (SNI, RFC 6066 §3) of a TLS ClientHello, read from the first bytes a client
 * sends, without terminating TLS. A modern ClientHello (post-quantum key shares) is ~2 KB and
 * often arrives in two TCP segments, and a TLS record may even carry it in several fragments, so
 * this reassembles handshake records from a buffer that grows as bytes arrive; the caller bounds
 * the buffer and the time (limits.maxPeekBytes, limits.peekTimeoutMs).
 */

/** What the bytes so far say. */
export type ClientHelloResult =
  /** Not enough bytes yet; nothing seen contradicts a ClientHello. */
  | { kind: 'incomplete' }
  /** A whole ClientHello: its server name (lowercase, no trailing dot), or undefined when it has none. */
  | { kind: 'complete'; serverName: string | undefined }
  /** Not a TLS ClientHello (garbage, plain HTTP, SSLv2), or a malformed one. */
  | { kind: 'invalid'; reason: string };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;
/** RFC 8446 §5.1: a plaintext record fragment is at most 2^14 bytes. */
const MAX_FRAGMENT = 16_384;
/** Characters a host name may hold on the wire; anything else is refused rather than looked up. */
const HOST_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/;

const invalid = (reason: string): ClientHelloResult => ({ kind: 'invalid', reason });

/**
 * Reads the ClientHello at the start of `buf`. Checks what it can as early as it can: a first byte
 * other than 0x16 is invalid at once, so garbage is refused without waiting for the deadline.
 */
export function parseClientHello(buf: Buffer): ClientHelloResult {
  const fragments: Buffer[] = [];
  let have = 0;
  let needed: number | undefined;
  let off = 0;
  for (;;) {
    // The record header, checked byte by byte as it arrives.
    if (buf.length > off && buf[off] !== RECORD_HANDSHAKE) return invalid(off === 0 ? 'not a TLS handshake' : 'ClientHello interrupted by another record type');
    if (buf.length > off + 1 && buf[off + 1] !== 0x03) return invalid('not a TLS record version');
    if (buf.length > off + 2 && buf[off + 2]! > 0x04) return invalid('not a TLS record version');
    if (buf.length < off + 5) return { kind: 'incomplete' };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > MAX_FRAGMENT) return invalid(`record length ${len}`);
    if (buf.length < off + 5 + len) return { kind: 'incomplete' };
    fragments.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    const hs = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, have);
    if (needed === undefined && have >= 4) {
      if (hs[0] !== HANDSHAKE_CLIENT_HELLO) return invalid('first handshake message is not a ClientHello');
      needed = 4 + hs.readUIntBE(1, 3);
    }
    if (needed !== undefined && have >= needed) return readHello(hs.subarray(4, needed));
  }
}

/** The ClientHello body (RFC 8446 §4.1.2); every length is checked against what is left. */
function readHello(b: Buffer): ClientHelloResult {
  let p = 2 + 32; // legacy_version, random
  if (b.length < p + 1) return invalid('ClientHello too short');
  p += 1 + b[p]!; // legacy_session_id
  if (b.length < p + 2) return invalid('ClientHello truncated at the cipher suites');
  const suites = b.readUInt16BE(p);
  if (suites === 0 || suites % 2 !== 0) return invalid('bad cipher suites length');
  p += 2 + suites;
  if (b.length < p + 1) return invalid('ClientHello truncated at the compression methods');
  p += 1 + b[p]!;
  if (p > b.length) return invalid('ClientHello truncated at the compression methods');
  if (p === b.length) return { kind: 'complete', serverName: undefined }; // no extensions at all
  if (b.length < p + 2) return invalid('ClientHello truncated at the extensions');
  const end = p + 2 + b.readUInt16BE(p);
  if (end !== b.length) return invalid('extensions length does not match the ClientHello');
  p += 2;
  let serverName: string | undefined;
  let seen = false;
  while (p < end) {
    if (end - p < 4) return invalid('truncated extension header');
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return invalid('extension runs past the ClientHello');
    if (type === EXT_SERVER_NAME) {
      // RFC 8446 §4.2: an extension type appears at most once.
      if (seen) return invalid('two server_name extensions');
      seen = true;
      const r = readServerName(b.subarray(p, p + len));
      if (typeof r !== 'string' && r !== undefined) return r;
      serverName = r;
    }
    p += len;
  }
  return { kind: 'complete', serverName };
}

/** The first host_name of a server_name extension body, normalized; undefined when it lists none. */
function readServerName(e: Buffer): string | undefined | ClientHelloResult {
  if (e.length === 0) return undefined; // the server's empty echo; a client sending it names nothing
  if (e.length < 2 || e.readUInt16BE(0) !== e.length - 2) return invalid('bad server_name list length');
  let p = 2;
  while (p < e.length) {
    if (e.length - p < 3) return invalid('truncated server_name entry');
    const type = e[p]!;
    const len = e.readUInt16BE(p + 1);
    p += 3;
    if (p + len > e.length) return invalid('server_name entry runs past the extension');
    if (type === NAME_TYPE_HOST) {
      if (len === 0 || len > 254) return invalid('server name length');
      const name = e.toString('latin1', p, p + len).toLowerCase();
      if (!HOST_NAME.test(name)) return invalid('server name is not a host name');
      return name.endsWith('.') ? name.slice(0, -1) : name;
    }
    p += len;
  }
  return undefined;
}
