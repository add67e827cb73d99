import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { encodeService, tcprouterKey } from '@plexus/core';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir, trackProcessGroup, untrackProcessGroup } from './lib/cleanup.js';
import { startHaproxy } from './lib/haproxy.js';
import { PLEXUS_BIN, PlexusProcess } from './lib/plexus-node.js';
import { freePort } from './lib/ports.js';
import { cpuSeconds, memoryMb } from './lib/proc.js';
import { requestLoop, type LoadResult } from './lib/router-load.js';
import { formatTable } from './lib/table.js';

/**
 * The tcprouter beside HAProxy (same run, same backend, same clients) and beside no router at all:
 *  (a) one big TLS transfer routed by SNI (curl, MB/s); (b) new TLS connections per second, a
 *  request on each; (c) HTTP requests per second routed by Host, a new connection each. The router
 *  is a real `plexus start` node (store + tcprouter) reading its route from its store; HAProxy runs
 *  in `mode tcp` with `tcp-request inspect-delay`, `req.ssl_sni` and `req.hdr(host)`. Never fails on
 *  a number.
 */
const NAME = 'www.bench.test';
const USAGE = `usage: node bench/dist/tcprouter.js [--seconds S] [--mib N] [--concurrency C] [--haproxy-threads T] [--json]
  --seconds S          measured seconds per rate run (default 5; 1 s of warm-up before each)
  --mib N              size of the big TLS transfer in MiB (default 2048)
  --concurrency C      closed-loop clients for the rate runs (default 16)
  --haproxy-threads T  HAProxy nbthread (default 1: one thread, like the router's one JS thread)
  --json               results as JSON on stdout; the tables go to stderr
`;
const STORE_PASSWORD = 'bench-store-password';
const run = promisify(execFile);

interface Target {
  label: string;
  tls: number;
  http: number;
  /** Process whose CPU is measured (the router); undefined for "direct". */
  pid: number | undefined;
}

async function makeCert(dir: string): Promise<{ keyFile: string; certFile: string }> {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${NAME}`, '-addext', `subjectAltName=DNS:${NAME}`, '-keyout', keyFile, '-out', certFile]);
  return { keyFile, certFile };
}

/** The backend process (bench/lib/router-backend.ts): HTTP and HTTPS ports. */
async function startBackend(keyFile: string, certFile: string): Promise<{ http: number; https: number; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./lib/router-backend.js', import.meta.url)), keyFile, certFile], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  trackProcessGroup(child.pid!);
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`backend exited (${code})`)));
  });
  const ports = JSON.parse(line) as { http: number; https: number };
  return { ...ports, pid: child.pid!, stop: () => (process.kill(-child.pid!, 'SIGTERM'), untrackProcessGroup(child.pid!)) };
}

/** The router: a plexus node with its own store and the tcprouter; the route is written into the store. */
async function startRouter(dir: string, backend: { http: number; https: number }): Promise<{ node: PlexusProcess; http: number; tls: number }> {
  const [redisPort, p2p, http, tls] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const cfg = join(dir, 'router.yaml');
  await writeFile(
    cfg,
    `node:\n  name: bench-router\n  dataDir: ${join(dir, 'router')}\n  listen: [/ip4/127.0.0.1/tcp/${p2p}]\n  log: { level: info }\nplugins:\n  store: { port: ${redisPort}, fsync: everysec, password: ${STORE_PASSWORD} }\n  tcprouter:\n    listen: { http: '127.0.0.1:${http}', tls: '127.0.0.1:${tls}' }\n    limits: { maxConnections: 8192, maxPerIp: 8192 }\n`,
  );
  const node = await PlexusProcess.start(cfg, { logLevel: 'info' });
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, password: STORE_PASSWORD });
  try {
    await redis.set(tcprouterKey(NAME), encodeService(NAME, { addr: '127.0.0.1', httpport: backend.http, tlsport: backend.https, clientsecret: '' }));
  } finally {
    redis.disconnect();
  }
  // The route reaches the router through the store watch: wait until a request is routed.
  const deadline = Date.now() + 30_000;
  while ((await requestLoop('http', { port: http, name: NAME }, 1, 0.05)).completed === 0) {
    if (Date.now() > deadline) throw new Error(`the router did not route ${NAME} within 30 s\n${node.tail}`);
  }
  return { node, http, tls };
}

/** One big download through `port` with curl (real SNI via --resolve): MB/s, as curl measured it. */
async function bigTransfer(port: number, mib: number, certFile: string): Promise<{ mbPerSecond: number; seconds: number; bytes: number }> {
  const { stdout } = await run('curl', ['-sS', '--fail', '--max-time', '300', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', '--resolve', `${NAME}:${port}:127.0.0.1`, '--cacert', certFile, `https://${NAME}:${port}/big?mib=${mib}`], { timeout: 310_000 });
  const [bytes, seconds] = stdout.trim().split(' ').map(Number) as [number, number];
  if (bytes !== mib * 1024 * 1024) throw new Error(`curl got ${bytes} bytes instead of ${mib} MiB`);
  return { mbPerSecond: bytes / 1e6 / seconds, seconds, bytes };
}

/** Runs `fn` for each target in turn, with the router process's CPU (% of one core) over the run. */
async function each<T>(targets: Target[], fn: (t: Target) => Promise<T>): Promise<Record<string, T & { cpuPct?: number }>> {
  const out: Record<string, T & { cpuPct?: number }> = {};
  for (const t of targets) {
    const cpu0 = t.pid === undefined ? Number.NaN : cpuSeconds(t.pid);
    const t0 = performance.now();
    const r = await fn(t);
    const busy = t.pid === undefined ? Number.NaN : cpuSeconds(t.pid) - cpu0;
    out[t.label] = { ...r, ...(t.pid === undefined ? {} : { cpuPct: (busy / ((performance.now() - t0) / 1000)) * 100 }) };
  }
  return out;
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { seconds: { type: 'string' }, mib: { type: 'string' }, concurrency: { type: 'string' }, 'haproxy-threads': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (v.help === true) return void process.stdout.write(USAGE);
  installCleanup();
  const seconds = positiveNumber('seconds', v.seconds, 5);
  const mib = Math.round(positiveNumber('mib', v.mib, 2048));
  const concurrency = Math.round(positiveNumber('concurrency', v.concurrency, 16));
  const threads = Math.round(positiveNumber('haproxy-threads', v['haproxy-threads'], 1));
  const dir = await makeTempDir('plexus-bench-tcprouter-');
  const { keyFile, certFile } = await makeCert(dir);
  const ca = await readFile(certFile);
  const backend = await startBackend(keyFile, certFile);
  const router = await startRouter(dir, backend);
  const haproxy = await startHaproxy(dir, { name: NAME, tlsBackend: backend.https, httpBackend: backend.http, threads });
  const targets: Target[] = [
    { label: 'direct', tls: backend.https, http: backend.http, pid: undefined },
    { label: 'plexus', tls: router.tls, http: router.http, pid: router.node.pid },
    { label: 'haproxy', tls: haproxy.tls, http: haproxy.http, pid: haproxy.pid },
  ];
  try {
    const rss: Record<string, number | undefined> = { idle: memoryMb(router.node.pid)?.rss };
    const transfer = await each(targets, (t) => bigTransfer(t.tls, mib, certFile));
    rss.afterTransfer = memoryMb(router.node.pid)?.rss;
    const rate = (kind: 'tls' | 'http') => each(targets, async (t): Promise<LoadResult> => {
      await requestLoop(kind, { port: t[kind], name: NAME, ca }, concurrency, 1); // warm-up, not measured
      return requestLoop(kind, { port: t[kind], name: NAME, ca }, concurrency, seconds);
    });
    const tlsRate = await rate('tls');
    rss.afterTls = memoryMb(router.node.pid)?.rss;
    const httpRate = await rate('http');
    rss.afterHttp = memoryMb(router.node.pid)?.rss;
    rss.peak = memoryMb(router.node.pid)?.hwm;
    // The router's own view: every connection closed again (a leak would show here), and its counters.
    const { stdout } = await run(PLEXUS_BIN, ['status', '--config', router.node.configFile, '--json'], { timeout: 30_000 });
    const status = (JSON.parse(stdout) as { plugins?: { tcprouter?: Record<string, unknown> } }).plugins?.tcprouter;
    const out = { date: new Date().toISOString(), name: NAME, mib, seconds, concurrency, haproxy: { version: haproxy.version, threads }, transfer, tlsConnections: tlsRate, httpRequests: httpRate, routerRssMb: rss, routerStatus: status };
    report(out, v.json === true);
  } finally {
    await haproxy.stop();
    await router.node.stop();
    backend.stop();
  }
}

/** Results per target (`direct`, `plexus`, `haproxy`). */
type Row = Record<string, object>;

function report(out: { mib: number; seconds: number; concurrency: number; haproxy: { version: string; threads: number }; transfer: Row; tlsConnections: Row; httpRequests: Row; routerRssMb: Record<string, number | undefined>; routerStatus: Record<string, unknown> | undefined }, json: boolean): void {
  const get = (r: Row, target: string, key: string): unknown => (r[target] as Record<string, unknown> | undefined)?.[key];
  const f = (n: unknown, d = 0): string => (typeof n !== 'number' || !Number.isFinite(n) ? '-' : n.toFixed(d));
  const ratio = (r: Row, key: string, a: string, b: string): string => f((get(r, a, key) as number) / (get(r, b, key) as number), 2);
  const line = (what: string, r: Row, key: string): string[] => [what, f(get(r, 'direct', key)), f(get(r, 'plexus', key)), f(get(r, 'haproxy', key)), ratio(r, key, 'plexus', 'haproxy'), ratio(r, key, 'plexus', 'direct')];
  const lat = (r: Row, t: string): string => `${f(get(r, t, 'p50Ms'), 2)}/${f(get(r, t, 'p99Ms'), 2)}`;
  const cpu = (r: Row): string => `${f(get(r, 'plexus', 'cpuPct'))} / ${f(get(r, 'haproxy', 'cpuPct'))}`;
  const errs = (r: Row): string =>
    Object.keys(r)
      .filter((k) => (get(r, k, 'errors') as number) > 0)
      .map((k) => `${k}: ${get(r, k, 'errors') as number} (${get(r, k, 'firstError') as string})`)
      .join('; ');
  const text = [
    `tcprouter vs HAProxy ${out.haproxy.version} (mode tcp, ${out.haproxy.threads} thread${out.haproxy.threads === 1 ? '' : 's'}) vs direct, loopback; client, backend and router share the machine's cores`,
    formatTable(['measure', 'direct', 'plexus', 'haproxy', 'plexus/haproxy', 'plexus/direct'], [
      line(`TLS by SNI, one ${out.mib} MiB transfer (curl), MB/s`, out.transfer, 'mbPerSecond'),
      line(`new TLS connections/s, a request each (c=${out.concurrency}, ${out.seconds} s)`, out.tlsConnections, 'perSecond'),
      line(`HTTP by Host, requests/s, a new connection each (c=${out.concurrency}, ${out.seconds} s)`, out.httpRequests, 'perSecond'),
    ]),
    `router CPU, % of one core (plexus / haproxy): transfer ${cpu(out.transfer)}, TLS connections ${cpu(out.tlsConnections)}, HTTP ${cpu(out.httpRequests)}`,
    `latency p50/p99 ms (direct, plexus, haproxy): TLS connections ${['direct', 'plexus', 'haproxy'].map((t) => lat(out.tlsConnections, t)).join(', ')}; HTTP ${['direct', 'plexus', 'haproxy'].map((t) => lat(out.httpRequests, t)).join(', ')}`,
    `router node RSS (MB): idle ${f(out.routerRssMb.idle)}, after the transfer ${f(out.routerRssMb.afterTransfer)}, after the TLS run ${f(out.routerRssMb.afterTls)}, after the HTTP run ${f(out.routerRssMb.afterHttp)}, peak ${f(out.routerRssMb.peak)}`,
    `router status after the runs: connectionsOpen ${String(out.routerStatus?.connectionsOpen)}, ports ${JSON.stringify(Object.fromEntries(Object.entries((out.routerStatus?.ports ?? {}) as Record<string, Record<string, unknown>>).map(([k, p]) => [k, { routed: p.routed, backendErrors: p.backendErrors, limits: p.limits }])))}`,
    ...[errs(out.tlsConnections), errs(out.httpRequests)].filter((e) => e !== '').map((e) => `errors: ${e}`),
  ].join('\n');
  if (json) {
    process.stderr.write(`${text}\n`);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else process.stdout.write(`${text}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench tcprouter: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
