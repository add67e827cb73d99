import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient, RpcServer, type StoreCapability, createP2pNode, loadIdentity, silentLogger } from '@plexus/core';
import { codeOf, startPlugin, startRedis, type RedisServer } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { GREETINGS_KEY, HELLO_PROTOCOL, plugin } from '../src/index.js';

/**
 * `plexus hello greet` as a user runs it: a `plexus` child process talking over libp2p to a real
 * RpcServer that serves the hello plugin, backed by the real store plugin on a real redis-server.
 */
const PLEXUS = fileURLToPath(new URL('./cli/main.js', import.meta.resolve('@plexus/core')));

let server: RedisServer | undefined;
let store: StoreCapability;
let dir: string;
let addr: string;
// Stopped in reverse order by `after`, also when `before` failed half-way.
const cleanups: (() => Promise<void>)[] = [];
const children = new Set<ChildProcess>();

before(async () => {
  server = await startRedis({ tmpPrefix: 'plexus-hello-cli-redis-' });
  dir = await mkdtemp(join(tmpdir(), 'plexus-hello-cli-'));
  const node = await createP2pNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
  cleanups.push(async () => {
    await node.stop();
  });
  const rpc = new RpcServer(node, { maxFrameBytes: 1 << 20, maxClockSkewMs: 60_000, maxInFlightPerStream: 16, rateLimit: { perSecond: 0, burst: 1 } }, silentLogger());
  const after = (fn: () => Promise<void>): void => void cleanups.push(fn);
  const started = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${server.port}` }, { dataDir: dir, after });
  store = started.instance.capabilities!().store!;
  // As the core serves a plugin: the registrar only accepts /plexus/hello/<major>.
  const registrar = { serve: (p: string, m: Parameters<RpcServer['serve']>[1]) => rpc.serve(p, m, silentLogger(), 'hello'), unserve: (p: string) => rpc.unserve(p) };
  await startPlugin(plugin, { blocked: ['mallory'] }, { dataDir: dir, capabilities: { store }, rpc: registrar, after });
  addr = node.getMultiaddrs()[0]!.toString();
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const fn of cleanups.reverse()) await fn();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `plexus` CLI; no environment defaults leak in (key and explorer are explicit). */
function plexus(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PLEXUS_EXPLORER: '', PLEXUS_KEY: '', XDG_CONFIG_HOME: join(dir, 'xdg') };
    const child = spawn(process.execPath, [PLEXUS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

const greet = (name: string, key: string, ...more: string[]): Promise<Run> => plexus('hello', 'greet', '--name', name, '--explorer', addr, '--key', key, ...more);

test('plexus hello greet: human output, then --json; counted per key in the store', { timeout: 60_000 }, async () => {
  const aliceKey = join(dir, 'alice.key');
  const first = await greet('bob', aliceKey);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, 'hello, bob (greeting #1 from your key)\n');
  assert.equal((await stat(aliceKey)).mode & 0o777, 0o600, 'the key is created private');

  const second = await greet('carol', aliceKey, '--json');
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(JSON.parse(second.stdout), { text: 'hello, carol', count: 2 });

  // Another key has its own count; the server counted under the key that signed (call.signer).
  const daveKey = join(dir, 'dave.key');
  assert.deepEqual(JSON.parse((await greet('bob', daveKey, '--json')).stdout), { text: 'hello, bob', count: 1 });
  const alice = await loadIdentity(aliceKey);
  const dave = await loadIdentity(daveKey);
  assert.deepEqual(await store.redis.hgetall(GREETINGS_KEY), { [alice.publicKeyHex]: '2', [dave.publicKeyHex]: '1' });
});

test('ERR_HELLO_BLOCKED reaches the CLI intact: exit 1, code, message and hint', { timeout: 60_000 }, async () => {
  const key = join(dir, 'erin.key');
  const human = await greet('mallory', key);
  assert.equal(human.code, 1);
  assert.equal(human.stdout, '');
  assert.equal(
    human.stderr,
    "plexus: ERR_HELLO_BLOCKED: 'mallory' may not be greeted on this node\n  hint: The node's operator blocked this name (plugins.hello.blocked); greet another name.\n",
  );
  const json = await greet('mallory', key, '--json');
  assert.equal(json.code, 1);
  assert.deepEqual(JSON.parse(json.stdout), { error: { code: 'ERR_HELLO_BLOCKED', message: "'mallory' may not be greeted on this node", data: { name: 'mallory' } } });
  const erin = await loadIdentity(key);
  assert.equal(await store.redis.hget(GREETINGS_KEY, erin.publicKeyHex), null);
});

test('a bad name is refused by the server with ERR_PARAMS_INVALID; a missing flag is usage (exit 2)', { timeout: 60_000 }, async () => {
  const bad = await greet('Not A Name', join(dir, 'frank.key'), '--json');
  assert.equal(bad.code, 1);
  assert.deepEqual(JSON.parse(bad.stdout).error.data, { path: 'name' });
  assert.equal(JSON.parse(bad.stdout).error.code, 'ERR_PARAMS_INVALID');
  const missing = await plexus('hello', 'greet', '--explorer', addr);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--name/);
});

test('the real server refuses an unsigned greet with ERR_AUTH_REQUIRED', { timeout: 30_000 }, async (t) => {
  const client = await RpcClient.connect(addr);
  t.after(() => client.close());
  assert.equal(await codeOf(client.call(HELLO_PROTOCOL, 'greet', { name: 'bob' })), 'ERR_AUTH_REQUIRED');
});

test('plexus --help lists hello; plexus hello greet --help shows the shared client flags', { timeout: 30_000 }, async () => {
  const top = await plexus('--help');
  assert.equal(top.code, 0, top.stderr);
  assert.match(top.stdout, /^ {2}hello\b.*example plugin/m);
  const help = await plexus('hello', 'greet', '--help');
  assert.equal(help.code, 0, help.stderr);
  for (const flag of ['--name <name>', '--explorer <multiaddr>', '--key <file>', '--json', '--timeout <ms>']) assert.ok(help.stdout.includes(flag), flag);
});
