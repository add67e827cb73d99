import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RpcClient, generateKeyPair, toHex } from '@plexus/core';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir, trackProcessGroup, untrackProcessGroup } from './lib/cleanup.js';
import { DnsPoller } from './lib/dns-query.js';
import { dnsperf, type DnsperfResult } from './lib/dnsperf.js';
import { PlexusProcess, plexusCli, plexusId } from './lib/plexus-node.js';
import { freePort } from './lib/ports.js';
import { memoryMb } from './lib/proc.js';
import { percentile } from './lib/stats.js';

/**
 * DNS benchmarks, printed beside the reference from the same run:
 *  (a) QPS and latency with dnsperf against our dns plugin and against knotd serving the same
 *      names from a zone file; (b) propagation from an acknowledged domain_register_a on the
 *      explorer to the new answer from a DNS node that reads a replica; (c) DNS node RSS with
 *      100,000 records; (d) per zone size of `--scale` (100k and 1M records): how long a
 *      hand-written bulk import takes to be in; a fixed-rate stream of registrations alone
 *      (propagation p50/p99, the node's longest event-loop delay and apply: what a change costs at
 *      that size), then under a fixed query rate (p50/p99/p99.9 and lost queries beside knotd);
 *      bytes per record. The node's peaks are reset between phases (`plexus dns reset-peaks`).
 *      Never fails on a number.
 */
const ZONE = 'gateway.tf';
const USAGE = 'usage: node bench/dist/dns.js [--names N] [--seconds S] [--changes N] [--scale N,N] [--rate CHANGES/S] [--qrate QPS] [--workers N,N] [--scale-workers N] [--json]\n';

function ipOf(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

async function queryFile(dir: string, names: number): Promise<string> {
  const file = join(dir, 'queries.txt');
  const lines: string[] = [];
  for (let i = 0; i < names; i++) lines.push(`n${i}.${ZONE} A`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

async function fill(redis: Redis, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 5000) {
    const p = redis.pipeline();
    for (let i = start; i < Math.min(to, start + 5000); i++) p.hset(`${ZONE}.`, `n${i}`, JSON.stringify({ a: [{ ip: ipOf(i), ttl: 300 }] }));
    await p.exec();
  }
}

async function startKnot(dir: string, names: number): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const kdir = join(dir, 'knot');
  await mkdir(join(kdir, 'run'), { recursive: true });
  const zone = [`$ORIGIN ${ZONE}.`, '$TTL 300', `@ SOA ns1.${ZONE}. hostmaster.${ZONE}. 1 86400 7200 3600 300`, '@ NS ns1', 'ns1 A 10.255.255.1'];
  for (let i = 0; i < names; i++) zone.push(`n${i} A ${ipOf(i)}`);
  await writeFile(join(kdir, `${ZONE}.zone`), `${zone.join('\n')}\n`);
  await writeFile(
    join(kdir, 'knot.conf'),
    `server:\n    rundir: "${kdir}/run"\n    listen: 127.0.0.1@${port}\ndatabase:\n    storage: "${kdir}"\nlog:\n  - target: stderr\n    any: warning\ntemplate:\n  - id: default\n    storage: "${kdir}"\n    journal-content: none\nzone:\n  - domain: ${ZONE}\n    file: "${ZONE}.zone"\n`,
  );
  const child = spawn('knotd', ['-c', join(kdir, 'knot.conf'), '-s', join(kdir, 'run/knot.sock')], { detached: true, stdio: ['ignore', 'ignore', 'inherit'] });
  child.once('error', (err) => {
    throw new Error(`knotd: ${err.message} (apt-get install knot)`);
  });
  trackProcessGroup(child.pid!);
  return { port, child };
}

async function waitAnswer(port: number, name: string, ip: string, deadlineMs = 60_000): Promise<void> {
  const poller = new DnsPoller('127.0.0.1', port);
  try {
    await poller.waitFor(name, ip, deadlineMs);
  } finally {
    poller.close();
  }
}

async function nodeConfig(dir: string, name: string, plugins: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, `node:\n  name: ${name}\n  dataDir: ${join(dir, name)}\n  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]\n  log: { level: info }\n  rpc: { rateLimit: { perSecond: 0, burst: 1, perHostPerSecond: 0 } }\n  p2p: { allow: [/ip4/127.0.0.0/ipcidr/8] }\nplugins:\n${plugins}`);
  return file;
}

/** Seconds of the change stream without query load at least (the DNS node re-reads its zones every 30 s). */
const QUIET_SECONDS = 35;

/** The bench writes records straight into the stores, so it sets their password itself. */
const STORE_PASSWORD = 'bench-store-password';

/** Saturated QPS of our node with each worker count of `workers`, and of knotd, on the same names in the same run. */
async function qpsSection(dir: string, names: number, seconds: number, workers: number[]): Promise<{ ours: { workers: number; result: DnsperfResult }[]; knot: DnsperfResult; rss: Record<string, number | undefined> }> {
  const knot = await startKnot(dir, names);
  const ours: { workers: number; result: DnsperfResult }[] = [];
  let rss: Record<string, number | undefined> = {};
  try {
    await waitAnswer(knot.port, `n${names - 1}.${ZONE}`, ipOf(names - 1));
    const file = await queryFile(dir, names);
    for (const w of workers) {
      const redisPort = await freePort();
      const dnsPort = await freePort();
      const cfg = await nodeConfig(dir, `dns-qps-${w}`, `  store: { port: ${redisPort}, fsync: everysec, password: ${STORE_PASSWORD} }\n  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [${ZONE}], workers: ${w} }\n`);
      const node = await PlexusProcess.start(cfg, { logLevel: 'info' });
      const redis = new Redis({ host: '127.0.0.1', port: redisPort, password: STORE_PASSWORD });
      try {
        const rssIdle = memoryMb(node.pid)?.rss;
        await fill(redis, 0, names);
        await waitAnswer(dnsPort, `n${names - 1}.${ZONE}`, ipOf(names - 1));
        ours.push({ workers: w, result: await dnsperf({ host: '127.0.0.1', port: dnsPort, queryFile: file, seconds }) });
        // RSS figures from the first (single-thread) node: the other counts hold one view per thread.
        if (ours.length === 1) {
          const rssAt = memoryMb(node.pid)?.rss;
          await fill(redis, names, 100_000);
          await waitAnswer(dnsPort, `n${99_999}.${ZONE}`, ipOf(99_999));
          rss = { idle: rssIdle, [`with ${names}`]: rssAt, 'with 100000': memoryMb(node.pid)?.rss, workers: w };
        }
      } finally {
        redis.disconnect();
        await node.stop();
      }
    }
    return { ours, knot: await dnsperf({ host: '127.0.0.1', port: knot.port, queryFile: file, seconds }), rss };
  } finally {
    process.kill(-knot.child.pid!, 'SIGTERM');
    untrackProcessGroup(knot.child.pid!);
  }
}

async function propagationSection(dir: string, changes: number): Promise<number[]> {
  const master = await freePort();
  const explorerCfg = await nodeConfig(dir, 'explorer', `  store: { port: ${master}, fsync: always, password: ${STORE_PASSWORD} }\n  phonebook: {}\n  gateway: { zones: [${ZONE}] }\n`);
  const dnsPort = await freePort();
  const dnsCfg = await nodeConfig(dir, 'dns1', `  store: { mode: replica, port: ${await freePort()}, replicaOf: { host: 127.0.0.1, port: ${master}, password: ${STORE_PASSWORD} } }\n  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [${ZONE}] }\n`);
  const explorer = await PlexusProcess.start(explorerCfg, { logLevel: 'info' });
  const dns = await PlexusProcess.start(dnsCfg, { logLevel: 'info' });
  const key = generateKeyPair();
  const { multiaddrs } = await plexusId(explorerCfg);
  const client = await RpcClient.connect(multiaddrs[0]!, { key });
  const poller = new DnsPoller('127.0.0.1', dnsPort);
  const times: number[] = [];
  try {
    await client.call('/plexus/phonebook/1', 'name_register', { name: 'bench', email: 'bench@example.org', pubkey: toHex(key.publicKey), wallet_name: '' }, { signed: true });
    for (let i = 0; i < changes; i++) {
      await client.call('/plexus/gateway/1', 'domain_register_a', { name: `p${i}.bench`, record_ip: [ipOf(i + 1)] }, { signed: true });
      times.push(await poller.waitFor(`p${i}.bench.${ZONE}`, ipOf(i + 1)));
    }
  } finally {
    // Each step on its own: a failing close must not leave the nodes running.
    poller.close();
    await client.close().catch(() => undefined);
    await dns.stop().catch(() => undefined);
    await explorer.stop().catch(() => undefined);
  }
  return times.sort((a, b) => a - b);
}

/** Where the RSS in the `node` block of `plexus status --json` goes (JS heap used/reserved, external), MB. */
function nodeMemory(status: Record<string, any>): { heapUsed?: number; heapTotal?: number; external?: number } {
  const n = (status.node ?? {}) as Record<string, number | undefined>;
  const mb = (b: number | undefined): number | undefined => (b === undefined ? undefined : b / 1048576);
  return { heapUsed: mb(n.heapUsedBytes), heapTotal: mb(n.heapTotalBytes), external: mb(n.externalBytes) };
}

/** `plexus status --json` of the node, whole. */
async function nodeStatus(configFile: string): Promise<Record<string, any>> {
  return JSON.parse(await plexusCli(['status', '--config', configFile, '--json'])) as Record<string, any>;
}

/** The dns plugin's block of `plexus status --json` (event-loop delay, view lag, cache sizes). */
async function dnsStatus(configFile: string): Promise<Record<string, any>> {
  return dnsBlock(await nodeStatus(configFile));
}

/** The dns plugin's block in a status already read. */
function dnsBlock(status: Record<string, any>): Record<string, any> {
  const find = (o: unknown): Record<string, any> | undefined => {
    if (o === null || typeof o !== 'object') return undefined;
    const r = o as Record<string, any>;
    if ('eventLoopDelayMs' in r) return r;
    for (const v of Object.values(r)) {
      const f = find(v);
      if (f !== undefined) return f;
    }
    return undefined;
  };
  return find(status) ?? {};
}

interface Stalls {
  /** Longest event-loop delay of the node's DNS thread(s) in the phase. */
  eventLoopMaxMs?: number;
  /** Longest single apply of changes to the in-memory view in the phase. */
  longestApplyMs?: number;
  /** Since the node started: full re-reads of every hash, hashes re-read by themselves, count checks. */
  fullSyncs?: number;
  keyRereads?: number;
  countChecks?: number;
}

interface ScaleResult {
  records: number;
  /** DNS threads of the node (`workers`). */
  workers: number;
  rate: number;
  qrate: number;
  /** From the first hand-written HSET of the bulk import until the node had re-read it all. */
  importMs: number;
  /** Over the import (peaks from the node's start on). */
  importStalls: Stalls;
  /** The change stream alone, no query load, for `seconds` (peaks reset before it). */
  quiet: { changes: number; seconds: number; propagation: Propagation } & Stalls;
  /** The change stream under the fixed query rate (peaks reset before it). */
  loaded: { changes: number; propagation: Propagation } & Stalls;
  plexus: DnsperfResult;
  knotd: DnsperfResult;
  rssMb: { idle?: number; loaded?: number; afterLoad?: number };
  /** Of the RSS after the load: JS heap in use and reserved by V8, and memory outside the heap. */
  heapAfterLoadMb: { heapUsed?: number; heapTotal?: number; external?: number };
  bytesPerRecord?: number;
  readyMs: number;
}

interface Propagation {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** `plexus dns reset-peaks`: the node's peak figures count from now on. */
async function resetPeaks(configFile: string): Promise<void> {
  await plexusCli(['dns', 'reset-peaks', '--config', configFile, '--json']);
}

function stallsOf(st: Record<string, any>): Stalls {
  return { eventLoopMaxMs: st.eventLoopDelayMs?.max, longestApplyMs: st.cache?.longestApplyMs, fullSyncs: st.cache?.fullSyncs, keyRereads: st.cache?.keyRereads, countChecks: st.cache?.countChecks };
}

/**
 * Waits until a hand-written import is in: the node re-reads no hash and has read no field for
 * two polls in a row (each write's keyspace event starts a re-read; they come in waves).
 */
async function waitImported(configFile: string, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let last = -1;
  let quietPolls = 0;
  while (Date.now() < deadline) {
    const c = (await dnsStatus(configFile)).cache ?? {};
    const reads = Number(c.fieldReads ?? 0) + Number(c.keyRereads ?? 0);
    quietPolls = c.rereading === 0 && reads === last ? quietPolls + 1 : 0;
    if (quietPolls >= 2) return;
    last = reads;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the DNS node was still re-reading the import after ${deadlineMs} ms`);
}

/**
 * Registers names through the gateway at `rate` per second (open loop: a change every 1/rate s
 * whatever the previous ones are doing) until `until` settles, and times each acknowledged change
 * to its answer from the DNS node.
 */
async function changeStream(c: RpcClient, dnsPort: number, rate: number, first: number, until: Promise<unknown>): Promise<{ changes: number; propagation: Propagation }> {
  const times: number[] = [];
  const inflight: Promise<void>[] = [];
  let i = first;
  const timer = setInterval(() => {
    const n = i++;
    inflight.push(
      (async () => {
        const poller = new DnsPoller('127.0.0.1', dnsPort);
        try {
          await c.call('/plexus/gateway/1', 'domain_register_a', { name: `s${n}.bench`, record_ip: [ipOf(n + 1)] }, { signed: true });
          times.push(await poller.waitFor(`s${n}.bench.${ZONE}`, ipOf(n + 1), 30_000));
        } finally {
          poller.close();
        }
      })(),
    );
  }, 1000 / rate);
  try {
    await until;
  } finally {
    clearInterval(timer);
  }
  await Promise.all(inflight);
  times.sort((a, b) => a - b);
  return { changes: times.length, propagation: { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), maxMs: times[times.length - 1] ?? NaN } };
}

/**
 * A zone of `records` names on the explorer's store, a DNS node on a replica, and for `seconds`
 * a fixed query rate (dnsperf -Q) while names are registered at a fixed rate through the gateway
 * (open loop); knotd serves the same zone under the same query rate in the same run.
 */
async function scaleSection(dir: string, records: number, seconds: number, rate: number, qrate: number, workers: number): Promise<ScaleResult> {
  const master = await freePort();
  const explorerCfg = await nodeConfig(dir, `explorer-${records}`, `  store: { port: ${master}, fsync: always, password: ${STORE_PASSWORD} }\n  phonebook: {}\n  gateway: { zones: [${ZONE}] }\n`);
  const dnsPort = await freePort();
  const dnsCfg = await nodeConfig(dir, `dns-${records}`, `  store: { mode: replica, port: ${await freePort()}, replicaOf: { host: 127.0.0.1, port: ${master}, password: ${STORE_PASSWORD} } }\n  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [${ZONE}], workers: ${workers} }\n`);
  const explorer = await PlexusProcess.start(explorerCfg, { logLevel: 'info' });
  const redis = new Redis({ host: '127.0.0.1', port: master, password: STORE_PASSWORD });
  let dns: PlexusProcess | undefined;
  let knot: { port: number; child: ChildProcess } | undefined;
  const key = generateKeyPair();
  let client: RpcClient | undefined;
  try {
    // An empty zone first, so the node's own RSS can be told from the records'.
    await redis.hset(`${ZONE}.`, '@', JSON.stringify({ soa: { ttl: 300, mbox: `hostmaster.${ZONE}.`, ns: `ns1.${ZONE}.`, refresh: 86400, retry: 7200, expire: 3600, minttl: 300 } }));
    const started = performance.now();
    dns = await PlexusProcess.start(dnsCfg, { logLevel: 'info' });
    const readyMs = performance.now() - started;
    const idle = memoryMb(dns.pid)?.rss;
    const importStart = performance.now();
    await fill(redis, 0, records);
    // Written by hand (no stream entries), as an operator's bulk import would be.
    await waitAnswer(dnsPort, `n${records - 1}.${ZONE}`, ipOf(records - 1), 600_000);
    await waitImported(dnsCfg, 600_000);
    const importMs = performance.now() - importStart;
    const importStalls = stallsOf(await dnsStatus(dnsCfg));
    const loaded = memoryMb(dns.pid)?.rss;
    knot = await startKnot(dir, records);
    await waitAnswer(knot.port, `n${records - 1}.${ZONE}`, ipOf(records - 1), 600_000);
    const file = await queryFile(dir, Math.min(records, 100_000));
    const { multiaddrs } = await plexusId(explorerCfg);
    client = await RpcClient.connect(multiaddrs[0]!, { key });
    await client.call('/plexus/phonebook/1', 'name_register', { name: 'bench', email: 'bench@example.org', pubkey: toHex(key.publicKey), wallet_name: '' }, { signed: true });
    // The change stream alone: what a change costs the node at this size. Longer than the node's
    // periodic re-read (30 s), whose cost at 1M records is part of what a user sees.
    await resetPeaks(dnsCfg);
    const quietSeconds = Math.max(seconds, QUIET_SECONDS);
    const quietRun = await changeStream(client, dnsPort, rate, 0, new Promise((r) => setTimeout(r, quietSeconds * 1000)));
    const quiet = { ...quietRun, seconds: quietSeconds, ...stallsOf(await dnsStatus(dnsCfg)) };
    // The same stream under the fixed query rate.
    await resetPeaks(dnsCfg);
    const run = dnsperf({ host: '127.0.0.1', port: dnsPort, queryFile: file, seconds, rate: qrate, clients: 2, outstanding: 1000 });
    const loadedRun = await changeStream(client, dnsPort, rate, quietRun.changes + 1_000_000, run);
    const ours = await run;
    const statusAfterLoad = await nodeStatus(dnsCfg);
    const underLoad = { ...loadedRun, ...stallsOf(dnsBlock(statusAfterLoad)) };
    const afterLoad = memoryMb(dns.pid)?.rss;
    const heapAfterLoad = nodeMemory(statusAfterLoad);
    const knotResult = await dnsperf({ host: '127.0.0.1', port: knot.port, queryFile: file, seconds, rate: qrate, clients: 2, outstanding: 1000 });
    return {
      records,
      workers,
      rate,
      qrate,
      importMs,
      importStalls,
      quiet,
      loaded: underLoad,
      plexus: ours,
      knotd: knotResult,
      rssMb: { idle, loaded, afterLoad },
      heapAfterLoadMb: heapAfterLoad,
      bytesPerRecord: idle === undefined || loaded === undefined ? undefined : ((loaded - idle) * 1024 * 1024) / records,
      readyMs,
    };
  } finally {
    redis.disconnect();
    await client?.close().catch(() => undefined);
    if (knot !== undefined) {
      process.kill(-knot.child.pid!, 'SIGTERM');
      untrackProcessGroup(knot.child.pid!);
    }
    await dns?.stop().catch(() => undefined);
    await explorer.stop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { names: { type: 'string' }, seconds: { type: 'string' }, changes: { type: 'string' }, scale: { type: 'string' }, rate: { type: 'string' }, qrate: { type: 'string' }, workers: { type: 'string' }, 'scale-workers': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (v.help === true) {
    process.stdout.write(`${USAGE}
DNS answers of a plexus dns node beside knotd's on the same zone, in the same run: saturated QPS
(--names, --workers), propagation of --changes registrations to a replica DNS node, and per zone
size of --scale (default 100000,1000000) a fixed --qrate query load with --rate changes/s, RSS and
readiness. --json prints the results as JSON.
`);
    return;
  }
  installCleanup();
  const names = positiveNumber('names', v.names, 10_000);
  const seconds = positiveNumber('seconds', v.seconds, 10);
  const changes = positiveNumber('changes', v.changes, 200);
  const rate = positiveNumber('rate', v.rate, 20);
  const qrate = positiveNumber('qrate', v.qrate, 20_000);
  const sizes = (v.scale ?? '100000,1000000').split(',').filter((x) => x !== '' && x !== '0').map((x) => positiveNumber('scale', x, 100_000));
  const workers = (v.workers ?? '1,2').split(',').filter((x) => x !== '').map((x) => positiveNumber('workers', x, 1));
  const scaleWorkers = positiveNumber('scale-workers', v['scale-workers'], 1);
  const dir = await makeTempDir('plexus-bench-dns-');
  const qps = await qpsSection(dir, names, seconds, workers);
  const prop = await propagationSection(dir, changes);
  const scale: ScaleResult[] = [];
  for (const n of sizes) scale.push(await scaleSection(dir, n, seconds, rate, qrate, scaleWorkers));
  const out = {
    date: new Date().toISOString(),
    qps: { names, seconds, plexus: qps.ours, knotd: qps.knot, ratios: qps.ours.map((o) => ({ workers: o.workers, ratio: o.result.qps / qps.knot.qps })) },
    propagation: { changes, p50Ms: percentile(prop, 50), p99Ms: percentile(prop, 99), maxMs: prop[prop.length - 1] },
    rssMb: qps.rss,
    scale,
  };
  const f = (n: number | undefined, d = 2): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
  const table = [
    `DNS QPS, ${names} names, dnsperf -c 4 -q 100 for ${seconds} s each, same machine (2 cores shared with dnsperf)`,
    '  server        QPS        p50 ms   p99 ms   avg ms   lost',
    ...qps.ours.map(({ workers: w, result: o }) => `  plexus dns ${`${w}w`.padEnd(3)}${f(o.qps, 0).padStart(8)}   ${f(o.p50Ms, 3).padStart(6)}   ${f(o.p99Ms, 3).padStart(6)}   ${f(o.avgMs, 3).padStart(6)}   ${o.lost}`),
    `  knotd         ${f(qps.knot.qps, 0).padStart(8)}   ${f(qps.knot.p50Ms, 3).padStart(6)}   ${f(qps.knot.p99Ms, 3).padStart(6)}   ${f(qps.knot.avgMs, 3).padStart(6)}   ${qps.knot.lost}`,
    `  ratio plexus/knotd: ${out.qps.ratios.map((r) => `${r.workers} worker(s) ${f(r.ratio)}`).join(', ')}   (aim >= 1.0, p99 < 2 ms)`,
    `Propagation, ${changes} changes: domain_register_a acknowledged on the explorer -> answer from a replica DNS node`,
    `  p50 ${f(out.propagation.p50Ms)} ms   p99 ${f(out.propagation.p99Ms)} ms   max ${f(out.propagation.maxMs)} ms   (aim p99 < 100 ms)`,
    `DNS node RSS (MB, 1 worker): ${Object.entries(qps.rss).filter(([k]) => k !== 'workers').map(([k, val]) => `${k} ${f(val, 0)}`).join(', ')}   (aim < 150 MB with 100,000 records)`,
    ...scale.flatMap((r) => [
      `Zone of ${r.records} records on a replica DNS node (${r.workers} worker${r.workers === 1 ? '' : 's'}), ${r.qrate} QPS offered for ${seconds} s while ${r.rate} names/s are registered through the gateway (open loop)`,
      '  server        QPS        p50 ms   p99 ms   p99.9 ms   max ms   lost',
      `  plexus dns    ${f(r.plexus.qps, 0).padStart(8)}   ${f(r.plexus.p50Ms, 3).padStart(6)}   ${f(r.plexus.p99Ms, 3).padStart(6)}   ${f(r.plexus.p999Ms, 3).padStart(8)}   ${f(r.plexus.maxMs, 1).padStart(6)}   ${r.plexus.lost}`,
      `  knotd         ${f(r.knotd.qps, 0).padStart(8)}   ${f(r.knotd.p50Ms, 3).padStart(6)}   ${f(r.knotd.p99Ms, 3).padStart(6)}   ${f(r.knotd.p999Ms, 3).padStart(8)}   ${f(r.knotd.maxMs, 1).padStart(6)}   ${r.knotd.lost}   (static zone: no changes)`,
      `  ratio p99 plexus/knotd: ${f(r.plexus.p99Ms / r.knotd.p99Ms)}   (aim p99 < 2 ms)`,
      `  plexus under the change stream: propagation of ${r.loaded.changes} changes p50 ${f(r.loaded.propagation.p50Ms)} ms   p99 ${f(r.loaded.propagation.p99Ms)} ms   max ${f(r.loaded.propagation.maxMs)} ms; longest event-loop delay ${f(r.loaded.eventLoopMaxMs, 1)} ms, longest apply ${f(r.loaded.longestApplyMs, 0)} ms`,
      `  change stream without query load (${r.quiet.seconds} s): propagation of ${r.quiet.changes} changes p50 ${f(r.quiet.propagation.p50Ms)} ms   p99 ${f(r.quiet.propagation.p99Ms)} ms   max ${f(r.quiet.propagation.maxMs)} ms   (aim p99 < 20 ms); longest event-loop delay ${f(r.quiet.eventLoopMaxMs, 1)} ms, longest apply ${f(r.quiet.longestApplyMs, 0)} ms   (aim: no stall > 10 ms); since start: ${r.quiet.fullSyncs ?? '?'} full re-reads, ${r.quiet.keyRereads ?? '?'} hash re-reads, ${r.quiet.countChecks ?? '?'} count checks`,
      `  hand-written bulk import of ${r.records} records (HSET, no stream entries) in the node after ${f(r.importMs / 1000, 1)} s; meanwhile longest event-loop delay ${f(r.importStalls.eventLoopMaxMs, 1)} ms, longest apply ${f(r.importStalls.longestApplyMs, 0)} ms`,
      `  RSS MB: idle ${f(r.rssMb.idle, 0)}, loaded ${f(r.rssMb.loaded, 0)}, after the load ${f(r.rssMb.afterLoad, 0)} (JS heap ${f(r.heapAfterLoadMb.heapUsed, 0)} in use of ${f(r.heapAfterLoadMb.heapTotal, 0)} reserved, external ${f(r.heapAfterLoadMb.external, 0)}); ${f(r.bytesPerRecord, 0)} bytes per record   (aim < 150 MB at 100k, < 800 MB at 1M)`,
      `  node ready (replica synced, view read) ${f(r.readyMs, 0)} ms after start`,
    ]),
  ].join('\n');
  if (v.json === true) {
    process.stderr.write(`${table}\n`);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else process.stdout.write(`${table}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench dns: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
