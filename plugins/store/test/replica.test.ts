import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { Logger, StoreCapability } from '@plexus/core';
import type { StoreStatusReport } from '../src/status.js';
import { freePort, recordingLogger, startStore, tempDir, waitFor, type Running } from './helpers.js';

// A space in the master's password checks that masterauth is quoted in redis.conf.
const MASTER_PASSWORD = 'master secret';
const REPLICA_PASSWORD = 'replica-pw';

interface Master extends Running {
  port: number;
  dir: string;
}

/** A master store with a password, on loopback; `port`/`dir` given to restart one on its data. */
async function startMaster(t: TestContext, port?: number, dir?: string): Promise<Master> {
  const p = port ?? (await freePort());
  const d = dir ?? (await tempDir(t));
  const running = await startStore(t, { bind: '127.0.0.1', port: p, password: MASTER_PASSWORD }, d);
  return { ...running, port: p, dir: d };
}

/** A replica store of the master on `masterPort`, with a password of its own. */
async function startReplica(
  t: TestContext,
  masterPort: number,
  options: { port?: number; dir?: string; masterPassword?: string; log?: Logger } = {},
): Promise<Running & { port: number; dir: string }> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? (await tempDir(t));
  const raw = {
    mode: 'replica',
    port,
    password: REPLICA_PASSWORD,
    replicaOf: { host: '127.0.0.1', port: masterPort, password: options.masterPassword ?? MASTER_PASSWORD },
  };
  return { ...(await startStore(t, raw, dir, undefined, options.log)), port, dir };
}

async function statusOf(store: StoreCapability): Promise<StoreStatusReport> {
  return (await store.status()) as StoreStatusReport;
}

/** Polls `status()` until `ok` holds, and returns that status. */
function statusWhere(store: StoreCapability, what: string, ok: (s: StoreStatusReport) => boolean): Promise<StoreStatusReport> {
  return waitFor(what, async () => {
    const status = await statusOf(store);
    return ok(status) ? status : undefined;
  });
}

/** Waits until the replica is linked, done with any full sync and has applied all the master sent. */
function inSync(replica: StoreCapability): Promise<StoreStatusReport> {
  return statusWhere(replica, 'the replica to be in sync', (s) => s.masterLink === 'up' && s.syncInProgress === false && s.lagBytes === 0);
}

/** Waits until `key` holds `value` on `store`. */
async function arrives(store: StoreCapability, key: string, value: string): Promise<void> {
  await waitFor(`${key}=${value} to arrive`, async () => ((await store.redis.get(key)) === value ? true : undefined));
}

/** Writes `seq:N` keys on `store` one after the other until stopped, counting acknowledged writes. */
function startWriter(t: TestContext, store: StoreCapability): { readonly acked: number; failures: string[]; stop(): Promise<number> } {
  let stopped = false;
  let acked = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (!stopped && failures.length < 100) {
      try {
        await store.redis.set(`seq:${acked}`, String(acked));
        acked += 1;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  const stop = async (): Promise<number> => {
    stopped = true;
    await loop;
    return acked;
  };
  t.after(stop);
  return { get acked() { return acked; }, failures, stop };
}

describe('store plugin, replica mode', () => {
  test('a write on the master reaches the replica; the replica is read-only; status shows link and lag', async (t) => {
    const master = await startMaster(t);
    const replica = await startReplica(t, master.port);
    assert.equal(replica.store.role, 'replica');
    assert.equal(master.store.role, 'master');

    const record = JSON.stringify({ a: [{ ip: '10.2.0.5', ttl: 300 }] });
    await master.store.redis.hset('threebot.gateway.tf.', 'alice', record);
    const seen = await waitFor('the HSET to reach the replica', async () => (await replica.store.redis.hget('threebot.gateway.tf.', 'alice')) ?? undefined);
    assert.equal(seen, record);

    await assert.rejects(replica.store.redis.set('written-on-replica', '1'), /READONLY/);
    assert.equal(await replica.store.redis.exists('written-on-replica'), 0);

    const status = await inSync(replica.store);
    assert.equal(status.role, 'replica');
    assert.equal(status.managed, true);
    assert.equal(status.address, `127.0.0.1:${replica.port}`);
    assert.equal(status.masterHost, `127.0.0.1:${master.port}`);
    assert.equal(status.keys, 1);
    assert.equal(typeof status.lastIoSecondsAgo, 'number');
    assert.equal(status.masterError, undefined);
    const viaInstance = await replica.instance.status?.();
    assert.equal(viaInstance?.role, 'replica');
    assert.equal(viaInstance?.masterLink, 'up');

    const onMaster = await statusWhere(master.store, 'the master to list its replica online', (s) =>
      (s.replicas ?? []).some((r) => r.addr === `127.0.0.1:${replica.port}` && r.state === 'online'),
    );
    assert.equal(onMaster.connectedReplicas, 1);
    assert.equal(onMaster.masterLink, undefined);
    assert.equal(typeof onMaster.replicas?.[0]?.lagBytes, 'number');
  });

  test('a replica serves reads while its master is down, even across its own restart, and catches up when it returns', async (t) => {
    const master = await startMaster(t);
    const replica = await startReplica(t, master.port);
    await master.store.redis.set('before', '1');
    await arrives(replica.store, 'before', '1');

    await master.instance.stop();
    const down = await statusWhere(replica.store, 'the replica to see its master down', (s) => s.masterLink === 'down');
    assert.equal(down.lagBytes, undefined);
    assert.match(down.masterError ?? '', /ECONNREFUSED/);
    assert.equal(await replica.store.redis.get('before'), '1');

    // Starting is not held up by the missing master: the replica serves the copy in its AOF.
    await replica.instance.stop();
    const restarted = await startReplica(t, master.port, { port: replica.port, dir: replica.dir });
    assert.equal(await restarted.store.redis.get('before'), '1');
    assert.equal((await statusOf(restarted.store)).masterLink, 'down');

    const back = await startMaster(t, master.port, master.dir);
    await statusWhere(restarted.store, 'the link to come back up', (s) => s.masterLink === 'up' && s.syncInProgress === false);
    await back.store.redis.set('after', '2');
    await arrives(restarted.store, 'after', '2');
    assert.equal(await restarted.store.redis.get('before'), '1');
    await inSync(restarted.store);
  });

  test('a second replica joins and leaves while the master keeps taking writes and the first stays in sync', async (t) => {
    const master = await startMaster(t);
    const first = await startReplica(t, master.port);
    await inSync(first.store);
    const writer = startWriter(t, master.store);
    await waitFor('the first writes', async () => (writer.acked >= 20 ? true : undefined));

    const beforeJoin = writer.acked;
    const second = await startReplica(t, master.port);
    await statusWhere(master.store, 'both replicas online', (s) => (s.replicas ?? []).filter((r) => r.state === 'online').length === 2);
    const joined = writer.acked;
    assert.ok(joined > beforeJoin, 'the master stopped acknowledging writes while a replica joined');
    await arrives(second.store, `seq:${joined - 1}`, String(joined - 1));

    await second.instance.stop();
    const left = await statusWhere(master.store, 'the master to drop the second replica', (s) => s.connectedReplicas === 1);
    assert.deepEqual(left.replicas?.map((r) => r.addr), [`127.0.0.1:${first.port}`]);
    const afterLeave = writer.acked;
    await waitFor('writes after the replica left', async () => (writer.acked >= afterLeave + 20 ? true : undefined));

    const total = await writer.stop();
    assert.deepEqual(writer.failures, [], 'every write on the master must succeed');
    await arrives(first.store, `seq:${total - 1}`, String(total - 1));
    assert.equal(await first.store.redis.dbsize(), total);
    assert.equal((await inSync(first.store)).masterLink, 'up');
  });

  test('with a wrong masterauth the replica still starts, says auth failed and reports the link down', async (t) => {
    const master = await startMaster(t);
    const { log, records } = recordingLogger();
    const replica = await startReplica(t, master.port, { masterPassword: 'not the password', log });
    assert.equal(await replica.store.redis.ping(), 'PONG');

    const redisLog = join(replica.dir, 'redis', 'redis.log');
    await waitFor('redis to report the refused AUTH', async () =>
      /Unable to AUTH to MASTER/.test(await readFile(redisLog, 'utf8')) ? true : undefined,
    );
    const status = await statusOf(replica.store);
    assert.equal(status.masterLink, 'down');
    assert.equal(status.lagBytes, undefined);
    assert.match(status.masterError ?? '', /refused masterauth.*WRONGPASS/);
    const warning = records.find((r) => r.level === 'warn' && /auth failed/.test(r.msg));
    assert.ok(warning, `no warning about the failed auth in ${JSON.stringify(records)}`);
    assert.equal(warning.fields.master, `127.0.0.1:${master.port}`);
    assert.equal((await statusOf(master.store)).connectedReplicas, 0);
  });

  test('a subscriber on the replica gets keyspace events for replicated writes', async (t) => {
    const master = await startMaster(t);
    const replica = await startReplica(t, master.port);
    // Writes made before the first sync arrive inside the full copy, which fires no events.
    await inSync(replica.store);

    const sub = replica.store.duplicate();
    t.after(() => sub.disconnect());
    const events: string[] = [];
    sub.on('pmessage', (_pattern: string, channel: string, message: string) => events.push(`${channel} ${message}`));
    await sub.psubscribe('__keyspace@0__:*');

    await master.store.redis.hset('threebot.gateway.tf.', 'bob', JSON.stringify({ a: [{ ip: '10.2.0.6' }] }));
    await waitFor('the hset event', async () => (events.includes('__keyspace@0__:threebot.gateway.tf. hset') ? true : undefined));
    // By the time the event arrives the replica has applied the write.
    assert.ok(await replica.store.redis.hexists('threebot.gateway.tf.', 'bob'));

    await master.store.redis.hdel('threebot.gateway.tf.', 'bob');
    await waitFor('the hdel and del events', async () =>
      events.includes('__keyspace@0__:threebot.gateway.tf. hdel') && events.includes('__keyspace@0__:threebot.gateway.tf. del') ? true : undefined,
    );
  });
});
