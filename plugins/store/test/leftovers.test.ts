import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../src/orphan.js';
import { freePort, killQuietly, serverPid, startStore, tempDir, waitFor } from './helpers.js';

const HOLDER = fileURLToPath(new URL('./fixtures/hold-store.js', import.meta.url));

/**
 * Runs a node with a managed store in its own process group and waits until it acknowledged a write.
 * The whole group (node and redis) is killed when the test ends, whatever happened.
 */
async function runNode(t: TestContext, dataDir: string, config: Record<string, unknown>): Promise<{ nodePid: number; redisPid: number }> {
  const child = spawn(process.execPath, [HOLDER, dataDir, JSON.stringify(config)], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const nodePid = child.pid as number;
  t.after(() => killQuietly(-nodePid));
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) => reject(new Error(`the node exited early (code ${code})`)));
  });
  const lines = createInterface({ input: child.stdout });
  const line = await Promise.race([new Promise<string>((resolve) => lines.once('line', resolve)), exited]);
  lines.close();
  const { redisPid } = JSON.parse(line) as { redisPid: number };
  t.after(() => killQuietly(redisPid));
  return { nodePid, redisPid };
}

async function gone(pid: number): Promise<true | undefined> {
  return (await isAlive(pid)) ? undefined : true;
}

describe('store plugin after a crash', () => {
  test('an acknowledged write survives kill -9 of the whole node, redis included', async (t) => {
    const dir = await tempDir(t);
    const port = await freePort();
    const { nodePid, redisPid } = await runNode(t, dir, { port, fsync: 'always' });
    process.kill(-nodePid, 'SIGKILL');
    await waitFor('the killed redis-server to be gone', () => gone(redisPid));

    const { store } = await startStore(t, { port }, dir);
    assert.equal(await store.redis.get('acknowledged'), 'yes');
  });

  test('a redis-server left running by a node killed with -9 is stopped and replaced', async (t) => {
    const dir = await tempDir(t);
    const port = await freePort();
    const { nodePid, redisPid } = await runNode(t, dir, { port, password: 'pw' });
    process.kill(nodePid, 'SIGKILL');
    await waitFor('the killed node to be gone', () => gone(nodePid));
    assert.equal(await isAlive(redisPid), true, 'precondition: the orphan redis-server still runs');

    const { store } = await startStore(t, { port, password: 'pw' }, dir);
    const pid = await serverPid(store.redis);
    assert.notEqual(pid, redisPid);
    assert.equal(await isAlive(redisPid), false, 'the orphan must be stopped');
    assert.equal(await store.redis.get('acknowledged'), 'yes');
  });

  test('a pidfile naming a process that is not redis-server leaves that process alone', async (t) => {
    const dir = await tempDir(t);
    const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
    const pid = bystander.pid as number;
    t.after(() => killQuietly(pid));
    await mkdir(join(dir, 'redis'));
    await writeFile(join(dir, 'redis', 'redis.pid'), `${pid}\n`);

    const { store } = await startStore(t, { port: await freePort() }, dir);
    assert.equal(await store.redis.ping(), 'PONG');
    assert.equal(await isAlive(pid), true);
  });
});
