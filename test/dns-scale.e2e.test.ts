import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { ZONE_CHANGE_STREAM } from '@plexus/core';
import { portFree, startRedis } from '@plexus/core/testing';
import { NodeProcess, explorerConfig, freePort, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';
import { ZONE, startGatewayNode, type GatewayNode } from './lib/gateway-node.js';

const exec = promisify(execFile);

/**
 * The change stream end to end: a real node (store, phonebook, gateway, dns), the real CLI, the
 * real `dig`. Gateway writes reach DNS through the stream (one field read each, never the whole
 * hash); an operator's `redis-cli HSET` is still answered; `plexus status` shows the view's lag.
 */
describe('DNS follows the gateway change stream', () => {
  let dir: string;
  let gw: GatewayNode;

  const dnsStatus = async (): Promise<Record<string, any>> => {
    const r = await runCli(['status', '--config', gw.node.configFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (r.json.plugins as Record<string, any>).dns?.status ?? (r.json.plugins as Record<string, any>).dns;
  };

  before(async () => {
    dir = await tempDir('plexus-dns-scale-e2e-');
    gw = await startGatewayNode(dir);
    const r = await gw.cli(['phonebook', 'register', '--name', 'alice', '--email', 'alice@example.org'], 'alice');
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  test('registrations are applied from the stream; a hand-written HSET re-reads only its hash', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await gw.cli(['gateway', 'register-a', '--name', `w${i}.alice`, '--ip', `10.0.0.${i + 1}`], 'alice');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(await gw.digUntil(`w${i}.alice.${ZONE}`, 'A', (a) => a === `10.0.0.${i + 1}`), `10.0.0.${i + 1}`);
    }
    // A deeper hash (the split moves w0..w4 into alice's own hash): named in the stream as well.
    const exposed = await gw.cli(['gateway', 'register-a', '--name', 'x', '--domain', `alice.${ZONE}`, '--ip', '10.0.1.1'], 'alice');
    assert.equal(exposed.code, 0, exposed.stdout + exposed.stderr);
    assert.equal(await gw.digUntil(`x.alice.${ZONE}`, 'A', (a) => a === '10.0.1.1'), '10.0.1.1');
    for (let i = 0; i < 5; i++) assert.equal(await gw.dig(`w${i}.alice.${ZONE}`), `10.0.0.${i + 1}`);
    const s = await dnsStatus();
    assert.ok(s.cache.streamEntries >= 6, JSON.stringify(s.cache));
    assert.equal(s.cache.keyRereads, 0, 'no hash was re-read for a gateway write');
    assert.equal(s.cache.ready, true);
    assert.deepEqual(s.cache.lag, { changes: 0, ms: 0 });
    assert.equal(typeof s.eventLoopDelayMs.max, 'number');

    await gw.redis('HSET', `${ZONE}.`, 'handmade', JSON.stringify({ a: [{ ip: '10.9.9.9' }] }));
    assert.equal(await gw.digUntil(`handmade.${ZONE}`, 'A', (a) => a === '10.9.9.9'), '10.9.9.9');
    assert.ok((await dnsStatus()).cache.keyRereads >= 1);
  });

  test('plexus dns reset-peaks starts the peak figures again; status says since when', async () => {
    const before = await dnsStatus();
    assert.ok(before.cache.longestApplyMs >= 0 && typeof before.peaksSince === 'string', JSON.stringify(before));
    const r = await runCli(['dns', 'reset-peaks', '--config', gw.node.configFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.threads, 1);
    assert.ok(Date.parse(r.json.peaksSince as string) > Date.parse(before.peaksSince), `${before.peaksSince} -> ${r.json.peaksSince}`);
    const after = await dnsStatus();
    assert.equal(after.peaksSince, r.json.peaksSince);
    const human = await runCli(['dns', 'reset-peaks', '--config', gw.node.configFile]);
    assert.match(human.stdout, /^peaks counted from \S+Z on 1 DNS thread\(s\)$/m);
  });
});

/**
 * `dns.workers: 2` on a real node: both threads answer the real `dig` on the one port, the node
 * stops cleanly on SIGTERM (no thread keeps it alive), and a killed node leaves nothing bound.
 */
describe('DNS workers on a real node', () => {
  let dir: string;
  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  test('two threads answer on one port; SIGTERM and SIGKILL leave no thread or socket behind', async () => {
    dir = await tempDir('plexus-dns-workers-e2e-');
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const dnsPort = await freePort();
      const { file } = await explorerConfig(dir, `  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [${ZONE}], workers: 2 }\n`);
      const node = await NodeProcess.start(file, 120_000);
      const status = async (): Promise<Record<string, any>> => {
        const r = await runCli(['status', '--config', file, '--json']);
        assert.equal(r.code, 0, r.stderr);
        const p = r.json.plugins as Record<string, any>;
        return p.dns?.status ?? p.dns;
      };
      const dig = async (): Promise<string> => (await exec('dig', ['@127.0.0.1', '-p', String(dnsPort), `${ZONE}`, 'SOA', '+short', '+time=2', '+tries=1'], { timeout: 10_000 })).stdout.trim();
      const deadline = Date.now() + 120_000;
      let runs = 0;
      for (;;) {
        assert.match(await dig(), new RegExp(`^ns1\\.${ZONE.replaceAll('.', '\\.')}\\. `), 'the SOA of the zone');
        runs++;
        const threads = (await status()).threads as { queries: number }[];
        assert.equal(threads.length, 2);
        if (threads.every((t) => t.queries > 0)) break;
        assert.ok(Date.now() < deadline, `after ${runs} dig runs a thread answered nothing: ${JSON.stringify(threads)}`);
      }
      // Both threads' peaks start again.
      const reset = await runCli(['dns', 'reset-peaks', '--config', file, '--json']);
      assert.equal(reset.code, 0, reset.stderr);
      assert.equal(reset.json.threads, 2);
      const pid = node.pid;
      if (signal === 'SIGTERM') assert.equal((await node.stop('SIGTERM')).code, 0, 'a clean exit: no worker thread kept the node alive');
      else {
        node.kill('SIGKILL');
        await node.waitExit();
      }
      assert.equal(existsSync(`/proc/${pid}`), false, 'the process and its threads are gone');
      assert.equal(await portFree(dnsPort), true, `after ${signal} nothing holds the DNS port`);
      // kill -9 of the node alone leaves its redis-server running (the next start replaces it, as
      // phonebook.e2e shows); none starts here, so it goes with its process group.
      if (signal === 'SIGKILL') node.killGroup();
    }
  });
});

/**
 * A big zone on a real master and replica, served by a real node process (the launcher's V8 flags,
 * its own heap): gateway-style changes (field + change-stream entry in one transaction) cost a read
 * of the field, never of the zone; hand-written ones are still seen; no synchronous apply is long.
 * The node runs in its own process because the peak is the node's: in the test's own process the
 * test's 100k-field fill shares the heap, and its young-generation collections (40-80 ms here, 200
 * under CI load) landed inside the node's applies.
 */
describe('a 100000-record zone on a replica, served by a real node', () => {
  const ZONE_KEY = 'gateway.tf.';
  const RECORDS = 100_000;
  const A = (ip: string): string => JSON.stringify({ a: [{ ip, ttl: 300 }] });
  const ipOf = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  let dir: string;
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    await killAllNodes();
    for (const stop of stops.reverse()) await stop();
    if (dir !== undefined) await removeDir(dir);
  });

  async function until<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, limitMs = 30_000): Promise<T> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const v = await probe();
      if (done(v)) return v;
      assert.ok(Date.now() < deadline, `${what}: not within ${limitMs} ms; last: ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  test('stream changes read one field each, hand-written ones are seen, no synchronous apply over 100 ms', async () => {
    dir = await tempDir('plexus-dns-100k-e2e-');
    // Redis 7 waits 5 s before a diskless full sync by default, to batch replicas; not here.
    const master = await startRedis({ tmpPrefix: 'plexus-dns-100k-master-', args: ['--repl-diskless-sync-delay', '0'] });
    stops.push(() => master.stop());
    const replica = await startRedis({ tmpPrefix: 'plexus-dns-100k-replica-', args: ['--replicaof', '127.0.0.1', String(master.port)] });
    stops.push(() => replica.stop());
    const m: Redis = master.client();
    for (let start = 0; start < RECORDS; start += 5000) {
      const p = m.pipeline();
      for (let i = start; i < Math.min(RECORDS, start + 5000); i++) p.hset(ZONE_KEY, `n${i}`, A(ipOf(i)));
      await p.exec();
    }
    const r = replica.client();
    await until('the replica has the zone', () => r.hlen(ZONE_KEY), (n) => n === RECORDS);

    const dnsPort = await freePort();
    const file = await writeConfig(
      dir,
      'dns',
      `node:
  name: dns
  dataDir: ${join(dir, 'data')}
  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]
  log: { level: info }
plugins:
  store: { mode: external, url: 'redis://127.0.0.1:${replica.port}' }
  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [gateway.tf] }
`,
    );
    await NodeProcess.start(file, 120_000);
    const cache = async (): Promise<Record<string, any>> => {
      const s = await runCli(['status', '--config', file, '--json']);
      assert.equal(s.code, 0, s.stderr);
      const p = s.json.plugins as Record<string, any>;
      return (p.dns?.status ?? p.dns).cache as Record<string, any>;
    };
    const dig = async (name: string, type = 'A'): Promise<string> => {
      const { stdout } = await exec('dig', ['@127.0.0.1', '-p', String(dnsPort), name, type, '+time=2', '+tries=1'], { timeout: 10_000 });
      return stdout;
    };
    const answer = async (name: string): Promise<string> => (await exec('dig', ['@127.0.0.1', '-p', String(dnsPort), name, 'A', '+short', '+time=2', '+tries=1'], { timeout: 10_000 })).stdout.trim();

    const before = await cache();
    assert.equal(before.records, RECORDS);
    assert.equal(before.ready, true);

    const CHANGES = 30;
    for (let i = 0; i < CHANGES; i++) {
      // What the gateway's write script does for one field: the field and its stream entry, atomically.
      await m.multi().hset(ZONE_KEY, `s${i}`, A(ipOf(i + 1))).xadd(ZONE_CHANGE_STREAM, 'MAXLEN', '~', 100_000, '*', 'k', ZONE_KEY, 'f', `s${i}`).exec();
      await until(`s${i} answered`, () => answer(`s${i}.gateway.tf`), (v) => v === ipOf(i + 1));
    }
    const afterStream = await cache();
    // Each change was read as one field: the 100k-field hash was never read again.
    assert.equal(afterStream.keyRereads - before.keyRereads, 0, 'no hash re-read for changes that came with a stream entry');
    assert.equal(afterStream.fullSyncs, before.fullSyncs);
    assert.equal(afterStream.fieldReads - before.fieldReads, CHANGES);
    assert.equal(afterStream.records, RECORDS + CHANGES);

    // An operator's HSET has no stream entry: its hash is re-read, chunk by chunk.
    await m.hset(ZONE_KEY, 'n7', A('10.99.0.7'));
    await until('the hand-written n7 answered', () => answer('n7.gateway.tf'), (v) => v === '10.99.0.7');
    assert.equal((await cache()).keyRereads, afterStream.keyRereads + 1);
    // ...and a hand-written HDEL too.
    await m.hdel(ZONE_KEY, 'n8');
    await until('the deleted n8 is NXDOMAIN', () => dig('n8.gateway.tf'), (out) => /status: NXDOMAIN/.test(out));

    const last = await cache();
    // Applying one HSCAN chunk or one stream batch; the whole zone at once took hundreds of ms.
    assert.ok(last.longestApplyMs < 100, `longest synchronous apply ${last.longestApplyMs} ms`);
    assert.deepEqual(last.lag, { changes: 0, ms: 0 });
    assert.equal(last.records, RECORDS + CHANGES - 1);
  });
});
