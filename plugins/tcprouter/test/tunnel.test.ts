import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { YamuxSession, encodeTunnelHandshake, relay, type YamuxStream } from '@plexus/core';
import { startRedis, type RedisServer } from '@plexus/core/testing';
import { closed, makeCert, openSocket, run, startBackend, startRouter, tempDir, waitFor, type RouterUnderTest } from './helpers.js';

/**
 * The router's side of the tunnel (COMPAT §3) on real sockets with a real store: sessions made
 * by a yamux client of our own (the tunnel plugin and the Go hashicorp peer are tested against
 * this router elsewhere), public connections relayed through them, and everything a client of
 * the clients port can get wrong.
 */

let redis: RedisServer;
before(async () => {
  redis = await startRedis({ tmpPrefix: 'plexus-tcprouter-tunnel-redis-' });
});
after(async () => {
  await redis?.stop();
});

interface TestClient {
  session: YamuxSession;
  /** Streams the router opened to this client so far. */
  streams: number;
  socket: Socket;
}

/**
 * A tunnel client: the handshake on stream 1, then each stream the router opens is relayed to
 * `local` (or answered by `serve`).
 */
async function tunnelClient(t: TestContext, port: number, secret: string, local: number | ((s: YamuxStream) => void)): Promise<TestClient> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const c: TestClient = { session: undefined as unknown as YamuxSession, streams: 0, socket };
  c.session = new YamuxSession(socket, {
    client: true,
    pingIntervalMs: 0,
    onStream: (st) => {
      c.streams++;
      if (typeof local === 'function') return local(st);
      relay(st, connect({ host: '127.0.0.1', port: local, allowHalfOpen: true }));
    },
  });
  const hs = c.session.open();
  hs.on('error', () => undefined);
  hs.end(encodeTunnelHandshake(secret));
  t.after(() => c.session.destroy());
  return c;
}

const get = (port: number, host: string, path = '/who') => run('curl', ['-sS', '--max-time', '10', '-H', `Host: ${host}`, `http://127.0.0.1:${port}${path}`]);

async function sessions(r: RouterUnderTest): Promise<number> {
  return (await r.status()).tunnel.sessions;
}

test('HTTP by Host and TLS by SNI reach the tunnel client holding the secret; bytes both ways intact', async (t) => {
  const dir = await tempDir(t);
  const certs = await makeCert(dir);
  const r = await startRouter(t, redis);
  await r.addRoute('www.alice.test', { clientsecret: 's3cret' });
  const plain = await startBackend(t, 'alice-plain');
  const tls = await startBackend(t, 'alice-tls', certs);
  await tunnelClient(t, r.clients, 's3cret', (st) => {
    // The client's choice (COMPAT §3): first byte 0x16 → TLS service, else plain.
    st.once('data', (first: Buffer) => {
      st.pause();
      const sock = connect({ host: '127.0.0.1', port: first[0] === 0x16 ? tls : plain, allowHalfOpen: true });
      sock.write(first);
      relay(st, sock);
    });
  });
  await waitFor(async () => (await sessions(r)) === 1, 'the session');
  assert.equal((await get(r.http, 'www.alice.test')).stdout, 'alice-plain');
  const https = await run('curl', ['-sS', '--max-time', '10', '--cacert', certs.certFile, '--resolve', `www.alice.test:${r.tls}:127.0.0.1`, `https://www.alice.test:${r.tls}/who`]);
  assert.equal(https.stdout, 'alice-tls', https.stderr);
  // 10 MB up and down through the tunnel, checked by hash.
  const body = randomBytes(10 * 1024 * 1024);
  const file = `${dir}/up.bin`;
  await import('node:fs/promises').then((fs) => fs.writeFile(file, body));
  const up = await run('curl', ['-sS', '--max-time', '30', '-H', 'Host: www.alice.test', '--data-binary', `@${file}`, `http://127.0.0.1:${r.http}/upload`]);
  assert.equal(up.stdout, createHash('sha256').update(body).digest('hex'));
  const down = await run('sh', ['-c', `curl -sS --max-time 30 -H 'Host: www.alice.test' http://127.0.0.1:${r.http}/download | sha256sum`]);
  assert.equal(down.stdout.slice(0, 64), createHash('sha256').update((await import('./helpers.js')).BIG).digest('hex'));
  const s = (await r.status()).tunnel;
  assert.equal(s.secrets.length, 1);
  assert.deepEqual(s.secrets[0].routes, ['www.alice.test']);
  assert.ok(!JSON.stringify(s).includes('s3cret'), 'the status never shows a secret');
  assert.ok(s.secrets[0].bytes.toClient > 10 * 1024 * 1024 && s.secrets[0].bytes.fromClient > 10 * 1024 * 1024);
  assert.ok((await r.status()).ports.http.tunnelled >= 3);
});

test('several sessions with one secret: connections are spread, and when one dies the others take them', async (t) => {
  const r = await startRouter(t, redis);
  await r.addRoute('www.bob.test', { clientsecret: 'bob-secret' });
  const a = await tunnelClient(t, r.clients, 'bob-secret', await startBackend(t, 'bob-a'));
  const b = await tunnelClient(t, r.clients, 'bob-secret', await startBackend(t, 'bob-b'));
  await waitFor(async () => (await sessions(r)) === 2, 'two sessions for one secret');
  const answers = [];
  for (let i = 0; i < 10; i++) answers.push((await get(r.http, 'www.bob.test')).stdout);
  assert.deepEqual(new Set(answers), new Set(['bob-a', 'bob-b']), 'both sessions served');
  assert.equal(a.streams + b.streams, 10);
  a.socket.destroy();
  await waitFor(async () => (await sessions(r)) === 1, 'the dead session dropped');
  for (let i = 0; i < 5; i++) assert.equal((await get(r.http, 'www.bob.test')).stdout, 'bob-b');
  b.socket.destroy();
  await waitFor(async () => (await sessions(r)) === 0, 'no session left');
  const res = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '-H', 'Host: www.bob.test', `http://127.0.0.1:${r.http}/who`]);
  assert.equal(res.stdout, '502', 'no session: 502');
});

test('a client whose pings go unanswered is dropped; a live one is kept', async (t) => {
  const r = await startRouter(t, redis, { tunnel: { pingIntervalMs: 100, pingTimeoutMs: 300 } });
  await r.addRoute('www.carol.test', { clientsecret: 'carol' });
  const live = await tunnelClient(t, r.clients, 'carol', await startBackend(t, 'carol'));
  const dead = await tunnelClient(t, r.clients, 'carol', await startBackend(t, 'carol'));
  await waitFor(async () => (await sessions(r)) === 2, 'two sessions');
  // A frozen client: its socket stays open but nothing is read, so no ping is answered.
  dead.socket.pause();
  await waitFor(async () => (await r.status()).tunnel.counters.pingTimeouts === 1, 'the frozen session dropped by ping', 5_000);
  assert.equal(await sessions(r), 1);
  assert.equal(live.session.closed, false);
  assert.equal((await get(r.http, 'www.carol.test')).stdout, 'carol');
});

test('a secret no route has, garbage, a bad handshake and silence are refused; the port keeps serving', async (t) => {
  const r = await startRouter(t, redis, { tunnel: { handshakeTimeoutMs: 300 } });
  await r.addRoute('www.dave.test', { clientsecret: 'dave' });
  const wrong = await tunnelClient(t, r.clients, 'not-dave', () => undefined);
  await waitFor(() => wrong.session.closed, 'the wrong secret refused');
  assert.equal(wrong.session.remoteGoAway, 1, 'go-away: protocol error');
  const garbage = await openSocket(t, r.clients);
  garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.notEqual(await closed(garbage, 5_000), 'open');
  await tunnelClient(t, r.clients, 'dave', () => undefined); // the one right handshake
  const bad = connect({ host: '127.0.0.1', port: r.clients });
  await once(bad, 'connect');
  const s = new YamuxSession(bad, { client: true, pingIntervalMs: 0 });
  t.after(() => s.destroy());
  const st = s.open();
  st.on('error', () => undefined);
  st.end(Buffer.from([0x12, 0x12, 0x00, 0x04, 0x64, 0x61, 0x76, 0x65]));
  await waitFor(() => s.closed, 'the bad magic refused');
  const silent = await openSocket(t, r.clients);
  const started = Date.now();
  assert.notEqual(await closed(silent, 5_000), 'open');
  assert.ok(Date.now() - started < 3_000);
  const c = (await r.status()).tunnel.counters;
  assert.deepEqual([c.rejected.unknownSecret, c.rejected.handshakeTimeout], [1, 1]);
  assert.ok(c.rejected.badHandshake >= 2, `garbage and the bad magic: ${c.rejected.badHandshake}`);
  await waitFor(async () => (await sessions(r)) === 1, 'the good session is up');
});

test('removing the last route of a secret closes its sessions; sessions per secret and streams per session are capped', async (t) => {
  const r = await startRouter(t, redis, { tunnel: { maxSessionsPerSecret: 2, maxStreamsPerSession: 2 } });
  await r.addRoute('www.erin.test', { clientsecret: 'erin' });
  await r.addRoute('api.erin.test', { clientsecret: 'erin' });
  const held: YamuxStream[] = [];
  const c1 = await tunnelClient(t, r.clients, 'erin', (st) => held.push(st));
  await tunnelClient(t, r.clients, 'erin', (st) => held.push(st));
  await waitFor(async () => (await sessions(r)) === 2, 'two sessions');
  const third = await tunnelClient(t, r.clients, 'erin', () => undefined);
  await waitFor(() => third.session.closed, 'the third session refused');
  assert.equal((await r.status()).tunnel.counters.rejected.tooManyForSecret, 1);
  // Four connections fill both sessions (2 streams each); the fifth finds no room: 502.
  const open = await Promise.all(Array.from({ length: 4 }, async () => {
    const s = await openSocket(t, r.http);
    s.write('GET /who HTTP/1.1\r\nHost: www.erin.test\r\n\r\n');
    return s;
  }));
  await waitFor(() => held.length === 4, 'four streams held');
  const res = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '-H', 'Host: www.erin.test', `http://127.0.0.1:${r.http}/who`]);
  assert.equal(res.stdout, '502');
  open.forEach((s) => s.destroy());
  await r.removeRoute('www.erin.test');
  assert.equal(await sessions(r), 2, 'api.erin.test still has the secret');
  await r.removeRoute('api.erin.test');
  await waitFor(() => c1.session.closed, 'the client sees its session closed');
  await waitFor(async () => (await sessions(r)) === 0, 'sessions closed with the last route');
  assert.equal((await r.status()).tunnel.counters.closedByRouteChange, 2);
});
