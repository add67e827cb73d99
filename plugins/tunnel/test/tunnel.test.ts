import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { encodeService, freePort, silentLogger, tcprouterKey, type StoreCapability } from '@plexus/core';
import { fakeContext, startPlugin, startRedis, type RedisServer } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { plugin as routerPlugin } from '@plexus/plugin-tcprouter';
import { plugin, TunnelConfigSchema } from '../src/index.js';

/**
 * The tunnel client against the real router plugin (a real store on redis-server underneath),
 * with curl as the visitor and real HTTP/HTTPS servers as the local services.
 */

let redis: RedisServer;
let dir: string;
let certFile: string;
let tlsKey: Buffer;
let tlsCert: Buffer;

before(async () => {
  redis = await startRedis({ tmpPrefix: 'plexus-tunnel-redis-' });
  dir = await mkdtemp(join(tmpdir(), 'plexus-tunnel-'));
  certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=plexus tunnel test', '-addext', 'subjectAltName=DNS:*.alice.test', '-keyout', keyFile, '-out', certFile]);
  tlsKey = await readFile(keyFile);
  tlsCert = await readFile(certFile);
  await startStore();
});
after(async () => {
  for (const fn of stopStore) await fn();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code) || 1, stdout, stderr }));
  });
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let store: StoreCapability | undefined;
const stopStore: (() => Promise<void>)[] = [];
async function startStore(): Promise<void> {
  const { instance } = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${redis.port}` }, { dataDir: dir, after: (fn) => void stopStore.push(fn) });
  store = instance.capabilities?.().store;
}

/** The store plugin on the shared redis (one for the whole file), emptied for each test. */
async function theStore(_t: TestContext): Promise<StoreCapability> {
  assert.ok(store !== undefined);
  await store.redis.flushdb();
  return store;
}

interface Router {
  http: number;
  tls: number;
  clients: number;
  status(): Promise<any>;
  stop(): Promise<void>;
}

/** The tcprouter plugin on the given (or free) loopback ports. */
async function startRouter(t: TestContext, s: StoreCapability, ports?: { http: number; tls: number; clients: number }): Promise<Router> {
  const p = ports ?? { http: await freePort(), tls: await freePort(), clients: await freePort() };
  const { instance } = await startPlugin(routerPlugin, { listen: { http: `127.0.0.1:${p.http}`, tls: `127.0.0.1:${p.tls}`, clients: `127.0.0.1:${p.clients}` } }, { dataDir: dir, capabilities: { store: s }, after: (fn) => void t.after(fn), log: silentLogger() });
  return { ...p, status: () => instance.status!(), stop: () => instance.stop() };
}

async function route(s: StoreCapability, fqdn: string, secret: string): Promise<void> {
  await s.redis.set(tcprouterKey(fqdn), encodeService(fqdn, { addr: '', httpport: 80, tlsport: 443, clientsecret: secret }));
}

/** HTTP and HTTPS local services answering `name`. */
async function services(t: TestContext, name: string): Promise<{ plain: number; tls: number }> {
  const plain = createHttpServer((_req, res) => res.end(`${name} over http`));
  const tls = createHttpsServer({ key: tlsKey, cert: tlsCert }, (_req, res) => res.end(`${name} over https`));
  return { plain: await listen(t, plain), tls: await listen(t, tls) };
}

async function listen(t: TestContext, server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  }));
  return (server.address() as { port: number }).port;
}

async function startTunnel(t: TestContext, raw: Record<string, unknown>) {
  const { instance } = await startPlugin(plugin, raw, { dataDir: dir, after: (fn) => void t.after(fn), log: silentLogger() });
  return { status: () => instance.status!() as Promise<any>, stop: () => instance.stop() };
}

const http = (port: number, host: string) => run('curl', ['-sS', '--max-time', '10', '-H', `Host: ${host}`, `http://127.0.0.1:${port}/`]);
const https = (port: number, host: string) => run('curl', ['-sS', '--max-time', '10', '--cacert', certFile, '--resolve', `${host}:${port}:127.0.0.1`, `https://${host}:${port}/`]);

test('config: every mistake names its key; the secret may come from the environment', () => {
  const bad: [string, Record<string, unknown>, string][] = [
    ['no remotes', { remotes: [], secret: 's', local: '127.0.0.1:80' }, 'remotes'],
    ['remote without port', { remotes: ['gw.example.org'], secret: 's', local: '127.0.0.1:80' }, 'remotes.0'],
    ['remote twice', { remotes: ['a:1', 'a:1'], secret: 's', local: '127.0.0.1:80' }, 'remotes.1'],
    ['no local', { remotes: ['a:1'], secret: 's' }, 'local'],
    ['secret and secretFile', { remotes: ['a:1'], secret: 's', secretFile: 'f', local: 'h:1' }, 'secretFile'],
    ['backoff cap below its start', { remotes: ['a:1'], secret: 's', local: 'h:1', backoff: { initialMs: 500, maxMs: 100 } }, 'backoff.maxMs'],
    ['unknown key', { remotes: ['a:1'], secret: 's', local: 'h:1', secrte: 'x' }, ''],
  ];
  for (const [name, raw, path] of bad) {
    const r = TunnelConfigSchema.safeParse(raw);
    assert.equal(r.success, false, name);
    assert.ok(r.error!.issues.some((i) => i.path.join('.') === path), `${name}: ${JSON.stringify(r.error!.issues)}`);
  }
  const before = process.env.PLEXUS_TUNNEL_SECRET;
  delete process.env.PLEXUS_TUNNEL_SECRET;
  try {
    const none = TunnelConfigSchema.safeParse({ remotes: ['a:1'], local: 'h:1' });
    assert.ok(!none.success && none.error.issues.some((i) => i.path.join('.') === 'secret'));
    process.env.PLEXUS_TUNNEL_SECRET = 'from-env';
    assert.ok(TunnelConfigSchema.safeParse({ remotes: ['a:1'], local: 'h:1' }).success);
  } finally {
    if (before === undefined) delete process.env.PLEXUS_TUNNEL_SECRET;
    else process.env.PLEXUS_TUNNEL_SECRET = before;
  }
  assert.throws(() => fakeContext(plugin, { remotes: ['x'], secret: 's', local: 'h:1' }), /plugins\.tunnel\.remotes\.0/);
});

test('one client, two routers: both sessions up; HTTP by Host and HTTPS by SNI through either reach the right local service', async (t) => {
  const s = await theStore(t);
  const r1 = await startRouter(t, s);
  const r2 = await startRouter(t, s);
  await route(s, 'www.alice.test', 'alice-secret');
  const local = await services(t, 'alice');
  const secretFile = join(dir, 'alice.secret');
  await writeFile(secretFile, 'alice-secret\n', { mode: 0o600 });
  const client = await startTunnel(t, { remotes: [`127.0.0.1:${r1.clients}`, `127.0.0.1:${r2.clients}`], secretFile, local: `127.0.0.1:${local.plain}`, localTls: `127.0.0.1:${local.tls}` });
  await waitFor(async () => (await r1.status()).tunnel.sessions === 1 && (await r2.status()).tunnel.sessions === 1, 'a session on each router');
  for (const r of [r1, r2]) {
    const h = await http(r.http, 'www.alice.test');
    assert.equal(h.stdout, 'alice over http', h.stderr);
    const hs = await https(r.tls, 'www.alice.test');
    assert.equal(hs.stdout, 'alice over https', hs.stderr);
  }
  const st = await client.status();
  assert.equal(st.up, 2);
  assert.deepEqual(st.remotes.map((x: any) => x.state), ['up', 'up']);
  assert.equal(st.remotes.reduce((a: number, x: any) => a + x.streamsTotal, 0), 4);
  assert.ok(st.remotes.every((x: any) => x.bytes.fromRouter > 0 && x.bytes.toRouter > 0));
});

test('a router restart: the client is back within 2 s of the router listening again, and counts the reconnect', async (t) => {
  const s = await theStore(t);
  const r = await startRouter(t, s);
  await route(s, 'www.bob.test', 'bob');
  const local = await services(t, 'bob');
  const client = await startTunnel(t, { remotes: [`127.0.0.1:${r.clients}`], secret: 'bob', local: `127.0.0.1:${local.plain}` });
  await waitFor(async () => (await r.status()).tunnel.sessions === 1, 'the session');
  await r.stop();
  await waitFor(async () => (await client.status()).remotes[0].state !== 'up', 'the client sees the router gone');
  // Down for a while, so the backoff has grown to its cap before the router comes back.
  await waitFor(async () => (await client.status()).remotes[0].failuresInARow >= 5, 'several failed redials');
  const again = await startRouter(t, s, { http: r.http, tls: r.tls, clients: r.clients });
  const listening = Date.now();
  await waitFor(async () => (await again.status()).tunnel.sessions === 1, 'the session back', 5_000);
  const took = Date.now() - listening;
  t.diagnostic(`tunnel back ${took} ms after the router listened again`);
  assert.ok(took < 2_000, `back after ${took} ms`);
  assert.equal((await http(again.http, 'www.bob.test')).stdout, 'bob over http');
  const st = (await client.status()).remotes[0];
  assert.equal(st.state, 'up');
  assert.ok(st.reconnects >= 5);
});

test('a secret no route has: the router refuses, the client says why and keeps retrying; a dead local service fails only that connection', async (t) => {
  const s = await theStore(t);
  const r = await startRouter(t, s);
  await route(s, 'www.carol.test', 'carol');
  const wrong = await startTunnel(t, { remotes: [`127.0.0.1:${r.clients}`], secret: 'not-carol', local: '127.0.0.1:9' });
  await waitFor(async () => (await r.status()).tunnel.counters.rejected.unknownSecret >= 2, 'refused twice (the client retries)');
  assert.match((await wrong.status()).remotes[0].lastError ?? '', /right after the handshake/, 'the reason stays readable while it redials');
  await wrong.stop();
  const dead = await freePort();
  const client = await startTunnel(t, { remotes: [`127.0.0.1:${r.clients}`], secret: 'carol', local: `127.0.0.1:${dead}` });
  await waitFor(async () => (await r.status()).tunnel.sessions === 1, 'the session');
  const res = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', '-H', 'Host: www.carol.test', `http://127.0.0.1:${r.http}/`]);
  assert.notEqual(res.stdout, '200');
  await waitFor(async () => (await client.status()).remotes[0].localErrors === 1, 'the local failure counted');
  assert.equal((await client.status()).remotes[0].state, 'up', 'the session survives a failed local connection');
  // The service comes up on that port: the next visitor gets through on the same session.
  const server = createServer((c) => c.resume().end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\ncarol'));
  await new Promise<void>((resolve) => server.listen(dead, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  assert.equal((await http(r.http, 'www.carol.test')).stdout, 'carol');
  assert.equal((await r.status()).tunnel.counters.sessionsUp, 1);
});
