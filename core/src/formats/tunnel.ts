/**
 * The tcprouter tunnel handshake (COMPAT §3): on stream 1 of its yamux session the tunnel client
 * writes, in one DATA frame, `0x11 0x11 | uint16 big-endian length of the secret | secret bytes`,
 * then closes the stream. The router sends no answer: an unknown secret ends the session.
 *   secret `foobar` → 11 11 00 06 66 6f 6f 62 61 72
 */

export const TUNNEL_MAGIC = 0x1111;
/** Default clients port of the router (the original's `clientsport`). */
export const DEFAULT_TUNNEL_PORT = 18000;
/** Longest secret plexus sends or accepts (the wire allows 65,535; the store's secrets are far shorter). */
export const MAX_TUNNEL_SECRET_BYTES = 1024;

/** The handshake bytes for `secret` (UTF-8). @throws when the secret is empty or too long. */
export function encodeTunnelHandshake(secret: string | Buffer): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (bytes.length === 0 || bytes.length > MAX_TUNNEL_SECRET_BYTES) throw new RangeError(`a tunnel secret has 1 to ${MAX_TUNNEL_SECRET_BYTES} bytes, not ${bytes.length}`);
  const out = Buffer.allocUnsafe(4 + bytes.length);
  out.writeUInt16BE(TUNNEL_MAGIC, 0);
  out.writeUInt16BE(bytes.length, 2);
  bytes.copy(out, 4);
  return out;
}

export type TunnelHandshake =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'complete'; secret: Buffer; extra: number };

/** Reads a handshake from the bytes of stream 1 received so far. `extra`: bytes after it (a client should send none). */
export function parseTunnelHandshake(buf: Buffer): TunnelHandshake {
  if (buf.length >= 1 && buf[0] !== 0x11) return { kind: 'invalid', reason: 'does not start with 0x11 0x11' };
  if (buf.length >= 2 && buf[1] !== 0x11) return { kind: 'invalid', reason: 'does not start with 0x11 0x11' };
  if (buf.length < 4) return { kind: 'incomplete' };
  const len = buf.readUInt16BE(2);
  if (len === 0) return { kind: 'invalid', reason: 'empty secret' };
  if (len > MAX_TUNNEL_SECRET_BYTES) return { kind: 'invalid', reason: `secret longer than ${MAX_TUNNEL_SECRET_BYTES} bytes` };
  if (buf.length < 4 + len) return { kind: 'incomplete' };
  return { kind: 'complete', secret: Buffer.from(buf.subarray(4, 4 + len)), extra: buf.length - 4 - len };
}
