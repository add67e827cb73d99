import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RpcClient, generateKeyPair, toHex } from '@plexus/core';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir, trackProcessGroup, untrackProcessGroup } from './lib/cleanup.js';
import { DnsPoller } from './lib/dns-query.js';
import { dnsperf, type DnsperfResult } from './lib/dnsperf.js';
import { PlexusProcess } from './lib/plexus-node.js';
import { freePort } from './lib/ports.js';
import { memoryMb } from './lib/proc.js';
import { percentile } from './lib/stats.js';

/**
 * DNS benchmarks, printed beside the reference from the same run:
 *  (a) QPS and latency with dnsperf against our dns plugin and against knotd serving the same
 *      names from a zone file; (b) propagation from an acknowledged domain_register_a on the
 *      explorer to the new answer from a DNS node that reads a replica; (c) DNS node RSS with
 *      100,000 records. Never fails on a number.
 */
const ZONE = 'gateway.tf';
const USAGE = 'usage: node bench/dist/dns.js [--names N] [--seconds S] [--changes N] [--json]\n';

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

async function waitAnswer(port: number, name: string, ip: string): Promise<void> {
  const poller = new DnsPoller('127.0.0.1', port);
  try {
    await poller.waitFor(name, ip, 60_000);
  } finally {
    poller.close();
  }
}

async function nodeConfig(dir: string, name: string, plugins: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, `node:\n  name: ${name}\n  dataDir: ${join(dir, name)}\n  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]\n  log: { level: info }\n  rpc: { rateLimit: { perSecond: 0, burst: 1, perHostPerSecond: 0 } }\n  p2p: { allow: [/ip4/127.0.0.0/ipcidr/8] }\nplugins:\n${plugins}`);
  return file;
}

/** The bench writes records straight into the stores, so it sets their password itself. */
const STORE_PASSWORD = 'bench-store-password';

async function qpsSection(dir: string, names: number, seconds: number): Promise<{ ours: DnsperfResult; knot: DnsperfResult; rss: Record<string, number | undefined> }> {
  const redisPort = await freePort();
  const dnsPort = await freePort();
  const cfg = await nodeConfig(dir, 'dns-qps', `  store: { port: ${redisPort}, fsync: everysec, password: ${STORE_PASSWORD} }\n  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [${ZONE}] }\n`);
  const node = await PlexusProcess.start(cfg, { logLevel: 'info' });
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, password: STORE_PASSWORD });
  const knot = await startKnot(dir, names);
  try {
    const rssIdle = memoryMb(node.pid)?.rss;
    await fill(redis, 0, names);
    await waitAnswer(dnsPort, `n${names - 1}.${ZONE}`, ipOf(names - 1));
    await waitAnswer(knot.port, `n${names - 1}.${ZONE}`, ipOf(names - 1));
    const file = await queryFile(dir, names);
    const ours = await dnsperf({ host: '127.0.0.1', port: dnsPort, queryFile: file, seconds });
    const knotResult = await dnsperf({ host: '127.0.0.1', port: knot.port, queryFile: file, seconds });
    const rssAt = memoryMb(node.pid)?.rss;
    await fill(redis, names, 100_000);
    await waitAnswer(dnsPort, `n${99_999}.${ZONE}`, ipOf(99_999));
    const rss100k = memoryMb(node.pid)?.rss;
    return { ours, knot: knotResult, rss: { idle: rssIdle, [`with ${names}`]: rssAt, 'with 100000': rss100k } };
  } finally {
    redis.disconnect();
    process.kill(-knot.child.pid!, 'SIGTERM');
    untrackProcessGroup(knot.child.pid!);
    await node.stop();
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
  const { multiaddrs } = await (await import('./lib/plexus-node.js')).plexusId(explorerCfg);
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

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { names: { type: 'string' }, seconds: { type: 'string' }, changes: { type: 'string' }, json: { type: 'boolean' } } }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  installCleanup();
  const names = positiveNumber('names', v.names, 10_000);
  const seconds = positiveNumber('seconds', v.seconds, 10);
  const changes = positiveNumber('changes', v.changes, 200);
  const dir = await makeTempDir('plexus-bench-dns-');
  const qps = await qpsSection(dir, names, seconds);
  const prop = await propagationSection(dir, changes);
  const out = {
    date: new Date().toISOString(),
    qps: { names, seconds, plexus: qps.ours, knotd: qps.knot, ratio: qps.ours.qps / qps.knot.qps },
    propagation: { changes, p50Ms: percentile(prop, 50), p99Ms: percentile(prop, 99), maxMs: prop[prop.length - 1] },
    rssMb: qps.rss,
  };
  const f = (n: number | undefined, d = 2): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
  const table = [
    `DNS QPS, ${names} names, dnsperf -c 4 -q 100 for ${seconds} s each, same machine (2 cores shared with dnsperf)`,
    '  server        QPS        p50 ms   p99 ms   avg ms   lost',
    `  plexus dns    ${f(qps.ours.qps, 0).padStart(8)}   ${f(qps.ours.p50Ms, 3).padStart(6)}   ${f(qps.ours.p99Ms, 3).padStart(6)}   ${f(qps.ours.avgMs, 3).padStart(6)}   ${qps.ours.lost}`,
    `  knotd         ${f(qps.knot.qps, 0).padStart(8)}   ${f(qps.knot.p50Ms, 3).padStart(6)}   ${f(qps.knot.p99Ms, 3).padStart(6)}   ${f(qps.knot.avgMs, 3).padStart(6)}   ${qps.knot.lost}`,
    `  ratio plexus/knotd: ${f(out.qps.ratio)}   (aim >= 0.5, p99 < 2 ms)`,
    `Propagation, ${changes} changes: domain_register_a acknowledged on the explorer -> answer from a replica DNS node`,
    `  p50 ${f(out.propagation.p50Ms)} ms   p99 ${f(out.propagation.p99Ms)} ms   max ${f(out.propagation.maxMs)} ms   (aim p99 < 100 ms)`,
    `DNS node RSS (MB): ${Object.entries(qps.rss).map(([k, val]) => `${k} ${f(val, 0)}`).join(', ')}   (aim < 150 MB with 100,000 records)`,
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
