import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { connect, type Socket } from 'node:net';
import { silentLogger, type Logger } from '@plexus/core';
import { startRedis, type RedisServer } from '@plexus/core/testing';
import { captureClientHello, closed, makeCert, openSocket, rssMb, run, startBackend, startRouter, startTcpBackend, tempDir, waitFor } from './helpers.js';

/**
 * Bad input and abuse on both ports, on real sockets: garbage, ClientHellos split or without SNI,
 * slowloris on each peek (cut at the deadline), thousands of idle connections, one IP taking the
 * port, idle relayed connections. Each time an honest client must still be served.
 */

let redis: RedisServer;
let certs: { key: Buffer; cert: Buffer; certFile: string };
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  redis = await startRedis({ tmpPrefix: 'plexus-tcprouter-redis-' });
  certs = await makeCert(await tempDir({ after: (fn: () => Promise<void>) => void cleanups.push(fn) }));
});

after(async () => {
  await redis?.stop();
  for (const c of cleanups) await c();
});

function warnings(): { log: Logger; seen: Record<string, unknown>[] } {
  const seen: Record<string, unknown>[] = [];
  return { log: Object.assign(silentLogger(), { warn: (obj: Record<string, unknown>) => void seen.push(obj) }), seen };
}

const honestHttps = (port: number, from?: string) =>
  run('curl', ['-sS', '--max-time', '20', ...(from === undefined ? [] : ['--interface', from]), '--resolve', `www.alice.test:${port}:127.0.0.1`, '--cacert', certs.certFile, `https://www.alice.test:${port}/who`]);
const honestHttp = (port: number, from?: string) => run('curl', ['-sS', '--max-time', '20', ...(from === undefined ? [] : ['--interface', from]), '-H', 'Host: www.alice.test', `http://127.0.0.1:${port}/who`]);

/** Writes `bytes` in pieces of `size`, each flushed and followed by a turn of the event loop, so they leave as separate segments. */
async function trickle(s: Socket, bytes: Buffer, size: number, pauseMs = 0): Promise<void> {
  s.setNoDelay(true);
  for (let i = 0; i < bytes.length && !s.destroyed; i += size) {
    await new Promise<void>((resolve) => s.write(bytes.subarray(i, i + size), () => resolve()));
    await new Promise((resolve) => (pauseMs === 0 ? setImmediate(resolve) : setTimeout(resolve, pauseMs)));
  }
}

test('garbage on each port: HTTP gets 400, TLS a close; no SNI and no catch-all: closed', async (t) => {
  const r = await startRouter(t, redis);
  const h = await openSocket(t, r.http);
  const hDone = closed(h);
  h.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10, 0xde, 0xad, 0xbe, 0xef]));
  assert.match((await hDone).toString(), /^HTTP\/1\.1 400 Bad Request\r\n/);
  const s = await openSocket(t, r.tls);
  const sDone = closed(s);
  s.write('GET / HTTP/1.1\r\nHost: www.alice.test\r\n\r\n');
  assert.equal((await sDone).toString(), '', 'TLS port: closed without a byte');
  const n = await openSocket(t, r.tls);
  const nDone = closed(n);
  n.write(await captureClientHello({}));
  assert.equal((await nDone).toString(), '');
  const st = await r.status();
  assert.deepEqual([st.ports.http.malformed, st.ports.tls.malformed, st.ports.tls.unknown], [1, 1, 1]);
});

test('a real TLS handshake whose ClientHello leaves in 50-byte segments is routed and completes', async (t) => {
  const r = await startRouter(t, redis);
  await r.addRoute('www.alice.test', { addr: '127.0.0.1', tlsport: await startBackend(t, 'alice', certs) });
  const raw = await openSocket(t, r.tls);
  // A Duplex between node:tls and the socket that cuts every write into 50-byte segments.
  const splitter = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      trickle(raw, chunk, 50).then(() => cb(), cb);
    },
    final(cb) {
      raw.end();
      cb();
    },
  });
  raw.on('data', (d: Buffer) => splitter.push(d));
  raw.on('end', () => splitter.push(null));
  const tls = tlsConnect({ socket: splitter, servername: 'www.alice.test', ca: certs.cert, ALPNProtocols: Array.from({ length: 12 }, (_, i) => `p${i}-${'x'.repeat(196)}`).concat('http/1.1') });
  t.after(() => void tls.destroy());
  await new Promise<void>((resolve, reject) => tls.once('secureConnect', resolve).once('error', reject));
  tls.end('GET /who HTTP/1.1\r\nHost: www.alice.test\r\nConnection: close\r\n\r\n');
  const chunks: Buffer[] = [];
  for await (const c of tls) chunks.push(c as Buffer);
  assert.match(Buffer.concat(chunks).toString(), /\r\n\r\nalice$/);
});

test('slowloris on both peeks: cut at the deadline from the accept, not kept alive by each byte', async (t) => {
  const w = warnings();
  const r = await startRouter(t, redis, { limits: { peekTimeoutMs: 600 } }, w.log);
  const hello = await captureClientHello({ servername: 'www.alice.test' });
  const head = Buffer.from('GET / HTTP/1.1\r\nHost: www.alice.test\r\nUser-Agent: slow\r\n\r\n');
  for (const [port, bytes, want] of [[r.tls, hello, /^$/], [r.http, head, /^HTTP\/1\.1 408 Request Timeout\r\n/]] as const) {
    const s = await openSocket(t, port);
    const started = Date.now();
    const done = closed(s, 5_000);
    void trickle(s, bytes.subarray(0, bytes.length - 1), 1, 50).catch(() => undefined);
    const got = await done;
    const took = Date.now() - started;
    assert.notEqual(got, 'open');
    assert.match(got.toString(), want);
    assert.ok(took >= 550 && took < 2_500, `closed after ${took} ms`);
  }
  const st = await r.status();
  assert.deepEqual([st.ports.http.limits.peekTimeout, st.ports.tls.limits.peekTimeout], [1, 1]);
  assert.equal(w.seen.filter((x) => x.code === 'ERR_TCPROUTER_LIMIT').length, 2, 'each port logs the limit');
});

test('more than maxPeekBytes without a whole head: HTTP 431, TLS closed', async (t) => {
  const r = await startRouter(t, redis, { limits: { maxPeekBytes: 4096 } });
  const h = await openSocket(t, r.http);
  const hDone = closed(h);
  h.write(`GET / HTTP/1.1\r\nHost: a.test\r\nX-Pad: ${'a'.repeat(5000)}`);
  assert.match((await hDone).toString(), /^HTTP\/1\.1 431 /);
  // A ClientHello announcing 60 KB, sent as full records: refused once 4 KB are held.
  const s = await openSocket(t, r.tls);
  const sDone = closed(s);
  const rec = Buffer.alloc(5 + 3000);
  rec.set([0x16, 0x03, 0x01]);
  rec.writeUInt16BE(3000, 3);
  rec.set([0x01, 0x00, 0xea, 0x60], 5);
  s.write(Buffer.concat([rec, rec.subarray(0, 2000)]));
  assert.notEqual(await sDone, 'open');
  const st = await r.status();
  assert.deepEqual([st.ports.http.limits.peekTooLarge, st.ports.tls.limits.peekTooLarge], [1, 1]);
});

test('2,000 idle connections: an honest client is still served, memory stays bounded', { timeout: 120_000 }, async (t) => {
  const r = await startRouter(t, redis, { limits: { maxConnections: 5_000, maxPerIp: 5_000, peekTimeoutMs: 60_000 } });
  await r.addRoute('www.alice.test', { addr: '127.0.0.1', httpport: await startBackend(t, 'alice'), tlsport: await startBackend(t, 'alice', certs) });
  const before = rssMb();
  const idle: Socket[] = [];
  t.after(() => idle.forEach((s) => s.destroy()));
  for (let batch = 0; batch < 8; batch++) {
    // Half send a few bytes of a head and then nothing: they sit in the peek, as a slowloris does.
    await Promise.all(Array.from({ length: 250 }, (_, i) => new Promise<void>((resolve, reject) => {
      const port = i % 2 === 0 ? r.http : r.tls;
      const s = connect({ host: '127.0.0.1', port }, () => {
        if (i % 4 < 2) s.write(port === r.http ? 'GET / HT' : Buffer.from([0x16, 0x03, 0x01]));
        resolve();
      });
      s.on('error', reject);
      idle.push(s);
    })));
  }
  await waitFor(async () => (await r.status()).connectionsOpen === 2_000, '2,000 connections held by the router');
  assert.equal((await honestHttps(r.tls)).stdout, 'alice');
  assert.equal((await honestHttp(r.http)).stdout, 'alice');
  const grown = rssMb() - before;
  t.diagnostic(`RSS ${before.toFixed(1)} MB before, +${grown.toFixed(1)} MB with 2,000 idle connections`);
  // 4,000 sockets in this process (both ends); measured ~15-30 MB. A leak per connection of the
  // peek buffer size (16 KB) would already be 32 MB on the router side alone.
  assert.ok(grown < 80, `RSS grew by ${grown.toFixed(1)} MB with 2,000 idle connections`);
  idle.forEach((s) => s.destroy());
  await waitFor(async () => (await r.status()).connectionsOpen === 0, 'every idle connection released');
});

test('per-IP and total limits: one IP cannot take the port; 127.0.0.2 is still served', async (t) => {
  const w = warnings();
  const r = await startRouter(t, redis, { limits: { maxPerIp: 5, maxConnections: 8 } }, w.log);
  await r.addRoute('www.alice.test', { addr: '127.0.0.1', httpport: await startBackend(t, 'alice'), tlsport: await startBackend(t, 'alice', certs) });
  for (const port of [r.http, r.tls]) {
    const held = await Promise.all(Array.from({ length: 5 }, () => openSocket(t, port)));
    await waitFor(async () => (await r.status()).ports[port === r.http ? 'http' : 'tls'].open === 5, 'five held');
    const sixth = await openSocket(t, port);
    assert.equal((await closed(sixth)).toString(), '', 'the sixth from 127.0.0.1 is refused');
    const honest = port === r.http ? await honestHttp(port, '127.0.0.2') : await honestHttps(port, '127.0.0.2');
    assert.equal(honest.stdout, 'alice', honest.stderr);
    await waitFor(async () => (await r.status()).ports[port === r.http ? 'http' : 'tls'].open === 5, 'the honest connection released');
    const others = await Promise.all(Array.from({ length: 3 }, () => openSocket(t, port, '127.0.0.2')));
    await waitFor(async () => (await r.status()).ports[port === r.http ? 'http' : 'tls'].open === 8, 'eight held');
    assert.equal((await closed(await openSocket(t, port, '127.0.0.3'))).toString(), '', 'the total cap holds for a third IP');
    [...held, ...others].forEach((s) => s.destroy());
  }
  const st = await r.status();
  for (const p of [st.ports.http, st.ports.tls]) assert.deepEqual([p.limits.maxPerIp, p.limits.maxConnections], [1, 1]);
  assert.ok(w.seen.some((x) => x.code === 'ERR_TCPROUTER_LIMIT' && x.limit === 'maxPerIp'));
});

test('a relayed connection without a byte for idleTimeoutMs is closed', async (t) => {
  const r = await startRouter(t, redis, { limits: { idleTimeoutMs: 1_000 } });
  const backend = await startTcpBackend(t);
  await r.addRoute('quiet.example.test', { addr: '127.0.0.1', httpport: backend.port });
  const s = await openSocket(t, r.http);
  const done = closed(s, 10_000);
  const started = Date.now();
  s.write('GET / HTTP/1.1\r\nHost: quiet.example.test\r\n\r\n');
  await waitFor(() => backend.sockets.length === 1, 'relayed');
  assert.notEqual(await done, 'open');
  const took = Date.now() - started;
  assert.ok(took >= 950 && took < 5_000, `closed after ${took} ms`);
  assert.equal((await r.status()).ports.http.limits.idleTimeout, 1);
  await waitFor(() => backend.sockets[0]!.destroyed || backend.sockets[0]!.readableEnded, 'the backend side closed too');
});
