import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir } from './lib/cleanup.js';
import { PLEXUS_BIN, PlexusProcess, ROOT, plexusId } from './lib/plexus-node.js';
import { freePort } from './lib/ports.js';
import { childPids, memoryMb } from './lib/proc.js';
import { percentile, sortedCopy } from './lib/stats.js';

/**
 * One-shot CLI start-up and idle memory.
 *
 * 1. Wall time of `plexus phonebook get alice` (a real lookup of a registered name on a running
 *    explorer) and of `plexus --help`, p50/p95 over --runs runs, beside references from the same
 *    run, interleaved so load on the machine hits all alike: `node -e 0` (the floor of any Node
 *    CLI) and `redis-cli PING` against the explorer's store (a one-shot client of a comparable
 *    tool, in C). The lookup also runs from the compiled modules (PLEXUS_NO_BUNDLE=1) and without
 *    Node's compile cache, to show what the bundle and the cache each win.
 * 2. Idle RSS of an explorer (store + phonebook + gateway) and of a DNS node (replica store + dns)
 *    after --idle seconds without traffic, beside an idle bare Node process and the redis-server
 *    each node runs. Never fails on a number.
 */
const USAGE = 'usage: node bench/dist/cli-startup.js [--runs N] [--idle SECONDS] [--json]\n';
const run = promisify(execFile);

interface Series {
  label: string;
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Exit code the command must end with (a failing command would time an error path). */
  expect: number;
  ms: number[];
}

async function timed(s: Series): Promise<void> {
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(s.cmd, s.args, { env: { ...process.env, ...s.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (c) => (c === s.expect ? resolve() : reject(new Error(`${s.label}: exit ${c}, expected ${s.expect}: ${err}`))));
  });
  s.ms.push(performance.now() - start);
}

/** True when bin/plexus will run one-shot commands from a fresh bundle (see core/src/cli/bundle-route.ts). */
async function bundleFresh(explorer: string): Promise<boolean> {
  const r = await run(PLEXUS_BIN, ['phonebook', 'get', 'alice', '--explorer', explorer, '--json'], { env: { ...process.env, PLEXUS_DEBUG: '1' } });
  return !/CLI bundle is older/.test(r.stderr) && (await readFile(join(ROOT, 'core/dist/bundle/cli/manifest.json')).then(() => true, () => false));
}

/** RSS of `pid` after the node sat idle, and of its redis-server child. */
function idleRss(pid: number): { nodeMb: number; redisMb: number } {
  const redis = childPids(pid, 'redis-server')[0];
  return { nodeMb: memoryMb(pid)?.rss ?? Number.NaN, redisMb: redis === undefined ? Number.NaN : (memoryMb(redis)?.rss ?? Number.NaN) };
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { runs: { type: 'string' }, idle: { type: 'string' }, json: { type: 'boolean' } } }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  installCleanup();
  const runs = positiveNumber('runs', v.runs, 20);
  const idleSeconds = positiveNumber('idle', v.idle, 10);
  const dir = await makeTempDir('plexus-bench-cli-');
  const [p2p, redisPort, dnsP2p, dnsRedis, dnsPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const explorerFile = join(dir, 'explorer.yaml');
  await writeFile(
    explorerFile,
    [
      'node:',
      '  name: bench-explorer',
      `  dataDir: ${join(dir, 'explorer')}`,
      `  listen: [/ip4/127.0.0.1/tcp/${p2p}]`,
      '  log: { level: info }',
      'plugins:',
      `  store: { bind: 127.0.0.1, port: ${redisPort} }`,
      '  phonebook: {}',
      '  gateway: { zones: [gateway.tf], publicIps: [127.0.0.1] }',
      '',
    ].join('\n'),
  );
  const dnsFile = join(dir, 'dns.yaml');
  await writeFile(
    dnsFile,
    [
      'node:',
      '  name: bench-dns',
      `  dataDir: ${join(dir, 'dns')}`,
      `  listen: [/ip4/127.0.0.1/tcp/${dnsP2p}]`,
      '  log: { level: info }',
      'plugins:',
      `  store: { mode: replica, bind: 127.0.0.1, port: ${dnsRedis}, replicaOf: { host: 127.0.0.1, port: ${redisPort}, passwordFile: ${join(dir, 'explorer/store/redis.password')} } }`,
      `  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [gateway.tf] }`,
      '',
    ].join('\n'),
  );
  const explorer = await PlexusProcess.start(explorerFile, { logLevel: 'info' });
  let dns: PlexusProcess | undefined;
  try {
    const addr = (await plexusId(explorerFile)).multiaddrs[0]!;
    await run(PLEXUS_BIN, ['phonebook', 'register', '--name', 'alice', '--email', 'alice@example.org', '--key', join(dir, 'alice.key'), '--explorer', addr]);
    const fresh = await bundleFresh(addr);
    await run('redis-cli', ['--version']).catch(() => {
      throw new Error('redis-cli is needed for the reference (apt-get install -y redis-tools)');
    });
    const redisAuth = (await readFile(join(dir, 'explorer/store/redis.password'), 'utf8')).trim();
    // Idle means idle: after start-up (and the one registration above) no request reaches either node.
    dns = await PlexusProcess.start(dnsFile, { logLevel: 'info' });
    const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
    let rss;
    try {
      await new Promise((r) => setTimeout(r, idleSeconds * 1000));
      rss = { explorer: idleRss(explorer.pid), dns: idleRss(dns.pid), bareNodeMb: memoryMb(bare.pid!)?.rss ?? Number.NaN };
    } finally {
      bare.kill('SIGKILL');
    }
    const get = ['phonebook', 'get', 'alice', '--explorer', addr, '--json'];
    const series: Series[] = [
      { label: 'plexus phonebook get (bundle)', cmd: PLEXUS_BIN, args: get, env: {}, expect: 0, ms: [] },
      { label: 'plexus phonebook get (compiled modules)', cmd: PLEXUS_BIN, args: get, env: { PLEXUS_NO_BUNDLE: '1' }, expect: 0, ms: [] },
      { label: 'plexus phonebook get (bundle, no compile cache)', cmd: PLEXUS_BIN, args: get, env: { NODE_DISABLE_COMPILE_CACHE: '1' }, expect: 0, ms: [] },
      { label: 'plexus --help', cmd: PLEXUS_BIN, args: ['--help'], env: {}, expect: 0, ms: [] },
      { label: "reference: node -e ''", cmd: process.execPath, args: ['-e', ''], env: {}, expect: 0, ms: [] },
      { label: 'reference: redis-cli PING', cmd: 'redis-cli', args: ['-h', '127.0.0.1', '-p', String(redisPort), 'PING'], env: { REDISCLI_AUTH: redisAuth }, expect: 0, ms: [] },
    ];
    // One untimed round fills the compile cache; then the series take turns.
    for (const s of series) await timed(s).then(() => s.ms.pop());
    for (let i = 0; i < runs; i++) for (const s of series) await timed(s);
    const load = loadavg()[0]!;
    const explorerAfterMb = memoryMb(explorer.pid)?.rss ?? Number.NaN;
    const stat = (s: Series): { p50: number; p95: number } => {
      const sorted = sortedCopy(s.ms);
      return { p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
    };
    const stats = series.map((s) => ({ label: s.label, ...stat(s) }));
    const [bundled, compiled, uncached, help, bareNode, redisCli] = stats as [typeof stats[0], typeof stats[0], typeof stats[0], typeof stats[0], typeof stats[0], typeof stats[0]];
    const out = {
      date: new Date().toISOString(),
      runs,
      loadAverage1m: load,
      bundleFresh: fresh,
      startupMs: Object.fromEntries(stats.map((s) => [s.label, { p50: s.p50, p95: s.p95 }])),
      ratios: { getVsBareNode: bundled.p50 / bareNode.p50, getVsRedisCli: bundled.p50 / redisCli.p50, bundleVsCompiled: bundled.p50 / compiled.p50, cacheWin: bundled.p50 / uncached.p50, helpVsBareNode: help.p50 / bareNode.p50 },
      idleRssMb: { idleSeconds, explorer: rss.explorer, dns: rss.dns, bareNode: rss.bareNodeMb, explorerAfterClientsMb: explorerAfterMb },
    };
    const f = (n: number): string => n.toFixed(0).padStart(6);
    const table = [
      `CLI start-up, wall ms over ${runs} interleaved runs (load average ${load.toFixed(1)} on ${availableParallelism()} cores${fresh ? '' : '; BUNDLE STALE: run npm run build'})`,
      '                                                      p50     p95',
      ...stats.map((s) => `  ${s.label.padEnd(48)} ${f(s.p50)}  ${f(s.p95)}`),
      `  phonebook get / node -e 0: ${out.ratios.getVsBareNode.toFixed(1)}   / redis-cli PING: ${out.ratios.getVsRedisCli.toFixed(1)}   bundle / compiled: ${out.ratios.bundleVsCompiled.toFixed(2)}   with / without compile cache: ${out.ratios.cacheWin.toFixed(2)}   (aim: get < 150 ms)`,
      `Idle RSS after ${idleSeconds} s, MiB (aim < 100 per node)`,
      `  explorer node ${rss.explorer.nodeMb.toFixed(1).padStart(6)}   its redis-server ${rss.explorer.redisMb.toFixed(1).padStart(5)}   (after serving the phonebook get runs above: ${explorerAfterMb.toFixed(1)})`,
      `  DNS node      ${rss.dns.nodeMb.toFixed(1).padStart(6)}   its redis-server ${rss.dns.redisMb.toFixed(1).padStart(5)}`,
      `  reference: idle bare node ${rss.bareNodeMb.toFixed(1).padStart(6)}   explorer / bare node ${(rss.explorer.nodeMb / rss.bareNodeMb).toFixed(1)}   DNS / bare node ${(rss.dns.nodeMb / rss.bareNodeMb).toFixed(1)}`,
    ].join('\n');
    if (v.json === true) {
      process.stderr.write(`${table}\n`);
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else process.stdout.write(`${table}\n`);
  } finally {
    await dns?.stop();
    await explorer.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench cli-startup: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
