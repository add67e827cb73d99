import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { codeOf } from '@plexus/core/testing';
import { storeConfigSchema } from '../src/config.js';
import { renderRedisConf } from '../src/redis-conf.js';
import type { StoreStatusReport } from '../src/status.js';
import { freePort, rawClient, restartedPid, serverPid, startStore, tempDir, waitFor } from './helpers.js';

/**
 * What the wireguard plugin uses to move replication onto a private network: a replica whose
 * master is named at runtime (`replicaOf.network` + `replicateFrom`), and a master that also
 * listens on another address (`listenOn`). Real redis-servers on loopback (127.0.0.2 stands for
 * the private network's address).
 */
describe('store on a private network', () => {
  test('replicaOf takes either host or network, not both, not neither', () => {
    const base = { mode: 'replica', port: 6380 };
    assert.equal(storeConfigSchema.safeParse({ ...base, replicaOf: { network: 'redis', port: 6378, password: 'x' } }).success, true);
    for (const replicaOf of [{ port: 6378 }, { host: '10.1.0.1', network: 'redis' }]) {
      const r = storeConfigSchema.safeParse({ ...base, replicaOf });
      assert.equal(r.success, false);
      assert.deepEqual(r.error!.issues.map((i) => i.path.join('.')), ['replicaOf.host']);
    }
    assert.equal(storeConfigSchema.safeParse({ ...base, replicaOf: { network: 'Redis!' } }).success, false);
  });

  test('redis.conf of a network replica has the replica settings but no replicaof line', () => {
    const conf = renderRedisConf({ bind: '127.0.0.1', port: 6379, dir: '/x', fsync: 'always', replicaOf: { port: 6378, password: 'pw' } });
    assert.doesNotMatch(conf, /^replicaof /m);
    assert.match(conf, /^replica-read-only yes$/m);
    assert.match(conf, /^masterauth "pw"$/m);
  });

  test('a network replica replicates nothing until replicateFrom names the master, then follows it', async (t) => {
    const masterPort = await freePort();
    const master = await startStore(t, { bind: '127.0.0.1', port: masterPort, password: 'master-pw' }, await tempDir(t));
    await master.store.redis.set('k', 'from-master');
    const replica = await startStore(t, { mode: 'replica', port: await freePort(), replicaOf: { network: 'redis', port: masterPort, password: 'master-pw' } }, await tempDir(t));
    assert.equal(replica.store.role, 'replica');
    assert.equal(replica.store.replicaOfNetwork, 'redis');
    const waiting = (await replica.store.status()) as StoreStatusReport;
    assert.equal(waiting.role, 'replica');
    assert.equal(waiting.masterLink, 'down');
    assert.match(waiting.masterError ?? '', /redis network/);
    assert.equal(await replica.store.redis.get('k'), null);

    assert.equal(await codeOf(replica.store.replicateFrom!('master.example.org')), 'ERR_CONFIG_INVALID');
    await replica.store.replicateFrom!('127.0.0.1');
    await waitFor('the replica to copy the key', async () => ((await replica.store.redis.get('k')) === 'from-master' ? true : undefined));
    const linked = await waitFor('the link to be up', async () => {
      const s = (await replica.store.status()) as StoreStatusReport;
      return s.masterLink === 'up' ? s : undefined;
    });
    assert.equal(linked.masterHost, `127.0.0.1:${masterPort}`);
    // Read-only like any replica.
    await assert.rejects(replica.store.redis.set('x', '1'), /READONLY/);
    // Only network replicas take a master at runtime.
    assert.equal(await codeOf(master.store.replicateFrom!('127.0.0.1')), 'ERR_UNAVAILABLE');

    // A crashed redis-server, restarted by the supervisor, is still this master's replica.
    const before = await serverPid(replica.store.redis);
    process.kill(before, 'SIGKILL');
    await restartedPid(replica.store.redis, before);
    await master.store.redis.set('after-crash', 'yes');
    await waitFor('the restarted replica to follow the master again', async () => ((await replica.store.redis.get('after-crash')) === 'yes' ? true : undefined));
  });

  test('listenOn adds addresses to the configured bind and [] goes back to it', async (t) => {
    const port = await freePort();
    const { store } = await startStore(t, { bind: '127.0.0.1', port, password: 'pw' }, await tempDir(t));
    await store.listenOn!(['127.0.0.2']);
    assert.deepEqual(await store.redis.config('GET', 'bind'), ['bind', '127.0.0.1 127.0.0.2']);
    const other = rawClient(t, port, 'pw');
    other.options.host = '127.0.0.2';
    await other.connect();
    assert.equal(await other.ping(), 'PONG');
    assert.deepEqual(((await store.status()) as StoreStatusReport).listening, ['127.0.0.1', '127.0.0.2']);
    assert.equal(await codeOf(store.listenOn!(['not-an-ip'])), 'ERR_CONFIG_INVALID');
    // A crashed redis-server, restarted by the supervisor, listens where it did.
    const before = await serverPid(store.redis);
    process.kill(before, 'SIGKILL');
    await restartedPid(store.redis, before);
    assert.deepEqual(await store.redis.config('GET', 'bind'), ['bind', '127.0.0.1 127.0.0.2']);
    await store.listenOn!([]);
    assert.deepEqual(await store.redis.config('GET', 'bind'), ['bind', '127.0.0.1']);
    assert.equal(((await store.status()) as StoreStatusReport).listening, undefined);
  });
});
