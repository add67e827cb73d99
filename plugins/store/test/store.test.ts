import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { PlexusError } from '@plexus/core';
import { isAlive } from '../src/orphan.js';
import { createStore, freePort, rawClient, rawCommand, restartedPid, serverPid, startStore, tempDir, waitFor } from './helpers.js';

describe('store plugin, managed redis-server', () => {
  test('data survives stop and start; status reports the store', async (t) => {
    const dir = await tempDir(t);
    const port = await freePort();
    const first = await startStore(t, { port }, dir);
    assert.equal(await first.store.redis.set('greeting', 'hello'), 'OK');
    assert.deepEqual(await first.store.status(), {
      role: 'master',
      managed: true,
      address: `127.0.0.1:${port}`,
      connectedReplicas: 0,
      replicas: [],
      keys: 1,
    });
    const pid = await serverPid(first.store.redis);
    await first.instance.stop();
    assert.equal(await isAlive(pid), false, 'stop() left redis-server running');

    const second = await startStore(t, { port }, dir);
    assert.equal(await second.store.redis.get('greeting'), 'hello');
  });

  test('start twice is one redis; stop twice is safe', async (t) => {
    const dir = await tempDir(t);
    const port = await freePort();
    const instance = createStore(t, { port }, dir);
    await Promise.all([instance.start(), instance.start()]);
    await instance.start();
    const store = instance.capabilities?.().store as { redis: import('ioredis').Redis };
    const pid = await serverPid(store.redis);
    await Promise.all([instance.stop(), instance.stop()]);
    await instance.stop();
    assert.equal(await isAlive(pid), false);
  });

  test('the password is enforced, whatever characters it holds', async (t) => {
    const dir = await tempDir(t);
    const port = await freePort();
    const password = 'p"a ss\\w\u00f6rd';
    const { store } = await startStore(t, { port, password }, dir);
    assert.equal(await store.redis.set('k', 'v'), 'OK');

    assert.match(await rawCommand(port, 'GET k'), /^-NOAUTH/);

    const wrong = rawClient(t, port, 'wrong');
    await assert.rejects(wrong.connect().then(() => wrong.get('k')));

    const right = rawClient(t, port, password);
    await right.connect();
    assert.equal(await right.get('k'), 'v');
  });

  test('without a configured password the managed redis gets a generated one (0600, kept across restarts): other local users cannot write', async (t) => {
    const dir = await tempDir(t);
    const port = await freePort();
    const first = await startStore(t, { port }, dir);
    assert.equal(await first.store.redis.set('k', 'v'), 'OK');
    // What any local account could do before: write the phonebook behind the node's back.
    assert.match(await rawCommand(port, 'HSET phonebook:user:1 pubkey attacker'), /^-NOAUTH/);
    const file = join(dir, 'redis.password');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const password = (await readFile(file, 'utf8')).trim();
    assert.ok(password.length >= 32);
    await first.instance.stop();
    const second = await startStore(t, { port }, dir);
    assert.equal(await second.store.redis.get('k'), 'v');
    assert.equal((await readFile(file, 'utf8')).trim(), password, 'the same password after a restart');
    const client = rawClient(t, port, password);
    await client.connect();
    assert.equal(await client.get('k'), 'v', 'tools that read the file get in');
  });

  test('passwordFile is read relative to the config directory', async (t) => {
    const dir = await tempDir(t);
    const configDir = join(dir, 'etc');
    await mkdir(configDir);
    await writeFile(join(configDir, 'store.pass'), 'from-file\n', { mode: 0o600 });
    const port = await freePort();
    const { store } = await startStore(t, { port, passwordFile: 'store.pass' }, join(dir, 'data'), configDir);
    assert.equal(await store.redis.ping(), 'PONG');
    const client = rawClient(t, port, 'from-file');
    await client.connect();
    assert.equal(await client.ping(), 'PONG');
  });

  test('a missing passwordFile: ERR_PLUGIN_START naming it and how to create it; the command it gives works', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'etc', 'plexus', 'store.password');
    const port = await freePort();
    const err = await startStore(t, { port, passwordFile: file }, join(dir, 'data')).then(
      () => assert.fail('started without its password file'),
      (e: unknown) => e as PlexusError,
    );
    assert.equal(err.code, 'ERR_PLUGIN_START');
    const command = /create it, mode 0600, with: (.+)$/.exec(err.message)?.[1];
    assert.ok(command !== undefined && err.message.includes(file), err.message);
    await promisify(execFile)('bash', ['-c', command]);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const { store } = await startStore(t, { port, passwordFile: file }, join(dir, 'data'));
    assert.equal(await store.redis.ping(), 'PONG');
    const client = rawClient(t, port, (await readFile(file, 'utf8')).trim());
    await client.connect();
    assert.equal(await client.ping(), 'PONG');
  });

  test("a replica's missing replicaOf.passwordFile: it says the file is the master's password, not a new one", async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'master.password');
    const raw = { mode: 'replica', port: await freePort(), replicaOf: { host: '127.0.0.1', port: await freePort(), passwordFile: file } };
    // The core creates a plugin's data dir before start; the replica keeps its own password there.
    await mkdir(join(dir, 'data'));
    const err = await startStore(t, raw, join(dir, 'data')).then(
      () => assert.fail('started without the master password'),
      (e: unknown) => e as PlexusError,
    );
    assert.equal(err.code, 'ERR_PLUGIN_START');
    assert.ok(err.message.includes(`copy the master's passwordFile here, mode 0600 (install -m 600 MASTER_FILE ${file})`), err.message);
  });

  test('redis.conf is private (0600), even when it existed with looser bits', async (t) => {
    const dir = await tempDir(t);
    const conf = join(dir, 'redis', 'redis.conf');
    await mkdir(join(dir, 'redis'));
    await writeFile(conf, '# stale\n');
    await chmod(conf, 0o644);
    await startStore(t, { port: await freePort(), password: 'secret' }, dir);
    assert.equal((await stat(conf)).mode & 0o777, 0o600);
  });

  test('a redis-server killed with -9 is restarted, and acknowledged writes are kept', async (t) => {
    const dir = await tempDir(t);
    const port = await freePort();
    const { store } = await startStore(t, { port, fsync: 'always' }, dir);
    await store.redis.set('durable', 'yes');
    const before = await serverPid(store.redis);
    process.kill(before, 'SIGKILL');
    const after = await restartedPid(store.redis, before);
    assert.notEqual(after, before);
    assert.equal(await store.redis.get('durable'), 'yes');
    const dup = store.duplicate();
    t.after(() => dup.disconnect());
    assert.equal(await dup.get('durable'), 'yes');
  });

  test('a missing binary is ERR_DEPENDENCY_MISSING naming the Debian package', async (t) => {
    const dir = await tempDir(t);
    for (const redisServer of ['redis-server-not-installed', '/nonexistent/redis-server']) {
      const instance = createStore(t, { port: await freePort(), redisServer }, dir);
      await assert.rejects(instance.start(), (err: unknown) => {
        assert.ok(err instanceof PlexusError);
        assert.equal(err.code, 'ERR_DEPENDENCY_MISSING');
        assert.match(err.message, /apt-get install redis-server/);
        return true;
      });
      await instance.stop(); // safe after a failed start
    }
  });

  test('a port taken by another program is ERR_PLUGIN_START with redis\'s reason', async (t) => {
    const dir = await tempDir(t);
    // Reads to EOF so that closing the server is not held up by connections our probes left.
    const server = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const instance = createStore(t, { port }, dir);
    await assert.rejects(instance.start(), (err: unknown) => {
      assert.ok(err instanceof PlexusError);
      assert.equal(err.code, 'ERR_PLUGIN_START');
      assert.match(err.message, /already in use/i);
      return true;
    });
  });

  test('a port answered by another redis is not mistaken for ours', async (t) => {
    const port = await freePort();
    const other = await startStore(t, { port }, await tempDir(t));
    const otherPid = await serverPid(other.store.redis);
    const instance = createStore(t, { port }, await tempDir(t));
    await assert.rejects(instance.start(), (err: unknown) => {
      assert.ok(err instanceof PlexusError);
      assert.equal(err.code, 'ERR_PLUGIN_START');
      return true;
    });
    assert.equal(await serverPid(other.store.redis), otherPid, 'the other redis must be left alone');
  });
});

describe('store plugin, external redis', () => {
  test('connects through url and password; duplicate() has the same settings', async (t) => {
    const port = await freePort();
    const managed = await startStore(t, { port, password: 'pw' }, await tempDir(t));
    await managed.store.redis.set('shared', '1');
    const { store } = await startStore(t, { mode: 'external', url: `redis://127.0.0.1:${port}/0`, password: 'pw' }, await tempDir(t));
    assert.equal(await store.redis.get('shared'), '1');
    const status = await store.status();
    assert.equal(status.managed, false);
    assert.equal(status.address, `127.0.0.1:${port}`);
    const sub = store.duplicate();
    t.after(() => sub.disconnect());
    assert.equal(await sub.get('shared'), '1');
  });

  test('an unreachable url is ERR_UNAVAILABLE', async (t) => {
    const port = await freePort();
    const instance = createStore(t, { mode: 'external', url: `redis://127.0.0.1:${port}` }, await tempDir(t));
    await assert.rejects(instance.start(), (err: unknown) => {
      assert.ok(err instanceof PlexusError);
      assert.equal(err.code, 'ERR_UNAVAILABLE');
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
  });
});
