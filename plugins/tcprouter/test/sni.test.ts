import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseClientHello, type ClientHelloResult } from '../src/sni.js';
import { captureClientHello, run } from './helpers.js';

/**
 * SNI from real ClientHellos: made by node:tls (OpenSSL 3.5, with a post-quantum key share) and
 * captured off the wire, then fed whole, cut, split, re-framed and damaged.
 */

/** 12 ALPN names of 200 bytes: a ClientHello well above 2 KB, as big post-quantum ones are. */
const BIG_ALPN = Array.from({ length: 12 }, (_, i) => `p${i}-${'x'.repeat(196)}`);

let plain: Buffer;
let big: Buffer;
let noSni: Buffer;
let upper: Buffer;

before(async () => {
  plain = await captureClientHello({ servername: 'www.example.org' });
  big = await captureClientHello({ servername: 'big.example.org', ALPNProtocols: BIG_ALPN });
  // node:tls sends no SNI for an IP literal host without a servername.
  noSni = await captureClientHello({});
  upper = await captureClientHello({ servername: 'WWW.Example.ORG' });
});

/** The ClientHello re-framed into TLS records of at most `size` bytes (RFC 8446 §5.1 allows fragmenting handshakes). */
function reframe(hello: Buffer, size: number): Buffer {
  const body = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const frag = body.subarray(i, i + size);
    const head = Buffer.from([0x16, hello[1]!, hello[2]!, 0, 0]);
    head.writeUInt16BE(frag.length, 3);
    records.push(head, frag);
  }
  return Buffer.concat(records);
}

const complete = (serverName: string | undefined): ClientHelloResult => ({ kind: 'complete', serverName });

test('real ClientHellos: the server name, lowercased; none when the client sends no SNI', () => {
  const cases: [string, Buffer, ClientHelloResult][] = [
    ['node default (post-quantum key share)', plain, complete('www.example.org')],
    ['big, > 2 KB', big, complete('big.example.org')],
    ['upper case name', upper, complete('www.example.org')],
    ['no SNI', noSni, complete(undefined)],
    ['re-framed in 100-byte records', reframe(plain, 100), complete('www.example.org')],
    ['re-framed in 1-byte records', reframe(plain, 1), complete('www.example.org')],
    ['followed by more bytes', Buffer.concat([plain, Buffer.from('trailing')]), complete('www.example.org')],
  ];
  assert.ok(plain.length > 1_000, `a post-quantum ClientHello is big (${plain.length} bytes)`);
  assert.ok(big.length > 2_048, `the big ClientHello is > 2 KB (${big.length} bytes)`);
  for (const [what, bytes, want] of cases) assert.deepEqual(parseClientHello(bytes), want, what);
});

test('an openssl s_client ClientHello', async () => {
  // openssl s_client against the capture server: another real TLS stack's ClientHello.
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) => {
      let b = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        b = Buffer.concat([b, d]);
        if (b.length >= 5 && b.length >= 5 + b.readUInt16BE(3)) {
          s.destroy();
          resolve(b);
        }
      });
    }),
  );
  const client = run('openssl', ['s_client', '-connect', `127.0.0.1:${(server.address() as { port: number }).port}`, '-servername', 'Shop.Example.Test'], 10_000);
  try {
    assert.deepEqual(parseClientHello(await got), complete('shop.example.test'));
  } finally {
    server.close();
    await client;
  }
});

test('every proper prefix of a ClientHello is incomplete, at every cut point (segments reassembled)', () => {
  for (const hello of [plain, big, reframe(plain, 300)]) {
    for (let cut = 0; cut < hello.length; cut++) {
      const r = parseClientHello(hello.subarray(0, cut));
      if (r.kind !== 'incomplete') assert.fail(`cut at ${cut} of ${hello.length}: ${JSON.stringify(r)}`);
    }
  }
});

test('garbage and damaged ClientHellos are invalid, as early as the bytes show it', () => {
  const damaged = (at: number, value: number): Buffer => {
    const b = Buffer.from(plain);
    b[at] = value;
    return b;
  };
  const cases: [string, Buffer][] = [
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n')],
    ['one byte of HTTP', Buffer.from('G')],
    ['an SSLv2-style hello', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01])],
    ['random bytes', Buffer.concat([Buffer.from([0x42]), randomBytes(300)])],
    ['record version 2.0', Buffer.from([0x16, 0x02, 0x00])],
    ['record version 3.9', Buffer.from([0x16, 0x03, 0x09])],
    ['record length 0', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])],
    ['record length above 2^14', Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01])],
    ['a handshake that is not a ClientHello', damaged(5, 0x02)],
    ['an alert record after the first fragment', Buffer.concat([reframe(plain, 100).subarray(0, 105), Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])])],
    ['cipher suites length odd', (() => { const b = Buffer.from(plain); const sid = b[5 + 4 + 34]!; b.writeUInt16BE(3, 5 + 4 + 35 + sid); return b; })()],
    ['extensions length off by one', (() => {
      const b = Buffer.from(plain);
      // The extensions length is the last 2-byte length before the first extension; find it from the end of the body.
      const body = 9;
      let p = body + 34;
      p += 1 + b[p]!;
      p += 2 + b.readUInt16BE(p);
      p += 1 + b[p]!;
      b.writeUInt16BE(b.readUInt16BE(p) - 1, p);
      return b;
    })()],
    ['handshake shorter than its fields', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x0a, 0x01, 0x00, 0x00, 0x06, 0x03, 0x03, 0, 0, 0, 0])],
  ];
  for (const [what, bytes] of cases) assert.equal(parseClientHello(bytes).kind, 'invalid', what);
});

test('server names that are not host names are refused, two SNI extensions too', () => {
  const withName = (name: Buffer): Buffer => {
    // A minimal ClientHello: version, random, empty session id, one suite, null compression, SNI only.
    const entry = Buffer.concat([Buffer.from([0x00]), u16(name.length), name]);
    const sni = Buffer.concat([u16(0), u16(entry.length + 2), u16(entry.length), entry]);
    return hello([sni]);
  };
  assert.deepEqual(parseClientHello(withName(Buffer.from('ok.example.test.'))), complete('ok.example.test'));
  for (const bad of ['with space.test', 'nul\0.test', 'ü.test', '', 'a'.repeat(255)]) {
    assert.equal(parseClientHello(withName(Buffer.from(bad, 'utf8'))).kind, 'invalid', JSON.stringify(bad.slice(0, 20)));
  }
  const one = Buffer.concat([u16(0), u16(10), u16(8), Buffer.from([0]), u16(5), Buffer.from('a.com')]);
  assert.equal(parseClientHello(hello([one, one])).kind, 'invalid');
  assert.deepEqual(parseClientHello(hello([])), complete(undefined), 'extensions block present but empty');
});

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function hello(extensions: Buffer[]): Buffer {
  const ext = Buffer.concat(extensions);
  const body = Buffer.concat([Buffer.from([0x03, 0x03]), Buffer.alloc(32), Buffer.from([0x00]), u16(2), Buffer.from([0x13, 0x01]), Buffer.from([0x01, 0x00]), u16(ext.length), ext]);
  const hs = Buffer.concat([Buffer.from([0x01, 0, 0, 0]), body]);
  hs.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(hs.length), hs]);
}
