import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { encodeService, silentLogger, tcprouterKey, type Logger, type StoreCapability, type TcpService } from '@plexus/core';
import { startPlugin, type RedisServer } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { plugin, type RouterCapability, type TcprouterService } from '../src/index.js';

/** Shared by the router's test files: real processes (curl, openssl), real sockets, real store. */

export async function tempDir(t: TestContext | { after(fn: () => Promise<void>): void }, prefix = 'plexus-tcprouter-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  return dir;
}

/** Runs a program to completion; never throws on a non-zero exit (the test asserts the code). */
export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
      if (e !== null && e.code === 'ENOENT') return reject(new Error(`${cmd} is not installed (bash scripts/setup.sh --test installs it)`));
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, stdout, stderr });
    });
  });
}

/** Polls `cond` until it holds; fails naming `what` after `timeoutMs`. For conditions with no event to wait on. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A self-signed certificate made with `openssl req`, valid for `*.test` names and `localhost`. */
export async function makeCert(dir: string): Promise<{ key: Buffer; cert: Buffer; certFile: string }> {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const r = await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=plexus tcprouter test', '-addext', 'subjectAltName=DNS:*.example.test,DNS:*.alice.test,DNS:localhost',
    '-keyout', keyFile, '-out', certFile,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile };
}

/** 10 MiB of random bytes, and its hash: the payload that must cross the router untouched. */
export const BIG = randomBytes(10 * 1024 * 1024);
export const BIG_SHA256 = createHash('sha256').update(BIG).digest('hex');

/**
 * A backend (HTTP, or HTTPS when given a certificate): `GET /who` → its id; `POST /upload` → the
 * sha256 of the body; `GET /download` → BIG.
 */
export async function startBackend(t: TestContext, id: string, tls?: { key: Buffer; cert: Buffer }): Promise<number> {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url === '/upload') {
      const h = createHash('sha256');
      req.on('data', (d: Buffer) => h.update(d));
      req.on('end', () => res.end(h.digest('hex')));
      return;
    }
    if (req.url === '/download') return void res.end(BIG);
    res.end(id);
  };
  const server = tls === undefined ? createHttpServer(handler) : createHttpsServer({ key: tls.key, cert: tls.cert }, handler);
  return listen(t, server);
}

/**
 * A raw TCP backend that records what it received and keeps every connection open; with `echo`,
 * it sends everything back and closes its side once the client has closed its own (half-close).
 */
export async function startTcpBackend(t: TestContext, echo = false): Promise<{ port: number; sockets: Socket[]; received: () => Buffer }> {
  const sockets: Socket[] = [];
  const chunks: Buffer[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    if (echo) s.pipe(s);
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
  });
  return { port: await listen(t, server), sockets, received: () => Buffer.concat(chunks) };
}

async function listen(t: TestContext, server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  }));
  return (server.address() as { port: number }).port;
}

/** The bytes a real TLS client sends first (its ClientHello), captured by a plain TCP server. */
export async function captureClientHello(options: ConnectionOptions): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (s) => {
        let b = Buffer.alloc(0);
        s.on('data', (d: Buffer) => {
          b = Buffer.concat([b, d]);
          // One handshake record, whole: what node and openssl send for a ClientHello.
          if (b.length >= 5 && b.length >= 5 + b.readUInt16BE(3)) {
            s.destroy();
            resolve(b);
          }
        });
      });
      const c = tlsConnect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, rejectUnauthorized: false, ...options });
      c.on('error', () => undefined);
      c.on('close', () => setImmediate(() => reject(new Error('the client closed before sending a whole ClientHello'))));
    });
  } finally {
    server.close();
  }
}

/** Connects a plain TCP socket (optionally from another loopback address). */
export function openSocket(t: TestContext, port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ...(localAddress === undefined ? {} : { localAddress }) }, () => resolve(s));
    s.on('error', reject);
    t.after(() => void s.destroy());
  });
}

/** Resolves with everything the peer sent once it closes, or with `'open'` if it has not closed after `timeoutMs`. */
export function closed(s: Socket, timeoutMs = 10_000): Promise<Buffer | 'open'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => resolve('open'), timeoutMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** VmRSS of this process in MiB. */
export function rssMb(): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1]) / 1024;
}

export interface RouterUnderTest {
  store: StoreCapability;
  service: TcprouterService;
  router: RouterCapability;
  http: number;
  tls: number;
  /** The clients port (tunnel sessions). */
  clients: number;
  /** Writes a route into the store, as the gateway does, and waits until the router has it. */
  addRoute(fqdn: string, service: Partial<TcpService>): Promise<void>;
  removeRoute(fqdn: string): Promise<void>;
  status(): Promise<any>;
}

/** A real store (the store plugin on `redis`, emptied) and the router on free loopback ports; both stopped when `t` ends. */
export async function startRouter(t: TestContext, redis: RedisServer, config: Record<string, unknown> = {}, log: Logger = silentLogger()): Promise<RouterUnderTest> {
  const dir = await tempDir(t);
  const cleanup = (fn: () => Promise<void>): void => void t.after(fn);
  const { instance: storeInstance } = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${redis.port}` }, { dataDir: dir, after: cleanup });
  const store = storeInstance.capabilities?.().store;
  assert.ok(store !== undefined);
  await store.redis.flushdb();
  const { instance } = await startPlugin(plugin, { listen: { http: '127.0.0.1:0', tls: '127.0.0.1:0', clients: '127.0.0.1:0' }, ...config }, { dataDir: dir, capabilities: { store }, after: cleanup, log });
  const router = instance.capabilities?.().router;
  assert.ok(router !== undefined);
  const { http, tls, clients } = router.addresses();
  const full = (s: Partial<TcpService>): TcpService => ({ addr: '', tlsport: 443, httpport: 80, clientsecret: '', ...s });
  return {
    store,
    service: instance as TcprouterService,
    router,
    http: http!.port,
    tls: tls!.port,
    clients: clients!.port,
    async addRoute(fqdn, s) {
      const want = full(s);
      await store.redis.set(tcprouterKey(fqdn), encodeService(fqdn, want));
      await waitFor(() => {
        const r = router.lookup(fqdn);
        return r?.source === 'store' && r.httpPort === want.httpport && r.tlsPort === want.tlsport && r.tunnel === (want.clientsecret !== '');
      }, `the route of ${fqdn}`);
    },
    async removeRoute(fqdn) {
      await store.redis.del(tcprouterKey(fqdn));
      await waitFor(() => router.lookup(fqdn)?.source !== 'store', `${fqdn} removed`);
    },
    status: () => instance.status!(),
  };
}
