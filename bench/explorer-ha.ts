import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FailoverClient, PlexusError, generateKeyPair, toHex, type Ed25519KeyPair } from '@plexus/core';
import { parseArgs, positiveNumber } from './lib/args.js';
import { installCleanup, makeTempDir } from './lib/cleanup.js';
import { PlexusProcess, plexusId } from './lib/plexus-node.js';
import { freePort } from './lib/ports.js';
import { median, round } from './lib/stats.js';
import { formatTable } from './lib/table.js';

/**
 * Explorer high availability (store `sentinel` groups), on loopback with real `plexus start` nodes:
 * three explorers, each a store + sentinel (down-after-milliseconds 1000) + phonebook.
 *  (1) failover: the master node is killed -9 (node, redis-server and sentinel at once) while a
 *      client registers names against all three explorers; the time from the kill to the first
 *      acknowledged registration on the promoted standby, p50 over N failovers (the killed node is
 *      restarted and back in sync before the next one). Every acknowledged registration is looked
 *      up at the end: the count of lost ones is printed (aim: 0).
 *  (2) registration throughput (name_register over signed RPC, C concurrent clients, S seconds)
 *      with `ackReplicas: 1` (WAIT 1 after every change) beside `ackReplicas: 0` (no WAIT, no
 *      min-replicas-to-write), each on a fresh group in the same run, and the ratio.
 * Never fails on a number.
 */
const USAGE = `usage: node bench/dist/explorer-ha.js [--failovers N] [--seconds S] [--clients C] [--json]
  --failovers N  master kills to time (default 10)
  --seconds S    seconds of throughput per setting, in two alternating halves (default 10)
  --clients C    concurrent registering clients in the throughput runs (default 8)
  --json         results as JSON on stdout; the tables go to stderr
`;
const PASSWORD = 'bench-ha-secret';
const PHONEBOOK = '/plexus/phonebook/1';
const progress = (line: string): void => void process.stderr.write(`# ${line}\n`);
const round1 = (v: number): number => round(v, 1);

interface Explorer {
  config: string;
  multiaddr: string;
  redisPort: number;
  node: PlexusProcess | undefined;
}

async function makeGroup(dir: string, ackReplicas: number): Promise<Explorer[]> {
  await mkdir(dir, { recursive: true });
  const ports = [];
  for (let i = 0; i < 3; i++) ports.push({ p2p: await freePort(), redis: await freePort(), sentinel: await freePort() });
  const out: Explorer[] = [];
  for (let i = 0; i < 3; i++) {
    const p = ports[i]!;
    const config = join(dir, `e${i}.yaml`);
    await writeFile(config, `node:
  name: e${i}
  dataDir: ${join(dir, `e${i}`)}
  listen: [/ip4/127.0.0.1/tcp/${p.p2p}]
  log: { level: info }
  rpc: { rateLimit: { perSecond: 0 } }
plugins:
  store:
    bind: 127.0.0.1
    port: ${p.redis}
    password: ${PASSWORD}
    sentinel:
      announceIp: 127.0.0.1
      port: ${p.sentinel}
      sentinels: [${ports.map((q) => `'127.0.0.1:${q.sentinel}'`).join(', ')}]
      initialMaster: '127.0.0.1:${ports[0]!.redis}'
      quorum: 2
      downAfterMs: 1000
      failoverTimeoutMs: 3000
      ackReplicas: ${ackReplicas}
  phonebook: {}
`);
    const id = await plexusId(config);
    out.push({ config, multiaddr: `/ip4/127.0.0.1/tcp/${p.p2p}/p2p/${id.peerId}`, redisPort: p.redis, node: undefined });
  }
  out[0]!.node = await PlexusProcess.start(out[0]!.config, { logLevel: 'info' });
  await Promise.all(out.slice(1).map(async (e) => (e.node = await PlexusProcess.start(e.config, { logLevel: 'info' }))));
  return out;
}

/** Until the store at `port` is a replica with its link up, or a master with 2 replicas online. */
async function inSync(port: number, ms = 60_000): Promise<void> {
  const r = new Redis({ host: '127.0.0.1', port, password: PASSWORD, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 200 });
  r.on('error', () => undefined);
  const deadline = Date.now() + ms;
  try {
    for (;;) {
      const info = await r.info('replication').catch(() => '');
      if (/master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info)) return;
      if (/role:master/.test(info) && /connected_slaves:2/.test(info)) return;
      if (Date.now() > deadline) throw new Error(`store on ${port} not in sync within ${ms} ms`);
      await delay(100);
    }
  } finally {
    r.disconnect();
  }
}

function client(group: Explorer[], key: Ed25519KeyPair): FailoverClient {
  return new FailoverClient(group.map((e) => e.multiaddr), { key, timeoutMs: 3_000, failoverMs: 120_000 });
}

async function register(c: FailoverClient, key: Ed25519KeyPair, name: string): Promise<void> {
  await c.call(PHONEBOOK, 'name_register', { name, email: 'bench@example.com', pubkey: toHex(key.publicKey) }, { signed: true });
}

/** Registrations per second over `seconds`, `clients` at once, each registering its own names. */
async function throughput(group: Explorer[], tag: string, seconds: number, clients: number, acked: string[]): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(Array.from({ length: clients }, async (_, w) => {
    const key = generateKeyPair();
    const c = client(group, key);
    try {
      await register(c, key, `warm-${tag}-${w}`);
      for (let i = 0; Date.now() < end; i++) {
        const name = `${tag}-${w}-${i}`;
        await register(c, key, name);
        acked.push(name);
        done++;
      }
    } finally {
      await c.close();
    }
  }));
  return done / seconds;
}

async function stopGroup(group: Explorer[]): Promise<void> {
  await Promise.all(group.map((e) => e.node?.stop()));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { failovers: { type: 'string' }, seconds: { type: 'string' }, clients: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const failovers = positiveNumber('failovers', values.failovers, 10);
  const seconds = positiveNumber('seconds', values.seconds, 10);
  const clients = positiveNumber('clients', values.clients, 8);
  installCleanup();
  const dir = await makeTempDir('plexus-bench-ha-');

  // (2) throughput with WAIT 1 and without (ackReplicas 0, a group of its own), in alternating
  // runs so that load from anything else on the machine falls on both alike.
  progress('starting two groups: ackReplicas 1 and ackReplicas 0');
  const plain = await makeGroup(join(dir, 'plain'), 0);
  const group = await makeGroup(join(dir, 'ha'), 1);
  await Promise.all([...plain, ...group].map((e) => inSync(e.redisPort)));
  const acked: string[] = [];
  const rates = { wait: [] as number[], none: [] as number[] };
  for (let round = 0; round < 2; round++) {
    rates.none.push(await throughput(plain, `plain${round}`, seconds / 2, clients, []));
    rates.wait.push(await throughput(group, `wait${round}`, seconds / 2, clients, acked));
    progress(`throughput round ${round + 1}/2: WAIT 1 ${round1(rates.wait.at(-1)!)}/s, none ${round1(rates.none.at(-1)!)}/s`);
  }
  await stopGroup(plain);
  const withWait = (rates.wait[0]! + rates.wait[1]!) / 2;
  const noWait = (rates.none[0]! + rates.none[1]!) / 2;

  // (1) failovers: kill -9 the master node, time to the first acknowledged registration.
  const key = generateKeyPair();
  const loop = client(group, key);
  const times: number[] = [];
  let n = 0;
  for (let f = 0; f < failovers; f++) {
    const probe = `probe-${f}`;
    await register(loop, key, probe);
    acked.push(probe);
    const master = group.find((e) => e.multiaddr === loop.current);
    if (master === undefined) throw new Error('no master known');
    const killedAt = Date.now();
    process.kill(-master.node!.pid, 'SIGKILL');
    await master.node!.stop();
    for (;;) {
      const name = `f${f}-${n++}`;
      try {
        await register(loop, key, name);
        acked.push(name);
        break;
      } catch (err) {
        if (!(err instanceof PlexusError)) throw err;
      }
    }
    times.push(Date.now() - killedAt);
    progress(`failover ${f + 1}/${failovers}: ${times.at(-1)} ms to the first acknowledged registration`);
    master.node = await PlexusProcess.start(master.config, { logLevel: 'info' });
    await inSync(master.redisPort);
  }

  // Every acknowledged registration must be there.
  let lost = 0;
  for (const name of acked) {
    try {
      await loop.call(PHONEBOOK, 'get', { name });
    } catch (err) {
      if (err instanceof PlexusError && err.code === 'ERR_NOT_FOUND') lost++;
      else throw err;
    }
  }
  await loop.close();
  await stopGroup(group);

  const result = {
    failovers,
    failoverToFirstWriteMs: { p50: median(times), min: Math.min(...times), max: Math.max(...times), all: times },
    acknowledged: acked.length,
    lost,
    throughput: { clients, seconds, withWaitPerSec: round(withWait), withoutWaitPerSec: round(noWait), ratio: round(withWait / noWait, 2) },
  };
  const table = formatTable(['figure', 'plexus', 'reference', 'ratio'], [
    ['master loss -> first acked registration, p50 (ms)', result.failoverToFirstWriteMs.p50, 'aim < 5000', round(result.failoverToFirstWriteMs.p50 / 5000, 2)],
    [`acknowledged registrations lost (of ${acked.length})`, lost, 'aim 0', '-'],
    [`registrations/s, WAIT 1 vs none (${clients} clients)`, result.throughput.withWaitPerSec, result.throughput.withoutWaitPerSec, result.throughput.ratio],
  ]);
  if (values.json === true) {
    process.stderr.write(`${table}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    process.stdout.write(`${table}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
