import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { access, copyFile, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { NodeProcess, PLEXUS, ROOT, explorerConfig, freePort, killAllNodes, removeDir, runCli, tempDir } from './lib/harness.js';

/**
 * Interoperability of our yamux tunnel (COMPAT §3) with the real hashicorp/yamux: a small Go peer
 * (test/fixtures/yamux-peer/main.go, built here offline against Debian's
 * golang-github-hashicorp-yamux-dev) is the tunnel client (`trc`) of our tcprouter, then the
 * router our `plexus tunnel` client connects to. 100 MiB each way on one connection, then 50
 * concurrent connections (plain and TLS, the 0x16 dispatch to -local-tls), every byte sha256-checked
 * on the receiving side. Both Go ends ping every second, so our keep-alive answers are exercised
 * under load (hashicorp drops a session whose ping is unanswered for 10 s).
 */

const exec = promisify(execFile);

const ZONE = 'threebot.gateway.tf';
const PUBLIC_IP = '203.0.113.1';
const MiB = 1024 * 1024;
/** The big transfer, each way on one connection: more than 100 MB. */
const BIG = 100 * MiB;
const CONCURRENT = 50;
/** Every third concurrent connection is TLS. */
const isTls = (i: number): boolean => i % 3 === 0;
/** A few MB each way, different per connection (deterministic, no randomness in what is asserted). */
const sizeOf = (i: number, dir: number): number => 2 * MiB + ((i * 7919 + dir * 104729) % (2 * MiB));
/** Half-close order of each concurrent connection: every order on plain and on TLS connections. */
const orderOf = (i: number): Order => (['together', 'upload-first', 'download-first'] as const)[Math.floor(i / 3) % 3]!;
const CHUNK = 64 * 1024;
const YAMUX_SRC = '/usr/share/gocode/src/github.com/hashicorp/yamux';
const PEER_SRC = join(ROOT, 'test/fixtures/yamux-peer/main.go');
/** Go's yamux keep-alive period in the peer: pings flow during every transfer. */
const KEEPALIVE = '1s';
/** Our router's ping period towards the Go client: hashicorp answers our pings during the test too. */
const ROUTER_PING_MS = 500;

// ---------------------------------------------------------------------------------------------
// Building the Go peer (once per file, offline, GOPATH mode)

/**
 * Builds the peer in `dir`: Debian's hashicorp/yamux copied into a GOPATH, `Stream.Read` patched to
 * keep delivering data after a local half-close (like libp2p/go-yamux v1.2.4 in the original
 * tcprouter, ENVIRONMENT.md), main.go beside it, `go build` with modules off.
 */
async function buildPeer(dir: string): Promise<string> {
  try {
    await access(join(YAMUX_SRC, 'stream.go'));
  } catch {
    throw new Error(`${YAMUX_SRC} is missing: apt-get install -y golang-go golang-github-hashicorp-yamux-dev (scripts/setup.sh --test does)`);
  }
  const gopath = join(dir, 'gopath');
  const lib = join(gopath, 'src/github.com/hashicorp/yamux');
  await cp(YAMUX_SRC, lib, { recursive: true, dereference: true });
  const streamGo = join(lib, 'stream.go');
  const src = await readFile(streamGo, 'utf8');
  const localCloseEof = /\tcase streamLocalClose:\n\t\tfallthrough\n(\tcase streamRemoteClose:\n)/g;
  const matches = src.match(localCloseEof)?.length ?? 0;
  assert.equal(matches, 1, `expected one 'case streamLocalClose: fallthrough' before 'case streamRemoteClose:' (Stream.Read) in ${YAMUX_SRC}/stream.go; the package changed`);
  await writeFile(streamGo, src.replace(localCloseEof, '$1'));
  await mkdir(join(gopath, 'src/yamuxpeer'), { recursive: true });
  await copyFile(PEER_SRC, join(gopath, 'src/yamuxpeer/main.go'));
  const bin = join(dir, 'yamux-peer');
  const env = { ...process.env, GO111MODULE: 'off', GOPATH: gopath, GOCACHE: join(dir, 'gocache'), GOFLAGS: '', GOTOOLCHAIN: 'local', CGO_ENABLED: '0' };
  try {
    await exec('go', ['build', '-o', bin, 'yamuxpeer'], { env, cwd: gopath, timeout: 120_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('`go` not found: apt-get install -y golang-go golang-github-hashicorp-yamux-dev (scripts/setup.sh --test does)');
    throw new Error(`go build of the yamux peer failed: ${e.message}\n${e.stderr ?? ''}`);
  }
  return bin;
}

// ---------------------------------------------------------------------------------------------
// Child processes (the Go peer, `plexus tunnel`): output collected, waited on by condition

const CHILDREN = new Set<Child>();

class Child {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
    env: Record<string, string> = {},
  ) {
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.proc.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      this.notify();
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 200_000) this.stderr = this.stderr.slice(-100_000);
      this.notify();
    });
    this.exited = new Promise((res) => {
      this.proc.on('error', (err) => {
        this.stderr += `spawn error: ${err.message}\n`;
        res({ code: -1, signal: null });
        this.notify();
      });
      this.proc.on('exit', (code, signal) => {
        res({ code, signal });
        this.notify();
      });
    });
    CHILDREN.add(this);
  }

  private notify(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  lines(): string[] {
    return this.stdout.split('\n').map((l) => l.trim());
  }

  describe(): string {
    return `--- ${this.name} (pid ${this.proc.pid}, ${this.running ? 'running' : `exit ${this.proc.exitCode ?? this.proc.signalCode}`}) stdout:\n${this.stdout.slice(-2000)}\n--- stderr:\n${this.stderr.slice(-4000)}`;
  }

  /** Resolves once `pred` holds on the output; rejects at the deadline, or on exit unless `orExit`. */
  async waitFor(pred: (c: Child) => boolean, what: string, timeoutMs = 20_000, orExit = false): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pred(this)) return;
      if (!this.running && !orExit) throw new Error(`${this.name} exited before ${what}\n${this.describe()}`);
      if (!this.running) return;
      if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.add(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  async waitLine(line: string, timeoutMs = 20_000): Promise<void> {
    await this.waitFor((c) => c.lines().includes(line), `'${line}' on stdout`, timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.running) this.proc.kill('SIGKILL');
    await this.exited;
    CHILDREN.delete(this);
  }
}

/** hashicorp/yamux's own `[ERR]` lines (protocol errors, SYN tracking out of sync, window exceeded...). */
function yamuxComplaints(c: Child): string[] {
  return c.stderr.split('\n').filter((l) => l.includes('[ERR]'));
}

async function killAllChildren(): Promise<void> {
  await Promise.all([...CHILDREN].map((c) => c.stop()));
}

/** Polls an async condition until it holds (a condition with a deadline, never a bare sleep). */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100, explain: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${String(last)})`}\n${explain()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function withDeadline<T>(p: Promise<T>, ms: number, what: string | (() => string), onTimeout: () => void = () => {}): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => {
      onTimeout();
      rej(new Error(`${typeof what === 'string' ? what : what()}: not done within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Streaming random payloads, hashed incrementally on both ends

interface Tally {
  bytes: number;
  sha256: string;
}

class Counter {
  private readonly h = createHash('sha256');
  bytes = 0;
  add(b: Buffer): void {
    this.h.update(b);
    this.bytes += b.length;
  }
  done(): Tally {
    return { bytes: this.bytes, sha256: this.h.digest('hex') };
  }
}

function drained(s: Duplex): Promise<void> {
  if (s.destroyed) return Promise.reject(new Error('socket destroyed while sending'));
  return new Promise((res, rej) => {
    const done = (err?: Error): void => {
      s.off('drain', ok);
      s.off('close', closed);
      s.off('error', done);
      if (err === undefined) res();
      else rej(err);
    };
    const ok = (): void => done();
    const closed = (): void => done(new Error('socket closed while sending'));
    s.on('drain', ok);
    s.on('close', closed);
    s.on('error', done);
  });
}

/** Writes `size` fresh random bytes with backpressure (one chunk held at a time), then ends. */
async function sendRandom(s: Duplex, size: number, c: Counter): Promise<void> {
  let left = size;
  while (left > 0) {
    const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(CHUNK, left)));
    left -= chunk.length;
    c.add(chunk);
    if (!s.write(chunk)) await drained(s);
  }
  s.end();
}

/** Hashes everything until the peer's FIN; rejects on an error or a close without FIN. */
function receiveAll(s: Duplex, c: Counter, onData?: (d: Buffer) => void): Promise<void> {
  return new Promise((res, rej) => {
    let ended = false;
    s.on('data', (d: Buffer) => {
      c.add(d);
      onData?.(d);
    });
    s.once('end', () => {
      ended = true;
      res();
    });
    s.once('error', rej);
    s.once('close', () => {
      if (!ended) rej(new Error(`connection closed without FIN after ${c.bytes} bytes received`));
    });
  });
}

interface ServerRecord {
  /** What the local server received (the head included) and sent. */
  recv: Tally;
  sent: Tally;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // awaited by the test, or irrelevant: never an unhandled rejection
  return { promise, resolve, reject };
}

/**
 * Who sends when, so that both half-close orders are exercised whatever the timing:
 * `together` both at once; `upload-first` the server answers only after the client's FIN (a
 * request, then its response); `download-first` the client sends its payload only after the
 * server's FIN.
 */
type Order = 'together' | 'upload-first' | 'download-first';

/**
 * A local service behind the tunnel. Protocol of every connection: the client sends
 * `GET /<id>/<n>/<order> HTTP/1.1\r\nHost: ...\r\n\r\n` and then random bytes until its FIN;
 * the server answers `n` random bytes and its FIN (at once, or after the client's FIN with
 * `upload-first`), and records both hashes under `id`.
 */
class LocalServer {
  readonly results = new Map<string, Deferred<ServerRecord>>();
  readonly errors: string[] = [];
  private readonly sockets = new Set<Duplex>();
  private constructor(
    readonly kind: 'plain' | 'tls',
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(kind: 'plain' | 'tls', cert?: { key: string; cert: string }): Promise<LocalServer> {
    let self: LocalServer | undefined;
    const handler = (s: Duplex): void => self!.handle(s);
    const server = kind === 'plain' ? net.createServer({ allowHalfOpen: true }, handler) : tls.createServer({ ...cert!, allowHalfOpen: true }, handler);
    server.on('tlsClientError', (err: Error) => self?.errors.push(`tls: ${err.message}`));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    self = new LocalServer(kind, server, (server.address() as net.AddressInfo).port);
    return self;
  }

  result(id: string): Promise<ServerRecord> {
    let d = this.results.get(id);
    if (d === undefined) this.results.set(id, (d = deferred()));
    return d.promise;
  }

  private settle(id: string): Deferred<ServerRecord> {
    this.result(id);
    return this.results.get(id)!;
  }

  private handle(s: Duplex): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    const recv = new Counter();
    const sent = new Counter();
    let head = '';
    let id: string | undefined;
    let sending: Promise<void> | undefined;
    let size = 0;
    const received = receiveAll(s, recv, (d) => {
      if (id !== undefined) return;
      head += d.toString('latin1', 0, Math.min(d.length, 512));
      const m = /^GET \/([\w-]+)\/(\d+)\/(together|upload-first|download-first) HTTP\/1\.1\r\n/.exec(head);
      if (m !== null) {
        id = m[1]!;
        size = Number(m[2]);
        if (m[3] !== 'upload-first') {
          sending = sendRandom(s, size, sent);
          sending.catch(() => {});
        }
      } else if (head.includes('\r\n') || head.length >= 512) {
        this.errors.push(`${this.kind}: not a test request: ${JSON.stringify(head.slice(0, 80))}`);
        s.destroy();
      }
    });
    received
      .then(async () => {
        if (id === undefined) throw new Error('FIN before the request line');
        await (sending ?? sendRandom(s, size, sent)); // upload-first: the answer follows the client's FIN
        this.settle(id).resolve({ recv: recv.done(), sent: sent.done() });
      })
      .catch((err: Error) => {
        if (id === undefined) this.errors.push(`${this.kind}: ${err.message}`);
        else this.settle(id).reject(new Error(`local ${this.kind} server, connection ${id}: ${err.message}`));
      });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

interface Flow {
  id: string;
  kind: 'plain' | 'tls';
  /** Bytes of the request head, sent before the payload. */
  head: number;
  /** What the client sent (the head included) and received. */
  up: Tally;
  down: Tally;
}

/**
 * One connection through the tunnel: plain TCP (the head is the request the router routes by) or
 * TLS with SNI `servername` (the ClientHello is what the router and the tunnel client dispatch by).
 */
async function exchange(o: { id: string; port: number; host: string; tls: boolean; upload: number; download: number; order: Order; timeoutMs: number }): Promise<Flow> {
  const s: net.Socket = o.tls
    ? // allowHalfOpen is honoured by tls.connect (passed to the TLSSocket) but missing from its types.
      tls.connect({ host: '127.0.0.1', port: o.port, servername: o.host, rejectUnauthorized: false, allowHalfOpen: true } as tls.ConnectionOptions)
    : net.connect({ host: '127.0.0.1', port: o.port, allowHalfOpen: true });
  const up = new Counter();
  const down = new Counter();
  const run = async (): Promise<Flow> => {
    await once(s, o.tls ? 'secureConnect' : 'connect');
    const received = receiveAll(s, down);
    const head = Buffer.from(`GET /${o.id}/${o.download}/${o.order} HTTP/1.1\r\nHost: ${o.host}\r\n\r\n`);
    up.add(head);
    s.write(head);
    if (o.order === 'download-first') {
      await received;
      await sendRandom(s, o.upload, up);
    } else {
      await Promise.all([sendRandom(s, o.upload, up), received]);
    }
    return { id: o.id, kind: o.tls ? 'tls' : 'plain', head: head.length, up: up.done(), down: down.done() };
  };
  try {
    return await withDeadline(run(), o.timeoutMs, () => `connection ${o.id} (${o.tls ? 'tls' : 'plain'}; sent ${up.bytes}, received ${down.bytes})`, () => s.destroy());
  } finally {
    s.destroy();
  }
}

/** The receiving side of each direction saw exactly what the other side sent. */
async function verify(flow: Flow, server: LocalServer, upload: number, download: number): Promise<void> {
  const rec = await withDeadline(server.result(flow.id), 10_000, `local ${server.kind} server record of ${flow.id}`);
  assert.equal(flow.up.bytes, flow.head + upload, `${flow.id}: bytes the client sent (head + payload)`);
  assert.equal(rec.recv.bytes, flow.up.bytes, `${flow.id}: bytes the ${server.kind} backend received`);
  assert.equal(rec.recv.sha256, flow.up.sha256, `${flow.id}: sha256 of what the ${server.kind} backend received`);
  assert.equal(rec.sent.bytes, download, `${flow.id}: bytes the backend sent`);
  assert.equal(flow.down.bytes, download, `${flow.id}: bytes the client received`);
  assert.equal(flow.down.sha256, rec.sent.sha256, `${flow.id}: sha256 of what the client received`);
}

/** 50 connections at once, every third TLS; all hash-checked, the TLS ones on the TLS backend. */
async function concurrentRound(prefix: string, ports: { plain: number; tls: number }, host: string, plain: LocalServer, tlsLocal: LocalServer): Promise<void> {
  plain.errors.length = 0;
  tlsLocal.errors.length = 0;
  const backendErrors = (): string => {
    const all = [...plain.errors, ...tlsLocal.errors];
    return `${all.length} backend errors${all.length === 0 ? '' : `, the first: ${JSON.stringify(all.slice(0, 3))}`}`;
  };
  const flows = await Promise.allSettled(
    Array.from({ length: CONCURRENT }, (_, i) =>
      exchange({ id: `${prefix}-${i}`, port: isTls(i) ? ports.tls : ports.plain, host, tls: isTls(i), upload: sizeOf(i, 0), download: sizeOf(i, 1), order: orderOf(i), timeoutMs: 60_000 }),
    ),
  );
  const failed = flows.flatMap((f, i) => (f.status === 'rejected' ? [`#${i}${isTls(i) ? ' (tls)' : ''}: ${(f.reason as Error).message.split('\n')[0]}`] : []));
  assert.equal(failed.length, 0, `${failed.length} of ${CONCURRENT} connections failed: ${failed.slice(0, 5).join('; ')}; ${backendErrors()}`);
  for (const [i, f] of flows.entries()) {
    const flow = (f as PromiseFulfilledResult<Flow>).value;
    await verify(flow, isTls(i) ? tlsLocal : plain, sizeOf(i, 0), sizeOf(i, 1));
    assert.equal((isTls(i) ? plain : tlsLocal).results.has(flow.id), false, `${flow.id} reached only the ${isTls(i) ? 'TLS' : 'plain'} backend`);
  }
  assert.equal(plain.errors.length + tlsLocal.errors.length, 0, `no connection reached the wrong backend: ${backendErrors()}`);
}

async function selfSignedCert(dir: string, cn: string): Promise<{ key: string; cert: string }> {
  const keyFile = join(dir, 'local.key');
  const certFile = join(dir, 'local.crt');
  try {
    await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', keyFile, '-out', certFile], { timeout: 20_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('`openssl` not found: apt-get install -y openssl (scripts/setup.sh --test does)');
    throw err;
  }
  return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
}

// ---------------------------------------------------------------------------------------------

describe('yamux interop with hashicorp/yamux (Go peer)', () => {
  let dir: string;
  let peer: string;
  let cert: { key: string; cert: string };
  let plain: LocalServer;
  let tlsLocal: LocalServer;

  before(async () => {
    dir = await tempDir('plexus-yamux-interop-');
    peer = await buildPeer(dir);
    cert = await selfSignedCert(dir, `app.${ZONE}`);
    plain = await LocalServer.start('plain');
    tlsLocal = await LocalServer.start('tls', cert);
  });

  after(async () => {
    await killAllChildren();
    await killAllNodes();
    await plain?.close();
    await tlsLocal?.close();
    await removeDir(dir);
  });

  describe('Go tunnel client (trc) → our tcprouter', () => {
    const NAME = 'gotunnel';
    const HOST = `${NAME}.${ZONE}`;
    const SECRET = 'interop-secret-1f0c9a';
    let node: NodeProcess;
    let file: string;
    const ports = { http: 0, tls: 0, clients: 0 };
    let goClient: Child;

    const routerStatus = async (): Promise<Record<string, any>> => {
      const r = await runCli(['status', '--config', file, '--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      return r.json.plugins.tcprouter as Record<string, any>;
    };

    before(async () => {
      ports.http = await freePort();
      ports.tls = await freePort();
      ports.clients = await freePort();
      const sub = join(dir, 'router');
      await mkdir(sub);
      ({ file } = await explorerConfig(
        sub,
        `  gateway: { zones: [${ZONE}], publicIps: [${PUBLIC_IP}] }
  tcprouter:
    listen: { http: '127.0.0.1:${ports.http}', tls: '127.0.0.1:${ports.tls}', clients: '127.0.0.1:${ports.clients}' }
    tunnel: { pingIntervalMs: ${ROUTER_PING_MS} }
`,
      ));
      node = await NodeProcess.start(file);
      const cli = async (args: string[]): Promise<void> => {
        const r = await runCli([...args, '--key', join(sub, 'owner.key'), '--explorer', node.multiaddr, '--json']);
        assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}\n--- node:\n${node.stderr.slice(-3000)}`);
      };
      await cli(['phonebook', 'register', '--name', NAME, '--email', `${NAME}@example.org`]);
      await cli(['gateway', 'expose', '--name', NAME, '--client-secret', SECRET]);
      await until('the tunnel route in the router', async () => ((await routerStatus()).routes?.tunnel >= 1 ? true : undefined), 20_000, 100, () => node.stderr.slice(-3000));
      goClient = new Child('go client', peer, ['client', '-remote', `127.0.0.1:${ports.clients}`, '-secret', SECRET, '-local', `127.0.0.1:${plain.port}`, '-local-tls', `127.0.0.1:${tlsLocal.port}`, '-keepalive', KEEPALIVE]);
      await goClient.waitLine('READY');
      await until('the session in the router status', async () => ((await routerStatus()).tunnel?.sessions >= 1 ? true : undefined), 20_000, 100, () => `${goClient.describe()}\n--- node:\n${node.stderr.slice(-3000)}`);
    });

    test(`${BIG / MiB} MiB each way on one HTTP connection, sha256-checked`, { timeout: 90_000 }, async () => {
      const flow = await exchange({ id: 'go-client-big', port: ports.http, host: HOST, tls: false, upload: BIG, download: BIG, order: 'together', timeoutMs: 80_000 }).catch((err: Error) => {
        throw new Error(`${err.message}\n${goClient.describe()}\n--- node:\n${node.stderr.slice(-3000)}`);
      });
      await verify(flow, plain, BIG, BIG);
      assert.ok(goClient.running, goClient.describe());
    });

    test(`${CONCURRENT} concurrent connections, HTTP and TLS (SNI → tunnel → 0x16 → -local-tls), sha256-checked`, { timeout: 90_000 }, async () => {
      await concurrentRound('go-client', { plain: ports.http, tls: ports.tls }, HOST, plain, tlsLocal).catch((err: Error) => {
        throw new Error(`${err.message}\n${goClient.describe()}\n--- node:\n${node.stderr.slice(-3000)}`);
      });
      assert.ok(goClient.running, `the Go client's session survived (keep-alive every ${KEEPALIVE})\n${goClient.describe()}`);
      assert.deepEqual(yamuxComplaints(goClient), [], `hashicorp/yamux logged no error\n${goClient.describe()}`);
      const st = await routerStatus();
      assert.equal(st.tunnel.sessions, 1, JSON.stringify(st.tunnel));
      assert.equal(st.tunnel.counters.pingTimeouts, 0, JSON.stringify(st.tunnel));
      // hashicorp answered our pings (every ROUTER_PING_MS): the session has a measured round trip.
      assert.equal(typeof st.tunnel.secrets[0].rttMs[0], 'number', JSON.stringify(st.tunnel));
    });

    test('a Go client with a secret no route has is refused: the router ends its session', { timeout: 30_000 }, async () => {
      const rejectedBefore = (await routerStatus()).tunnel.counters.rejected.unknownSecret as number;
      const stranger = new Child('go client (unknown secret)', peer, ['client', '-remote', `127.0.0.1:${ports.clients}`, '-secret', 'no-route-has-this-secret', '-local', `127.0.0.1:${plain.port}`]);
      await stranger.waitFor((c) => c.lines().some((l) => l.startsWith('SESSION-END')), 'the router to end the session (SESSION-END)', 20_000);
      const { code } = await stranger.exited;
      assert.equal(code, 3, stranger.describe());
      const st = await routerStatus();
      assert.equal(st.tunnel.counters.rejected.unknownSecret, rejectedBefore + 1, JSON.stringify(st.tunnel));
      // The legitimate session is untouched.
      assert.ok(goClient.running, goClient.describe());
      assert.equal(st.tunnel.sessions, 1, JSON.stringify(st.tunnel));
    });
  });

  describe('our tunnel client (plexus tunnel) → Go router', () => {
    const SECRET = 'interop-secret-7be21d';
    const ports = { clients: 0, public: 0 };
    let goRouter: Child;
    let client: Child;
    let clientDir: string;

    before(async () => {
      ports.clients = await freePort();
      ports.public = await freePort();
      clientDir = join(dir, 'tunnel-client');
      await mkdir(clientDir);
      goRouter = new Child('go router', peer, ['router', '-clients', `127.0.0.1:${ports.clients}`, '-public', `127.0.0.1:${ports.public}`, '-secret', SECRET, '-keepalive', KEEPALIVE]);
      await goRouter.waitLine('READY');
      client = new Child(
        'plexus tunnel',
        process.execPath,
        [PLEXUS, 'tunnel', '--remote', `127.0.0.1:${ports.clients}`, '--local', `127.0.0.1:${plain.port}`, '--local-tls', `127.0.0.1:${tlsLocal.port}`, '--data-dir', clientDir],
        { PLEXUS_TUNNEL_SECRET: SECRET },
      );
      await goRouter.waitFor((c) => c.lines().includes('SESSION'), 'SESSION on the Go router', 20_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${client.describe()}`);
      });
    });

    test(`${BIG / MiB} MiB each way on one connection, sha256-checked`, { timeout: 90_000 }, async () => {
      const flow = await exchange({ id: 'go-router-big', port: ports.public, host: 'app.example.org', tls: false, upload: BIG, download: BIG, order: 'together', timeoutMs: 80_000 }).catch((err: Error) => {
        throw new Error(`${err.message}\n${goRouter.describe()}\n${client.describe()}`);
      });
      await verify(flow, plain, BIG, BIG);
      assert.ok(client.running, client.describe());
    });

    test(`${CONCURRENT} concurrent connections, some TLS (first byte 0x16 → --local-tls), sha256-checked`, { timeout: 90_000 }, async () => {
      await concurrentRound('go-router', { plain: ports.public, tls: ports.public }, 'app.example.org', plain, tlsLocal).catch((err: Error) => {
        throw new Error(`${err.message}\n${goRouter.describe()}\n${client.describe()}`);
      });
      assert.ok(goRouter.running, goRouter.describe());
      assert.deepEqual(yamuxComplaints(goRouter), [], `hashicorp/yamux logged no error\n${goRouter.describe()}`);
      assert.ok(!goRouter.lines().some((l) => l.startsWith('SESSION-END')), `the session survived (keep-alive every ${KEEPALIVE})\n${goRouter.describe()}`);
      assert.ok(client.running, client.describe());
      const st = await runCli(['tunnel', 'status', '--json', '--data-dir', clientDir]);
      assert.equal(st.code, 0, st.stdout + st.stderr);
      const remotes = st.json.remotes as { remote: string; state: string; reconnects: number; streamsTotal: number }[];
      assert.equal(remotes.length, 1, JSON.stringify(remotes));
      assert.equal(remotes[0]!.state, 'up', JSON.stringify(remotes));
      assert.equal(remotes[0]!.reconnects, 0, `one session all along: ${JSON.stringify(remotes)}`);
      assert.ok(remotes[0]!.streamsTotal >= CONCURRENT + 1, JSON.stringify(remotes));
    });

    test('a wrong secret is refused by the Go router', { timeout: 30_000 }, async () => {
      const cl = await freePort();
      const pub = await freePort();
      const strict = new Child('go router (other secret)', peer, ['router', '-clients', `127.0.0.1:${cl}`, '-public', `127.0.0.1:${pub}`, '-secret', 'not-the-clients-secret']);
      await strict.waitLine('READY');
      const sub = join(dir, 'tunnel-client-wrong');
      await mkdir(sub);
      const wrong = new Child('plexus tunnel (wrong secret)', process.execPath, [PLEXUS, 'tunnel', '--remote', `127.0.0.1:${cl}`, '--secret', SECRET, '--local', `127.0.0.1:${plain.port}`, '--data-dir', sub]);
      await strict.waitFor((c) => !c.running, 'the Go router to refuse the handshake and exit', 20_000, true);
      assert.ok(strict.lines().includes('BAD-SECRET'), strict.describe());
      assert.equal((await strict.exited).code, 4, strict.describe());
      assert.ok(strict.stderr.includes(`wrong secret "${SECRET}"`), strict.describe());
      // Our client saw its session end and redials (with backoff).
      await until(
        'the refused client to redial',
        async () => {
          const st = await runCli(['tunnel', 'status', '--json', '--data-dir', sub]);
          const r = (st.json?.remotes as { state: string; reconnects: number }[] | undefined)?.[0];
          return r !== undefined && r.reconnects >= 1 && r.state !== 'up' ? r : undefined;
        },
        15_000,
        100,
        () => wrong.describe(),
      );
      await wrong.stop();
    });
  });
});
