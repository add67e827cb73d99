/**
 * ACME HTTP-01 (RFC 8555 §8.3) on the router's HTTP port: while the `acme` plugin validates a name,
 * the key authorization sits in the store (`acmeHttp01Key`, with a TTL) and the router answers
 * `GET /.well-known/acme-challenge/<token>` for that Host itself. Any other request, or a token
 * the store does not hold, is routed as usual, so a backend doing its own HTTP-01 still works.
 */

const PREFIX = '/.well-known/acme-challenge/';
/** RFC 8555 §8.3: the token is base64url; 128 chars is far above what CAs issue (43). */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** The token of a `GET|HEAD /.well-known/acme-challenge/<token>` request head, else undefined. */
export function acmeChallengeToken(head: Buffer): string | undefined {
  const lf = head.indexOf(0x0a);
  const line = head.toString('latin1', 0, lf < 0 ? head.length : lf).replace(/^[\r\n]+/, '').replace(/\r$/, '');
  const m = /^(GET|HEAD) (\S+) HTTP\/1\.[01]$/.exec(line);
  if (m === null || !m[2]!.startsWith(PREFIX)) return undefined;
  const token = m[2]!.slice(PREFIX.length);
  return TOKEN.test(token) ? token : undefined;
}

/** The 200 answer carrying the key authorization (the body RFC 8555 §8.3 asks for). */
export function challengeResponse(keyAuthorization: string): Buffer {
  const body = Buffer.from(keyAuthorization, 'latin1');
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, 'latin1'),
    body,
  ]);
}
