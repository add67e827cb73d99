import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeMetrics, defineMethod, protocolId, z, type NodeInspector, type RpcMethods, type StoreCapability } from '@plexus/core';
import { freePort, servedInspector, startPlugin, startRedis, type RedisServer } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { ApiConfigSchema, plugin, tokenMatches, type ApiService } from '../src/index.js';

/**
 * The api plugin on a fake context with a real store (the store plugin on a throw-away
 * redis-server) and a stand-in plugin's read method, over real HTTP: config rules, the document
 * following what is served, the event stream's cap and heartbeat, the per-IP connection limit,
 * readiness following the plugins' states.
 */
let server: RedisServer | undefined;
let dir: string | undefined;

before(async () => {
  server = await startRedis({ tmpPrefix: 'plexus-api-redis-' });
  dir = await mkdtemp(join(tmpdir(), 'plexus-api-'));
});

after(async () => {
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const WIDGETS = protocolId('phonebook', 1);
/** Stands in for the phonebook's `list`/`get`: the api must take their schemas as served. */
const methods: RpcMethods = {
  list: defineMethod({
    mutating: false,
    params: z.strictObject({ cursor: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(77).optional() }),
    handler: async (p) => ({ records: [{ tid: p.cursor + 1, name: 'n' }], next: null }),
  }),
  get: defineMethod({ mutating: false, params: z.strictObject({ name: z.string().max(9) }), handler: async (p) => ({ name: p.name }) }),
  name_register: defineMethod({ mutating: true, params: z.strictObject({}), handler: async () => ({}) }),
};

async function startApi(t: TestContext, config: Record<string, unknown>, inspect?: (served: Map<string, RpcMethods>, metrics: NodeMetrics) => NodeInspector) {
  const cleanup = (fn: () => Promise<void>): void => void t.after(fn);
  // One registry for both plugins, as a node has: /metrics renders the store's gauges too.
  const metrics = new NodeMetrics({ processMetrics: false });
  const { instance: storeInstance } = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${server!.port}` }, { dataDir: dir!, after: cleanup, metrics });
  const store: StoreCapability = storeInstance.capabilities!().store!;
  await store.redis.flushdb();
  const served = new Map<string, RpcMethods>([[WIDGETS, methods]]);
  const port = await freePort();
  const { instance } = await startPlugin(plugin, { listen: `127.0.0.1:${port}`, ...config }, {
    dataDir: dir!,
    capabilities: { store },
    metrics,
    inspect: inspect?.(served, metrics) ?? servedInspector(served, metrics),
    after: cleanup,
  });
  return { base: `http://127.0.0.1:${port}`, port, store, served, instance: instance as ApiService };
}

test('config: loopback by default; another address needs a token, named at plugins.api.token', () => {
  assert.equal(ApiConfigSchema.parse({}).listen, '127.0.0.1:8088');
  const cases: { raw: Record<string, unknown>; path: string | undefined }[] = [
    { raw: { listen: '127.0.0.1:9000' }, path: undefined },
    { raw: { listen: '[::1]:9000' }, path: undefined },
    { raw: { listen: '0.0.0.0:9000' }, path: 'token' },
    { raw: { listen: '10.1.0.1:9000' }, path: 'token' },
    { raw: { listen: '0.0.0.0:9000', token: 'sixteen-chars-ok' }, path: undefined },
    { raw: { listen: '0.0.0.0:9000', tokenFile: 'api.token' }, path: undefined },
    { raw: { token: 'short' }, path: 'token' },
    { raw: { token: 'sixteen-chars-ok', tokenFile: 'x' }, path: 'tokenFile' },
    { raw: { lisen: '127.0.0.1:1' }, path: '' },
    { raw: { limits: { maxPerIp: 0 } }, path: 'limits.maxPerIp' },
    { raw: { corsOrigins: ['not a url'] }, path: 'corsOrigins.0' },
    { raw: { events: { heartbeatMs: 60_000 } }, path: 'events.heartbeatMs' },
  ];
  for (const c of cases) {
    const parsed = ApiConfigSchema.safeParse(c.raw);
    assert.equal(parsed.error?.issues[0]?.path.join('.'), c.path, JSON.stringify(c.raw));
  }
});

test('tokenMatches: exact token only, whatever the length presented', () => {
  assert.equal(tokenMatches('sixteen-chars-ok', 'sixteen-chars-ok'), true);
  assert.equal(tokenMatches('sixteen-chars-ok!', 'sixteen-chars-ok'), false);
  assert.equal(tokenMatches('', 'sixteen-chars-ok'), false);
  assert.equal(tokenMatches(undefined, 'sixteen-chars-ok'), false);
});

test('the document follows what is served: parameters come from the method schemas, a route goes when its method does', async (t) => {
  const { base, served } = await startApi(t, {});
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as any;
  const list = doc.paths['/api/v1/names'].get;
  const limit = list.parameters.find((p: any) => p.name === 'limit');
  assert.equal(limit.schema.maximum, 77, 'the limit bound is the served schema’s');
  assert.equal(doc.paths['/api/v1/names/{name}'].get.parameters[0].schema.maxLength, 9);
  assert.equal(doc.paths['/api/v1/names/{name}/domains'], undefined, 'no gateway here');
  assert.equal((await fetch(`${base}/api/v1/names/abcdefghijk`)).status, 400, 'the served schema validates');
  assert.deepEqual(await (await fetch(`${base}/api/v1/names?cursor=4`)).json(), { items: [{ tid: 5, name: 'n' }], next: null });

  served.delete(WIDGETS);
  const after = (await (await fetch(`${base}/openapi.json`)).json()) as any;
  assert.equal(after.paths['/api/v1/names'], undefined);
  const gone = await fetch(`${base}/api/v1/names`);
  assert.equal(gone.status, 404);
  assert.equal(((await gone.json()) as any).error.code, 'ERR_API_NOT_SERVED');
});

test('/events: at most maxClients streams (the next gets 503 ERR_API_TOO_MANY_CLIENTS); a heartbeat comment keeps a quiet stream open', async (t) => {
  const { base } = await startApi(t, { events: { maxClients: 1, heartbeatMs: 1000 } });
  const ctl = new AbortController();
  t.after(() => ctl.abort());
  const first = await fetch(`${base}/events`, { signal: ctl.signal });
  assert.equal(first.status, 200);
  const second = await fetch(`${base}/events`);
  assert.equal(second.status, 503);
  assert.equal(((await second.json()) as any).error.code, 'ERR_API_TOO_MANY_CLIENTS');
  const reader = first.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const deadline = Date.now() + 10_000;
  while (!text.includes(': ping') && Date.now() < deadline) text += (await reader.read()).value ?? '';
  assert.match(text, /: ping\n\n/);
});

test('/events: a record written to the store is an event, the zone and field named', async (t) => {
  const { base, store } = await startApi(t, {}, (served, metrics) => servedInspector(served, metrics));
  // Without gateway or dns there are no zones to watch; the phonebook keys and routes still are.
  const ctl = new AbortController();
  t.after(() => ctl.abort());
  const res = await fetch(`${base}/events`, { signal: ctl.signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  await reader.read(); // the stream is attached once its first bytes arrive
  await store.redis.hset('phonebook:user:7', { tid: '7', name: 'gina', pubkey: 'ab'.repeat(32), updated: '1', created: '1' });
  let text = '';
  const deadline = Date.now() + 10_000;
  while (!text.includes('"gina"') && Date.now() < deadline) text += (await reader.read()).value ?? '';
  assert.match(text, /event: name\ndata: \{"tid":7,"name":"gina"/);
});

test('connections per IP are capped (limits.maxPerIp): the one over is closed at accept', async (t) => {
  const { port } = await startApi(t, { limits: { maxPerIp: 2 } });
  const open = (): Promise<'open' | 'closed'> =>
    new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      t.after(() => void s.destroy());
      s.once('connect', () => {
        // The server closes an over-limit socket at once; a kept one stays quiet.
        const timer = setTimeout(() => resolve('open'), 1000);
        s.once('close', () => {
          clearTimeout(timer);
          resolve('closed');
        });
      });
      s.once('error', () => resolve('closed'));
    });
  assert.deepEqual([await open(), await open(), await open()], ['open', 'open', 'closed']);
});

test('/readyz is 503 until every plugin started; /metrics renders the registry', async (t) => {
  let state: 'starting' | 'started' = 'starting';
  const { base } = await startApi(t, {}, (served, metrics) => ({ ...servedInspector(served, metrics), plugins: () => [{ name: 'store', state: 'started' }, { name: 'api', state }] }));
  assert.equal((await fetch(`${base}/readyz`)).status, 503);
  state = 'started';
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  const text = await (await fetch(`${base}/metrics`)).text();
  assert.match(text, /^plexus_store_role\{role="master"\} 1$/m);
  assert.match(text, /^# TYPE plexus_api_http_requests_total counter$/m);
});
