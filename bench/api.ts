/// <reference lib="dom" />
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import puppeteer from 'puppeteer-core';
import { RpcClient, ZONE_CHANGE_STREAM, generateKeyPair, toHex } from '@plexus/core';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir, trackProcessGroup, untrackProcessGroup } from './lib/cleanup.js';
import { PlexusProcess, plexusId } from './lib/plexus-node.js';
import { freePort } from './lib/ports.js';
import { percentile, round, sortedCopy } from './lib/stats.js';
import { formatTable } from './lib/table.js';

/**
 * The api plugin on a real explorer node (store, phonebook, gateway, dns, api) holding N names:
 *  (1) `/metrics` scrape time, beside a bare node:http server handing out the same bytes (what
 *      HTTP alone costs, so the ratio is the price of collecting the metrics);
 *  (2) name lookups `GET /api/v1/names/{name}` open-loop at R req/s, p50/p99 from the scheduled
 *      send time (no coordinated omission), beside the same rate of (a) a bare node:http server
 *      answering a constant (the HTTP floor on this machine) and (b) the two redis commands the
 *      phonebook's lookup runs, GET name→tid then HGETALL, over ioredis (the data floor);
 *  (3) the dashboard in headless Chromium: time from a registration's acknowledgement (the signed
 *      RPC answered) to its row in the page, by a MutationObserver stamping the row's arrival;
 *  (4) record events on a zone of --records records: a gateway-style change (the field and its
 *      change-stream entry in one transaction, as the gateway's script writes them) to its
 *      `record` event on `/events`, beside an ioredis HGETALL of the whole zone hash in the same
 *      run (what each change cost at least while the api followed keyspace events).
 * The names are written straight into the store with pipelined commands in the phonebook's layout
 * (filling 100k through signed RPCs would measure the phonebook, not the api). Never fails on a number.
 */
const USAGE = `usage: node bench/dist/api.js [--names N] [--records M] [--rate R] [--seconds S] [--scrapes K] [--dashboard K] [--json]
  --names N      names in the store (default 100000)
  --records M    records in the zone for the record-event run (default 100000)
  --rate R       lookups per second, open loop (default 500)
  --seconds S    seconds per lookup run (default 10)
  --scrapes K    /metrics scrapes (default 50)
  --dashboard K  registrations timed in the dashboard (default 10; 0 skips the browser)
  --json         results as JSON on stdout; the tables go to stderr
`;
const CHROMIUM = process.env.PLEXUS_CHROMIUM ?? '/usr/bin/chromium';
const progress = (line: string): void => void process.stderr.write(`# ${line}\n`);

interface Latency {
  p50: number;
  p99: number;
  max: number;
  errors: number;
  count: number;
}

function summary(ms: number[], errors: number): Latency {
  const s = sortedCopy(ms);
  return { p50: round(percentile(s, 50), 3), p99: round(percentile(s, 99), 3), max: round(s[s.length - 1] ?? NaN, 3), errors, count: ms.length };
}

const agent = new Agent({ keepAlive: true, maxSockets: 128 });

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Calls `op` R times a second for S seconds on a fixed schedule; latency counted from each
 * scheduled start. One uncounted second first: the first calls of a path compile code and open
 * connections, which is start-up, not the steady state the aim is about.
 */
async function openLoop(rate: number, seconds: number, op: (i: number) => Promise<boolean>): Promise<Latency> {
  await runSchedule(rate, 1, op);
  return runSchedule(rate, seconds, op);
}

async function runSchedule(rate: number, seconds: number, op: (i: number) => Promise<boolean>): Promise<Latency> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const ms: number[] = [];
  let errors = 0;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const scheduled = start + i * interval;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // Late: counted from the schedule (no coordinated omission). Early by under the 1 ms not slept:
    // counted from the send, or a fast answer would come out negative.
    const from = Math.min(scheduled, performance.now());
    pending.push(
      op(i).then(
        (ok) => {
          if (ok) ms.push(performance.now() - from);
          else errors++;
        },
        () => void errors++,
      ),
    );
  }
  await Promise.all(pending);
  return summary(ms, errors);
}

/** A bare node:http server in its own process answering `body` to every request; resolves with its port. */
async function constantServer(body: string, contentType: string): Promise<{ port: number; stop(): void }> {
  const port = await freePort();
  const code = `require('node:http').createServer((q, s) => { s.writeHead(200, {'content-type': ${JSON.stringify(contentType)}}); s.end(${JSON.stringify(body)}); }).listen(${port}, '127.0.0.1', () => console.log('up'))`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  trackProcessGroup(child.pid!);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`reference server exited (${c})`)));
  });
  return {
    port,
    stop() {
      untrackProcessGroup(child.pid!);
      child.kill('SIGKILL');
    },
  };
}

/** Writes `n` names in the phonebook's layout (phonebook:user:<tid>, :name:, :tids, :tree), pipelined. */
interface SseEvent {
  type: string;
  data: Record<string, unknown>;
}

/** An `/events` client: `next(pred)` resolves with the first event from now on that `pred` takes. */
async function eventStream(url: string): Promise<{ next(pred: (e: SseEvent) => boolean): Promise<SseEvent>; close(): void }> {
  const waiters = new Set<{ pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }>();
  const req = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => request(url, (res) => resolve(res)).on('error', reject).end());
  let buf = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    buf += chunk;
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const type = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (type === undefined || data === undefined) continue;
      const e = { type, data: JSON.parse(data) as Record<string, unknown> };
      for (const w of waiters) if (w.pred(e)) {
        waiters.delete(w);
        w.resolve(e);
      }
    }
  });
  return {
    next: (pred) => new Promise((resolve) => waiters.add({ pred, resolve })),
    close: () => req.destroy(),
  };
}

async function fill(redis: Redis, n: number): Promise<void> {
  const now = Date.now();
  for (let from = 1; from <= n; from += 5000) {
    const p = redis.pipeline();
    for (let tid = from; tid < Math.min(from + 5000, n + 1); tid++) {
      const name = `name-${tid}`;
      p.hset(`phonebook:user:${tid}`, { tid, name, email: `${name}@example.org`, pubkey: toHex(randomBytes(32)), wallet_name: '', ipaddr: '10.2.0.5', description: '', created: now, updated: now });
      p.set(`phonebook:name:${name}`, tid);
      p.zadd('phonebook:tids', tid, tid);
      p.zadd('phonebook:tree', 0, name);
    }
    await p.exec();
  }
  await redis.set('phonebook:seq', n);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { names: { type: 'string' }, records: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, scrapes: { type: 'string' }, dashboard: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help) usageError(USAGE);
  const names = positiveNumber('--names', values.names, 100_000);
  const records = positiveNumber('--records', values.records, 100_000);
  const rate = positiveNumber('--rate', values.rate, 500);
  const seconds = positiveNumber('--seconds', values.seconds, 10);
  const scrapes = positiveNumber('--scrapes', values.scrapes, 50);
  const dashboardRuns = values.dashboard === '0' ? 0 : positiveNumber('--dashboard', values.dashboard, 10);
  installCleanup();
  const dir = await makeTempDir('plexus-bench-api-');
  const [p2p, redisPort, dnsPort, apiPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const file = join(dir, 'explorer.yaml');
  await writeFile(
    file,
    `node:
  name: bench-api
  dataDir: ${join(dir, 'data')}
  listen: [/ip4/127.0.0.1/tcp/${p2p}]
  log: { level: info }
  rpc: { rateLimit: { perSecond: 0, burst: 1, perHostPerSecond: 0 } }
  p2p: { allow: [/ip4/127.0.0.0/ipcidr/8] }
plugins:
  store: { port: ${redisPort}, fsync: everysec }
  phonebook: {}
  gateway: { zones: [gateway.tf], publicIps: [127.0.0.1] }
  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [gateway.tf] }
  api: { listen: '127.0.0.1:${apiPort}', limits: { maxPerIp: 1024 } }
`,
  );
  const base = `http://127.0.0.1:${apiPort}`;
  progress(`starting the node; then ${names.toLocaleString('en-US')} names into its store`);
  const node = await PlexusProcess.start(file, { logLevel: 'info' });
  const password = (await readFile(join(dir, 'data/store/redis.password'), 'utf8')).trim();
  const redis = new Redis({ port: redisPort, password, lazyConnect: true });
  await redis.connect();
  try {
    let t0 = performance.now();
    await fill(redis, names);
    const fillSeconds = (performance.now() - t0) / 1000;
    // The api's event hub reads every new key once (keyspace notifications): wait until it has.
    t0 = performance.now();
    for (;;) {
      const status = JSON.parse((await get(`${base}/api/v1/status`)).body) as { plugins: { api: { eventsSent: number } } };
      if (status.plugins.api.eventsSent >= names) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    progress(`filled in ${round(fillSeconds, 1)} s; the api saw every name ${round((performance.now() - t0) / 1000, 1)} s later`);

    // (1) /metrics
    const scrapeMs: number[] = [];
    let text = '';
    for (let i = 0; i < scrapes; i++) {
      const t = performance.now();
      const r = await get(`${base}/metrics`);
      scrapeMs.push(performance.now() - t);
      text = r.body;
    }
    const metricsRef = await constantServer(text, 'text/plain; version=0.0.4');
    const refMs: number[] = [];
    for (let i = 0; i < scrapes; i++) {
      const t = performance.now();
      await get(`http://127.0.0.1:${metricsRef.port}/metrics`);
      refMs.push(performance.now() - t);
    }
    metricsRef.stop();
    const scrape = summary(scrapeMs, 0);
    const scrapeRef = summary(refMs, 0);

    // (2) lookups at R/s
    const pick = (i: number): number => 1 + ((i * 7919) % names);
    progress(`lookups: ${rate}/s for ${seconds} s through the api, a constant node:http server, and ioredis`);
    // prom-client resets its event-loop delay histogram at each scrape: the next one covers the run.
    await get(`${base}/metrics`);
    const apiLookups = await openLoop(rate, seconds, async (i) => (await get(`${base}/api/v1/names/name-${pick(i)}`)).status === 200);
    const lag = /^plexus_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec((await get(`${base}/metrics`)).body);
    const loopLagMaxMs = lag === null ? NaN : round(Number(lag[1]) * 1000, 1);
    const constant = await constantServer(JSON.stringify({ tid: 1, name: 'name-1', email: 'name-1@example.org', pubkey: '00'.repeat(32), ipaddr: '10.2.0.5' }), 'application/json');
    const httpFloor = await openLoop(rate, seconds, async () => (await get(`http://127.0.0.1:${constant.port}/`)).status === 200);
    constant.stop();
    const redisFloor = await openLoop(rate, seconds, async (i) => {
      const tid = await redis.get(`phonebook:name:name-${pick(i)}`);
      return tid !== null && (await redis.hgetall(`phonebook:user:${tid}`)).tid === tid;
    });

    // (3) the dashboard
    let dashboard: Latency | undefined;
    if (dashboardRuns > 0) {
      progress(`dashboard: ${dashboardRuns} registrations timed in headless chromium`);
      const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
      try {
        const page = await browser.newPage();
        await page.goto(`${base}/`);
        await page.waitForFunction(() => document.getElementById('live')?.textContent === 'live', { timeout: 30_000 });
        // Stamps each new name row with the wall clock when it is inserted.
        await page.evaluate(() => {
          const seen: Record<string, number> = ((window as unknown as { seen: Record<string, number> }).seen = {});
          new MutationObserver((records) => {
            for (const r of records) r.addedNodes.forEach((n) => { if (n instanceof HTMLElement && n.dataset.name !== undefined) seen[n.dataset.name] ??= Date.now(); });
          }).observe(document.getElementById('names')!, { childList: true });
        });
        const { multiaddrs } = await plexusId(file);
        const ms: number[] = [];
        for (let i = 0; i < dashboardRuns; i++) {
          const key = generateKeyPair();
          const rpc = await RpcClient.connect(multiaddrs[0]!, { key, timeoutMs: 10_000 });
          const name = `dash-${i}-${toHex(randomBytes(3))}`;
          await rpc.call('/plexus/phonebook/1', 'name_register', { name, email: `${name}@example.org`, pubkey: toHex(key.publicKey) }, { signed: true });
          const acked = Date.now();
          await rpc.close();
          const shown = await page.waitForFunction((n: string) => (window as unknown as { seen: Record<string, number> }).seen[n], { timeout: 10_000 }, name);
          ms.push(((await shown.jsonValue()) as number) - acked);
        }
        dashboard = summary(ms, 0);
      } finally {
        await browser.close();
      }
    }

    // (4) record events on a big zone
    progress(`record events: ${records.toLocaleString('en-US')} records written as the gateway writes them, then 20 changes timed to /events`);
    const zoneKey = 'gateway.tf.';
    const A = (ip: string): string => JSON.stringify({ a: [{ ip, ttl: 300 }] });
    const sentBefore = JSON.parse((await get(`${base}/api/v1/status`)).body).plugins.api.eventsSent as number;
    for (let from = 0; from < records; from += 5000) {
      const p = redis.pipeline();
      for (let i = from; i < Math.min(from + 5000, records); i++) p.hset(zoneKey, `r${i}`, A('10.3.0.1')).xadd(ZONE_CHANGE_STREAM, 'MAXLEN', '~', 100_000, '*', 'k', zoneKey, 'f', `r${i}`);
      await p.exec();
    }
    for (;;) {
      const status = JSON.parse((await get(`${base}/api/v1/status`)).body) as { plugins: { api: { eventsSent: number } } };
      if (status.plugins.api.eventsSent >= sentBefore + records) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const events = await eventStream(`${base}/events`);
    await get(`${base}/metrics`);
    const eventMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const field = `c${i}`;
      const t = performance.now();
      const seen = events.next((e) => e.type === 'record' && e.data.name === field);
      await redis.multi().hset(zoneKey, field, A(`10.4.0.${i + 1}`)).xadd(ZONE_CHANGE_STREAM, 'MAXLEN', '~', 100_000, '*', 'k', zoneKey, 'f', field).exec();
      await seen;
      eventMs.push(performance.now() - t);
    }
    events.close();
    const recordLag = /^plexus_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec((await get(`${base}/metrics`)).body);
    const recordLoopLagMaxMs = recordLag === null ? NaN : round(Number(recordLag[1]) * 1000, 1);
    const hgetallMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await redis.hgetall(zoneKey);
      hgetallMs.push(performance.now() - t);
    }
    const recordEvents = summary(eventMs, 0);
    const wholeZone = summary(hgetallMs, 0);

    const ratio = (a: number, b: number): string => (b > 0 ? `${round(a / b, a / b < 0.1 ? 3 : 1)}x` : '-');
    const table = formatTable(
      ['measure', 'plexus p50 ms', 'plexus p99 ms', 'reference', 'ref p50 ms', 'ref p99 ms', 'p99 ratio'],
      [
        [`/metrics scrape (${names.toLocaleString('en-US')} names, ${Math.round(text.length / 1024)} KiB)`, scrape.p50, scrape.p99, 'node:http, same bytes', scrapeRef.p50, scrapeRef.p99, ratio(scrape.p99, scrapeRef.p99)],
        [`GET /api/v1/names/{name} @ ${rate}/s`, apiLookups.p50, apiLookups.p99, 'node:http constant', httpFloor.p50, httpFloor.p99, ratio(apiLookups.p99, httpFloor.p99)],
        [`  (same run)`, apiLookups.p50, apiLookups.p99, 'ioredis GET+HGETALL', redisFloor.p50, redisFloor.p99, ratio(apiLookups.p99, redisFloor.p99)],
        ...(dashboard === undefined ? [] : [[`dashboard: registration acked → row shown`, dashboard.p50, dashboard.p99, '-', NaN, NaN, '-'] as (string | number)[]]),
        [`zone change → /events record (${records.toLocaleString('en-US')} records)`, recordEvents.p50, recordEvents.p99, 'ioredis HGETALL of the zone', wholeZone.p50, wholeZone.p99, ratio(recordEvents.p99, wholeZone.p99)],
      ],
    );
    process.stderr.write(`\n${table}\nerrors: api ${apiLookups.errors}, http ${httpFloor.errors}, redis ${redisFloor.errors}; the node's longest event-loop stall during the api run: ${loopLagMaxMs} ms, during the record changes: ${recordLoopLagMaxMs} ms; aims: scrape < 20 ms, lookup p99 < 10 ms, dashboard < 500 ms\n`);
    if (values.json) process.stdout.write(`${JSON.stringify({ names, rate, seconds, loopLagMaxMs, scrape, scrapeRef, apiLookups, httpFloor, redisFloor, dashboard, metricsBytes: text.length, records, recordEvents, wholeZone, recordLoopLagMaxMs })}\n`);
  } finally {
    redis.disconnect();
    await node.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/api: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
