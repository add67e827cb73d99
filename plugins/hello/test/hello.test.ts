import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlexusError, hintFor, type StoreCapability } from '@plexus/core';
import { codeOf, fakeContext, startPlugin, startRedis, type RedisServer } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { GREETINGS_KEY, HELLO_DEFAULTS, HELLO_PROTOCOL, HelloConfigSchema, plugin, type GreetResult, type HelloCapability } from '../src/index.js';

/**
 * The hello plugin on a fake context (`@plexus/core/testing`) with a real store: the real store
 * plugin in external mode against a throw-away redis-server.
 */
let server: RedisServer | undefined;
let dir: string | undefined;

before(async () => {
  server = await startRedis({ tmpPrefix: 'plexus-hello-redis-' });
  dir = await mkdtemp(join(tmpdir(), 'plexus-hello-'));
});

after(async () => {
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const newSigner = (): string => randomBytes(32).toString('hex');

/** A started store (real plugin) and hello plugin on an empty database; both stopped when `t` ends. */
async function startHello(t: TestContext, config: unknown = {}) {
  const cleanup = (fn: () => Promise<void>): void => void t.after(fn);
  const { instance: storeInstance } = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${server!.port}` }, { dataDir: dir!, after: cleanup });
  const store: StoreCapability | undefined = storeInstance.capabilities?.().store;
  assert.ok(store !== undefined, 'the store plugin supplies `store`');
  await store.redis.flushdb();
  const { ctx, instance } = await startPlugin(plugin, config, { dataDir: dir!, capabilities: { store }, after: cleanup });
  const greet = (name: unknown, signer?: string): Promise<GreetResult> =>
    ctx.call<GreetResult>(HELLO_PROTOCOL, 'greet', { name }, signer === undefined ? {} : { signer });
  return { ctx, instance, store, greet };
}

test('config: defaults applied, strict keys, blocked names follow the name rule', () => {
  assert.deepEqual(HelloConfigSchema.parse({}), { greeting: 'hello', blocked: [] });
  assert.deepEqual(HelloConfigSchema.parse({}), { ...HELLO_DEFAULTS, blocked: [] });
  assert.deepEqual(HelloConfigSchema.parse({ greeting: 'hi', blocked: ['mallory'] }), { greeting: 'hi', blocked: ['mallory'] });
  const cases: { raw: unknown; path: string }[] = [
    { raw: { greting: 'hi' }, path: '' },
    { raw: { greeting: '' }, path: 'greeting' },
    { raw: { blocked: ['Mallory'] }, path: 'blocked.0' },
    { raw: { blocked: 'mallory' }, path: 'blocked' },
  ];
  for (const c of cases) {
    const parsed = HelloConfigSchema.safeParse(c.raw);
    assert.equal(parsed.success, false, JSON.stringify(c.raw));
    assert.equal(parsed.error?.issues[0]?.path.join('.'), c.path, JSON.stringify(c.raw));
  }
  // Two configs never share one default array.
  const a = HelloConfigSchema.parse({});
  a.blocked.push('x');
  assert.deepEqual(HelloConfigSchema.parse({}).blocked, []);
});

test('greet answers with the greeting and counts per signing key in Redis', async (t) => {
  const { greet, store } = await startHello(t, { greeting: 'ahoy' });
  const alice = newSigner();
  const bob = newSigner();
  assert.deepEqual(await greet('carol', alice), { text: 'ahoy, carol', count: 1 });
  assert.deepEqual(await greet('carol.example', alice), { text: 'ahoy, carol.example', count: 2 });
  assert.deepEqual(await greet('carol', bob), { text: 'ahoy, carol', count: 1 });
  assert.deepEqual(await store.redis.hgetall(GREETINGS_KEY), { [alice]: '2', [bob]: '1' });
});

test('params are validated: ERR_PARAMS_INVALID naming the field', async (t) => {
  const { ctx } = await startHello(t);
  const signer = newSigner();
  for (const [params, path] of [
    [{}, 'name'],
    [{ name: 'Alice' }, 'name'],
    [{ name: 'a'.repeat(129) }, 'name'],
    [{ name: 42 }, 'name'],
    [{ name: 'alice', extra: 1 }, '(params)'],
  ] as const) {
    const err = await ctx.call(HELLO_PROTOCOL, 'greet', params, { signer }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof PlexusError, JSON.stringify(params));
    assert.equal(err.code, 'ERR_PARAMS_INVALID', JSON.stringify(params));
    assert.equal(err.data?.path, path, JSON.stringify(params));
  }
});

test('an unsigned greet is refused with ERR_AUTH_REQUIRED and counts nothing', async (t) => {
  const { greet, store } = await startHello(t);
  assert.equal(await codeOf(greet('alice')), 'ERR_AUTH_REQUIRED');
  assert.equal(await store.redis.exists(GREETINGS_KEY), 0);
});

test('a blocked name is refused with ERR_HELLO_BLOCKED (with a hint) and not counted', async (t) => {
  const { greet, store } = await startHello(t, { blocked: ['mallory'] });
  const signer = newSigner();
  const err = await greet('mallory', signer).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof PlexusError);
  assert.equal(err.code, 'ERR_HELLO_BLOCKED');
  assert.deepEqual(err.data, { name: 'mallory' });
  assert.match(hintFor('ERR_HELLO_BLOCKED') ?? '', /plugins\.hello\.blocked/);
  assert.equal(await store.redis.hget(GREETINGS_KEY, signer), null);
  // Blocking is per name, not per caller.
  assert.equal((await greet('mallory.example', signer)).count, 1);
});

test('status and the hello capability reflect the greetings', async (t) => {
  const { instance, greet } = await startHello(t, { greeting: 'hi' });
  const alice = newSigner();
  await greet('bob', alice);
  await greet('bob', alice);
  await greet('bob', newSigner());
  assert.deepEqual(await instance.status?.(), { serving: true, protocol: '/plexus/hello/1', greeting: 'hi', greeters: 2 });
  // Typed through the CapabilityMap merge in src/index.ts: no cast.
  const hello: HelloCapability | undefined = instance.capabilities?.().hello;
  assert.ok(hello !== undefined);
  assert.equal(hello.greeting, 'hi');
  assert.equal(await hello.greetingsBy(alice), 2);
  assert.equal(await hello.greetingsBy(newSigner()), 0);
});

test('start twice is a no-op; stop unserves, withdraws the capability and may run twice', async (t) => {
  const { ctx, instance, greet } = await startHello(t);
  await instance.start();
  assert.deepEqual([...ctx.served.keys()], [HELLO_PROTOCOL]);
  assert.deepEqual(Object.keys(ctx.served.get(HELLO_PROTOCOL)!), ['greet']);
  assert.equal(ctx.served.get(HELLO_PROTOCOL)!.greet!.mutating, true);
  await instance.stop();
  assert.equal(ctx.served.size, 0);
  assert.equal(await codeOf(greet('alice', newSigner())), 'ERR_METHOD_UNKNOWN');
  assert.deepEqual(instance.capabilities?.(), {});
  assert.deepEqual(await instance.status?.(), { serving: false });
  await instance.stop();
});

test('a start that fails (no store) serves nothing, and stop after it is safe', async () => {
  const ctx = fakeContext(plugin, {});
  const instance = plugin.create(ctx);
  assert.deepEqual(await instance.status?.(), { serving: false });
  assert.equal(await codeOf(instance.start()), 'ERR_INTERNAL');
  assert.equal(ctx.served.size, 0);
  await instance.stop();
  assert.deepEqual(instance.capabilities?.(), {});
  await rm(ctx.dataDir, { recursive: true, force: true });
});

test('plugin metadata: provides hello, requires store, factory does no I/O', () => {
  assert.equal(plugin.name, 'hello');
  assert.deepEqual(plugin.provides, ['hello']);
  assert.deepEqual(plugin.requires, ['store']);
  // No store is available here: create() succeeds only because it asks for nothing until start().
  const ctx = fakeContext(plugin, {});
  plugin.create(ctx);
  assert.equal(ctx.served.size, 0);
  return rm(ctx.dataDir, { recursive: true, force: true });
});
