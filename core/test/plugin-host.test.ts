import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PluginHost, type PluginHostServices } from '../src/plugin-host.js';
import type { ConfiguredPlugin } from '../src/config/load.js';
import type { PluginContext, PluginDefinition, PluginInstance } from '../src/plugin.js';
import type { CapabilityMap } from '../src/capabilities.js';
import { PlexusError } from '../src/errors.js';
import { silentLogger } from '../src/logger.js';
import { rejectsWithCode, tempDir, thrown } from './helpers.js';

interface Spec {
  name: string;
  provides?: string[];
  requires?: string[];
  /** Throws from start. */
  failStart?: boolean;
  /** Throws from stop. */
  failStop?: boolean;
  /** stop() never settles. */
  hangStop?: boolean;
  /** Runs inside start with the plugin's context. */
  onStart?: (ctx: PluginContext<unknown>) => Promise<void> | void;
  /** What capabilities() returns. */
  capabilities?: () => Record<string, unknown>;
}

/** In-memory plugins that log what happens to them into `events`. */
function plugins(events: string[], specs: Spec[]): ConfiguredPlugin[] {
  return specs.map((s) => {
    const definition: PluginDefinition<unknown> = {
      name: s.name,
      version: '0.0.1',
      description: `test plugin ${s.name}`,
      provides: s.provides ?? [],
      requires: s.requires ?? [],
      configSchema: z.unknown(),
      create(ctx) {
        events.push(`create ${s.name}`);
        const instance: PluginInstance = {
          async start() {
            events.push(`start ${s.name}`);
            if (s.failStart) throw new Error(`${s.name} cannot start`);
            await s.onStart?.(ctx);
          },
          async stop() {
            events.push(`stop ${s.name}`);
            if (s.failStop) throw new Error(`${s.name} cannot stop`);
            if (s.hangStop) await new Promise(() => undefined);
          },
        };
        if (s.capabilities !== undefined) instance.capabilities = s.capabilities as () => Partial<CapabilityMap>;
        return instance;
      },
    };
    return { key: s.name, definition, config: { of: s.name } };
  });
}

async function services(t: TestContext, extra: Partial<PluginHostServices> = {}): Promise<PluginHostServices> {
  const dir = await tempDir(t);
  return {
    log: silentLogger(),
    node: { name: 'test-node', peerId: '12D3KooWTest', publicKeyHex: '00'.repeat(32), explorers: [] },
    dataDir: join(dir, 'data'),
    configDir: dir,
    rpcFor: () => ({
      serve: async () => undefined,
      unserve: async () => undefined,
    }),
    peers: {
      connect: () => Promise.reject(new Error('no network in this test')),
      explorer: () => Promise.reject(new Error('no network in this test')),
    },
    ...extra,
  };
}

/** A host whose plugins are stopped when the test ends, whatever happened. */
function host(t: TestContext, list: ConfiguredPlugin[], svc: PluginHostServices): PluginHost {
  const h = new PluginHost(list, svc);
  t.after(() => h.stop());
  return h;
}

test('creates all instances first, then starts in the given order; stop() is the reverse', async (t) => {
  const events: string[] = [];
  const h = host(t, plugins(events, [{ name: 'a' }, { name: 'b' }, { name: 'c' }]), await services(t));
  await h.start();
  assert.deepEqual(events, ['create a', 'create b', 'create c', 'start a', 'start b', 'start c']);
  events.length = 0;
  await h.stop();
  assert.deepEqual(events, ['stop c', 'stop b', 'stop a']);
});

test('start() and stop() twice are no-ops', async (t) => {
  const events: string[] = [];
  const h = host(t, plugins(events, [{ name: 'a' }, { name: 'b' }]), await services(t));
  await h.start();
  await h.start();
  assert.deepEqual(events, ['create a', 'create b', 'start a', 'start b']);
  events.length = 0;
  await h.stop();
  await h.stop();
  assert.deepEqual(events, ['stop b', 'stop a']);
});

test('stop() before start() does nothing', async (t) => {
  const events: string[] = [];
  const h = host(t, plugins(events, [{ name: 'a' }]), await services(t));
  await h.stop();
  assert.deepEqual(events, []);
});

test('when the 3rd plugin fails to start, those started are stopped in reverse and start() rejects with ERR_PLUGIN_START', async (t) => {
  const events: string[] = [];
  const h = host(t, plugins(events, [{ name: 'a' }, { name: 'b' }, { name: 'c', failStart: true }, { name: 'd' }]), await services(t));
  const err = await rejectsWithCode(() => h.start(), 'ERR_PLUGIN_START');
  assert.ok(err instanceof PlexusError);
  assert.equal(err.data?.plugin, 'c');
  assert.ok(err.cause instanceof Error, 'the original failure is kept as the cause');
  // The failed plugin gets its stop() too (stop must be safe after a partial start); d never starts.
  assert.deepEqual(events, ['create a', 'create b', 'create c', 'create d', 'start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  events.length = 0;
  await h.stop();
  await h.start();
  assert.deepEqual(events, [], 'a failed host neither stops twice nor restarts');
});

test('a plugin that fails to stop does not keep the others running', async (t) => {
  const events: string[] = [];
  const h = host(t, plugins(events, [{ name: 'a' }, { name: 'b', failStop: true }, { name: 'c' }]), await services(t));
  await h.start();
  events.length = 0;
  await h.stop();
  assert.deepEqual(events, ['stop c', 'stop b', 'stop a']);
});

test('a plugin whose stop() hangs is given up on after stopTimeoutMs', async (t) => {
  const events: string[] = [];
  const h = host(t, plugins(events, [{ name: 'a' }, { name: 'b', hangStop: true }]), await services(t, { stopTimeoutMs: 50 }));
  await h.start();
  events.length = 0;
  await h.stop();
  assert.deepEqual(events, ['stop b', 'stop a']);
});

test('each plugin gets its own data dir (created before start), its config, and the node info', async (t) => {
  const events: string[] = [];
  const svc = await services(t);
  const seen: { dataDir: string; isDir: boolean; config: unknown; node: string; name: string; configDir: string }[] = [];
  const spec = (name: string): Spec => ({
    name,
    async onStart(ctx) {
      seen.push({ dataDir: ctx.dataDir, isDir: (await stat(ctx.dataDir)).isDirectory(), config: ctx.config, node: ctx.node.name, name: ctx.name, configDir: ctx.configDir });
    },
  });
  const h = host(t, plugins(events, [spec('a'), spec('b')]), svc);
  await h.start();
  assert.deepEqual(seen, [
    { dataDir: join(svc.dataDir, 'a'), isDir: true, config: { of: 'a' }, node: 'test-node', name: 'a', configDir: svc.configDir },
    { dataDir: join(svc.dataDir, 'b'), isDir: true, config: { of: 'b' }, node: 'test-node', name: 'b', configDir: svc.configDir },
  ]);
  assert.equal((await stat(join(svc.dataDir, 'a'))).mode & 0o777, 0o700);
});

test('capability() returns the started provider for a declared requirement and throws for an undeclared one', async (t) => {
  const events: string[] = [];
  const storeObject = { kind: 'the store' };
  let got: unknown;
  let undeclared: unknown;
  const h = host(
    t,
    plugins(events, [
      { name: 'store', provides: ['store'], capabilities: () => ({ store: storeObject }) },
      {
        name: 'phonebook',
        requires: ['store'],
        async onStart(ctx) {
          got = ctx.capability('store');
          undeclared = await thrown(() => ctx.capability('dns'));
        },
      },
    ]),
    await services(t),
  );
  await h.start();
  assert.equal(got, storeObject);
  assert.ok(undeclared instanceof PlexusError);
  assert.equal(undeclared.code, 'ERR_INTERNAL');
});

test('a plugin that provides a capability but supplies no object for it fails the start, naming it', async (t) => {
  const events: string[] = [];
  const h = host(t, plugins(events, [{ name: 'store', provides: ['store'], capabilities: () => ({}) }, { name: 'after' }]), await services(t));
  const err = await thrown(() => h.start());
  assert.ok(err instanceof PlexusError);
  assert.equal(err.code, 'ERR_PLUGIN_START');
  assert.match(err.message, /'store'.*provides: \[store\].*nothing for store/);
  assert.deepEqual(events, ['create store', 'create after', 'start store', 'stop store']);
});

test('every plugin gets its own registrar from rpcFor', async (t) => {
  const events: string[] = [];
  const asked: string[] = [];
  const served: string[] = [];
  const svc = await services(t, {
    rpcFor: (plugin) => {
      asked.push(plugin);
      return { serve: async () => void served.push(plugin), unserve: async () => undefined };
    },
  });
  const h = host(t, plugins(events, [{ name: 'a', onStart: async (ctx) => ctx.rpc.serve('/plexus/a/1', {}) }, { name: 'b' }]), svc);
  await h.start();
  assert.deepEqual(asked, ['a', 'b']);
  assert.deepEqual(served, ['a']);
});
