import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { encodeService, freePort, tcprouterKey } from '@plexus/core';
import { codeOf, fakeContext, startPlugin, startRedis, type RedisServer } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { plugin } from '../src/index.js';
import { BIG, BIG_SHA256, captureClientHello, closed, makeCert, openSocket, run, startBackend, startRouter, startTcpBackend, tempDir, waitFor } from './helpers.js';

/**
 * The router on real sockets with a real store (redis-server + the store plugin), reached by real
 * clients: curl for HTTP and HTTPS, openssl s_client for TLS. Backends are node http/https servers
 * with a certificate made by `openssl req`.
 */

let redis: RedisServer;
let certs: { key: Buffer; cert: Buffer; certFile: string };
let bigFile: string;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  redis = await startRedis({ tmpPrefix: 'plexus-tcprouter-redis-' });
  const dir = await tempDir({ after: (fn: () => Promise<void>) => void cleanups.push(fn) });
  certs = await makeCert(dir);
  bigFile = join(dir, 'big.bin');
  await writeFile(bigFile, BIG);
});

after(async () => {
  await redis?.stop();
  for (const c of cleanups) await c();
});

/** curl through the router: HTTP with a Host header, HTTPS with --resolve (real SNI) and our CA. */
function curl(port: number, scheme: 'http' | 'https', name: string, path: string, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const target = scheme === 'http' ? ['-H', `Host: ${name}`, `http://127.0.0.1:${port}${path}`] : ['--resolve', `${name}:${port}:127.0.0.1`, '--cacert', certs.certFile, `https://${name}:${port}${path}`];
  return run('curl', ['-sS', '--max-time', '20', ...extra, ...target]);
}

/** `openssl s_client` through the TLS port: did the handshake reach a server with our certificate? */
async function opensslSees(port: number, name: string | undefined): Promise<'handshake' | 'closed'> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', certs.certFile, ...(name === undefined ? ['-noservername'] : ['-servername', name])];
  const r = await run('bash', ['-c', `openssl ${args.join(' ')} </dev/null`], 20_000);
  if (r.stdout.includes('Verify return code: 0 (ok)') && r.stdout.includes('BEGIN CERTIFICATE')) return 'handshake';
  assert.match(r.stdout + r.stderr, /no peer certificate available|unexpected eof|errno/i, `openssl output:\n${r.stdout}\n${r.stderr}`);
  return 'closed';
}

/** A plain and a TLS backend answering `id` on /who. */
async function backendPair(t: TestContext, id: string): Promise<{ httpport: number; tlsport: number }> {
  return { httpport: await startBackend(t, id), tlsport: await startBackend(t, id, certs) };
}

test('HTTP by Host and TLS by SNI reach real backends; 10 MiB crosses each port both ways untouched', { timeout: 120_000 }, async (t) => {
  const r = await startRouter(t, redis);
  const alice = await backendPair(t, 'alice');
  await r.addRoute('www.alice.test', { addr: '127.0.0.1', ...alice });
  assert.deepEqual(await curl(r.http, 'http', 'www.alice.test', '/who'), { code: 0, stdout: 'alice', stderr: '' });
  assert.deepEqual(await curl(r.tls, 'https', 'www.alice.test', '/who'), { code: 0, stdout: 'alice', stderr: '' });
  assert.equal(await opensslSees(r.tls, 'www.alice.test'), 'handshake', 'the backend certificate reaches the client: TLS is passed through');
  const dir = await tempDir(t);
  for (const scheme of ['http', 'https'] as const) {
    const port = scheme === 'http' ? r.http : r.tls;
    const up = await curl(port, scheme, 'www.alice.test', '/upload', ['--data-binary', `@${bigFile}`, '-H', 'Content-Type: application/octet-stream']);
    assert.equal(up.stdout, BIG_SHA256, `${scheme} upload: ${up.stderr}`);
    const out = join(dir, `down-${scheme}`);
    const down = await curl(port, scheme, 'www.alice.test', '/download', ['-o', out]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(createHash('sha256').update(await readFile(out)).digest('hex'), BIG_SHA256, `${scheme} download`);
  }
  const s = await r.status();
  assert.equal(s.routing, true);
  assert.deepEqual(s.routes, { static: 0, store: 1, catchAll: false, tunnel: 0, malformed: 0 });
  assert.equal(s.ports.http.routed, 3);
  assert.equal(s.ports.tls.routed, 4);
  for (const p of [s.ports.http, s.ports.tls]) {
    assert.ok(p.bytes.toBackend > BIG.length && p.bytes.toClient > BIG.length, JSON.stringify(p.bytes));
    assert.equal(p.unknown + p.malformed + p.backendErrors, 0);
  }
  assert.ok(s.bytesRelayed.toBackend > 2 * BIG.length);
  assert.equal(s.watch.mode, 'keyspace');
});

test('a route written into the store is used by the next connection; a changed or removed route closes its live connections', async (t) => {
  const r = await startRouter(t, redis);
  const a = await startTcpBackend(t);
  const b = await startTcpBackend(t);
  const name = 'live.example.test';
  await r.addRoute(name, { addr: '127.0.0.1', httpport: a.port, tlsport: a.port });
  const viaHttp = await openSocket(t, r.http);
  const httpDone = closed(viaHttp);
  viaHttp.write(`GET / HTTP/1.1\r\nHost: ${name}\r\n\r\n`);
  const viaTls = await openSocket(t, r.tls);
  const tlsDone = closed(viaTls);
  const hello = await captureClientHello({ servername: name });
  viaTls.write(hello);
  await waitFor(() => a.sockets.length === 2 && a.received().length === hello.length + `GET / HTTP/1.1\r\nHost: ${name}\r\n\r\n`.length, 'both connections relayed to backend a');
  // Rewritten unchanged (a re-expose to the same address): nothing closes. The marker route written
  // after it shows the router has processed the rewrite (store batches arrive in order).
  await r.store.redis.set(tcprouterKey(name), encodeService(name, { addr: '127.0.0.1', httpport: a.port, tlsport: a.port, clientsecret: '' }));
  await r.addRoute('marker.example.test', { addr: '127.0.0.1' });
  assert.equal(viaHttp.destroyed || viaTls.destroyed, false);
  // Changed: both live connections are closed; the next one goes to b.
  await r.addRoute(name, { addr: '127.0.0.1', httpport: b.port, tlsport: b.port });
  assert.notEqual(await httpDone, 'open');
  assert.notEqual(await tlsDone, 'open');
  const next = await openSocket(t, r.http);
  const nextDone = closed(next);
  next.write(`GET / HTTP/1.1\r\nHost: ${name}\r\n\r\n`);
  await waitFor(() => b.sockets.length === 1, 'the next connection relayed to backend b');
  // Removed: closed too, and the name is unknown from then on.
  await r.removeRoute(name);
  assert.notEqual(await nextDone, 'open');
  assert.equal((await curl(r.http, 'http', name, '/', ['-o', '/dev/null', '-w', '%{http_code}'])).stdout, '404');
  const s = await r.status();
  assert.equal(s.ports.http.closedByRouteChange, 2);
  assert.equal(s.ports.tls.closedByRouteChange, 1);
  await waitFor(async () => (await r.status()).connectionsOpen === 0, 'no connection left open');
});

test('half-close: a client done sending still gets the whole answer, in both ports', async (t) => {
  const r = await startRouter(t, redis);
  const echo = await startTcpBackend(t, true);
  await r.addRoute('echo.example.test', { addr: '127.0.0.1', httpport: echo.port, tlsport: echo.port });
  const hello = await captureClientHello({ servername: 'echo.example.test' });
  for (const [port, head] of [[r.http, Buffer.from('PUT /x HTTP/1.1\r\nHost: echo.example.test\r\n\r\n')], [r.tls, hello]] as const) {
    const payload = Buffer.concat([head, BIG.subarray(0, 2 * 1024 * 1024)]);
    const s = await openSocket(t, port);
    const done = closed(s, 20_000);
    s.end(payload); // FIN right after the last byte: the router must not cut the way back
    const got = await done;
    assert.notEqual(got, 'open');
    assert.equal(createHash('sha256').update(got as Buffer).digest('hex'), createHash('sha256').update(payload).digest('hex'));
  }
  await waitFor(async () => (await r.status()).connectionsOpen === 0, 'both connections closed once both sides are done');
});

test('lookup order: static before store before catch-all', async (t) => {
  const [st, sto, catchAll] = [await backendPair(t, 'static'), await backendPair(t, 'store'), await backendPair(t, 'catch-all')];
  const r = await startRouter(t, redis, {
    routes: { 'Both.Example.Test': { addr: '127.0.0.1', httpPort: st.httpport, tlsPort: st.tlsport } },
    catchAll: { addr: '127.0.0.1', httpPort: catchAll.httpport, tlsPort: catchAll.tlsport },
  });
  // The static route hides this one from lookups; the next route, applied after it, shows it arrived.
  await r.store.redis.set(tcprouterKey('both.example.test'), encodeService('both.example.test', { addr: '127.0.0.1', ...sto, clientsecret: '' }));
  await r.addRoute('store.example.test', { addr: '127.0.0.1', ...sto });
  for (const scheme of ['http', 'https'] as const) {
    const port = scheme === 'http' ? r.http : r.tls;
    assert.equal((await curl(port, scheme, 'both.example.test', '/who')).stdout, 'static', scheme);
    assert.equal((await curl(port, scheme, 'store.example.test', '/who')).stdout, 'store', scheme);
    assert.equal((await curl(port, scheme, 'other.example.test', '/who')).stdout, 'catch-all', scheme);
  }
  // No name at all (HTTP/1.0 without Host, a ClientHello without SNI): only the catch-all can take it.
  assert.equal((await run('curl', ['-sS', '-0', '-H', 'Host:', `http://127.0.0.1:${r.http}/who`])).stdout, 'catch-all');
  assert.equal(await opensslSees(r.tls, undefined), 'handshake');
  assert.deepEqual((await r.status()).routes, { static: 1, store: 2, catchAll: true, tunnel: 0, malformed: 0 });
});

test('unknown names: 404 on HTTP, a plain close on TLS; tunnel routes without a session and dead backends: 502 / close', async (t) => {
  const r = await startRouter(t, redis);
  const code = async (name: string): Promise<string> => (await curl(r.http, 'http', name, '/', ['-o', '/dev/null', '-w', '%{http_code}'])).stdout;
  assert.equal(await code('nobody.example.test'), '404');
  assert.equal((await curl(r.http, 'http', 'nobody.example.test', '/')).stdout, '404 Not Found\n');
  assert.equal(await opensslSees(r.tls, 'nobody.example.test'), 'closed');
  assert.equal(await opensslSees(r.tls, undefined), 'closed', 'no SNI and no catch-all');
  await r.addRoute('tunnel.example.test', { addr: '', clientsecret: 'f00ba4' });
  assert.equal(await code('tunnel.example.test'), '502');
  assert.equal(await opensslSees(r.tls, 'tunnel.example.test'), 'closed');
  const dead = await freePort();
  await r.addRoute('dead.example.test', { addr: '127.0.0.1', httpport: dead, tlsport: dead });
  assert.equal(await code('dead.example.test'), '502');
  assert.equal(await opensslSees(r.tls, 'dead.example.test'), 'closed');
  const s = await r.status();
  assert.equal(s.tunnel.sessions, 0, 'no tunnel client has connected: the tunnel route gets 502 / a close');
  assert.deepEqual(r.router.lookup('Tunnel.Example.Test.'), { source: 'store', addr: '', httpPort: 80, tlsPort: 443, tunnel: true });
  assert.deepEqual(
    [s.ports.http.unknown, s.ports.http.tunnelWithoutSession, s.ports.http.backendErrors, s.ports.http.routed],
    [2, 1, 1, 0],
  );
  assert.deepEqual([s.ports.tls.unknown, s.ports.tls.tunnelWithoutSession, s.ports.tls.backendErrors, s.ports.tls.routed], [2, 1, 1, 0]);
});

test('stop closes the listeners and live connections; stop twice is safe; status says not routing', async (t) => {
  const r = await startRouter(t, redis);
  const idle = await openSocket(t, r.tls);
  const done = closed(idle);
  await waitFor(async () => (await r.status()).connectionsOpen === 1, 'the connection is held');
  await r.service.stop();
  assert.notEqual(await done, 'open');
  assert.deepEqual(await r.status(), { routing: false });
  assert.deepEqual(r.service.capabilities(), {});
  await r.service.stop();
  const refused = await run('curl', ['-sS', '-H', 'Host: a.test', `http://127.0.0.1:${r.http}/`]);
  assert.notEqual(refused.code, 0, 'nothing listens any more');
});

test('a listener that cannot bind fails the start with ERR_TCPROUTER_LISTEN and leaves nothing open', async (t) => {
  const dir = await tempDir(t);
  const { instance: storeInstance } = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${redis.port}` }, { dataDir: dir, after: (fn) => void t.after(fn) });
  const store = storeInstance.capabilities!().store!;
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const busy = (taken.address() as { port: number }).port;
  const http = await freePort();
  const instance = plugin.create(fakeContext(plugin, { listen: { http: `127.0.0.1:${http}`, tls: `127.0.0.1:${busy}`, clients: '127.0.0.1:0' } }, { dataDir: dir, capabilities: { store } }));
  t.after(() => instance.stop());
  assert.equal(await codeOf(instance.start()), 'ERR_TCPROUTER_LISTEN');
  assert.deepEqual(await instance.status!(), { routing: false });
  // The HTTP listener opened before the failure was closed again: the port is free.
  const again = createServer();
  await new Promise<void>((resolve, reject) => again.once('error', reject).listen(http, '127.0.0.1', resolve));
  again.close();
});
