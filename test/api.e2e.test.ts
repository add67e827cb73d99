import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { NodeProcess, ROOT, explorerConfig, freePort, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';
import { parsePrometheusText, valueOf } from './lib/prom-text.js';

/**
 * The api plugin on real nodes: an explorer (store master, phonebook, gateway, dns, api) and a
 * DNS node (store replica, dns, api), names registered with the real `plexus` CLI, DNS asked with
 * the real `dig`. The API is checked against its own OpenAPI document (every documented path,
 * its answers validated by Ajv), /metrics parsed as Prometheus text, /events read as a stream.
 */

const run = promisify(execFile);

interface Doc {
  paths: Record<string, { get: { parameters?: { name: string; in: string; schema: Record<string, unknown> }[]; responses: Record<string, { content?: Record<string, { schema: unknown }> }> } }>;
  components: { schemas: Record<string, unknown> };
}

/** Reads Server-Sent Events from `url` until `pred` matches one; resolves with it. */
async function waitForEvent(url: string, pred: (e: { id: number; type: string; data: any }) => boolean, timeoutMs: number, headers: Record<string, string> = {}, onOpen?: () => Promise<void>): Promise<{ id: number; type: string; data: any }> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new Error(`no matching event from ${url} within ${timeoutMs} ms`)), timeoutMs);
  try {
    const res = await fetch(url, { headers, signal: ctl.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let opened = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('event stream ended');
      buf += value;
      if (!opened) {
        opened = true;
        await onOpen?.();
      }
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const f = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':') && l.includes(': ')).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
        if (f.event === undefined) continue;
        const e = { id: Number(f.id), type: f.event, data: JSON.parse(f.data ?? 'null') };
        if (pred(e)) return e;
      }
    }
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
}

describe('api plugin on an explorer and a DNS node', () => {
  let dir: string;
  let explorer: NodeProcess;
  let replica: NodeProcess;
  let api: string;
  let replicaApi: string;
  let dnsPort: number;
  let doc: Doc;
  const env = (): Record<string, string> => ({ HOME: dir, PLEXUS_KEY: join(dir, 'user.key') });
  const cli = (args: string[]) => runCli([...args, '--explorer', explorer.multiaddr, '--json'], env());

  before(async () => {
    dir = await tempDir('plexus-api-');
    dnsPort = await freePort();
    const apiPort = await freePort();
    const { file, ports } = await explorerConfig(
      dir,
      `  gateway: { zones: [gateway.tf], publicIps: [127.0.0.1] }
  dns: { listen: ['127.0.0.1:${dnsPort}'], zones: [gateway.tf] }
  hosts: {}
  api: { listen: '127.0.0.1:${apiPort}' }
`,
    );
    explorer = await NodeProcess.start(file);
    api = `http://127.0.0.1:${apiPort}`;
    const [replicaApiPort, replicaRedis, replicaP2p, replicaDns] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const replicaFile = await writeConfig(
      dir,
      'dns-node',
      `node:
  name: dns-1
  dataDir: ${join(dir, 'replica-data')}
  listen: [/ip4/127.0.0.1/tcp/${replicaP2p}]
plugins:
  store: { mode: replica, port: ${replicaRedis}, replicaOf: { host: 127.0.0.1, port: ${ports.redis}, passwordFile: ${join(dir, 'data/store/redis.password')} } }
  dns: { listen: ['127.0.0.1:${replicaDns}'], zones: [gateway.tf] }
  api: { listen: '127.0.0.1:${replicaApiPort}' }
`,
    );
    replica = await NodeProcess.start(replicaFile);
    replicaApi = `http://127.0.0.1:${replicaApiPort}`;
    doc = (await (await fetch(`${api}/openapi.json`)).json()) as Doc;
  });

  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  test('every documented path answers as its OpenAPI document says; bad parameters are coded 400s', async () => {
    const reg = await cli(['phonebook', 'register', '--name', 'alice', '--email', 'alice@example.org', '--ipaddr', '10.2.0.5']);
    assert.equal(reg.code, 0, reg.stderr);
    const a = await cli(['gateway', 'register-a', '--name', 'alice', '--ip', '10.2.0.5']);
    assert.equal(a.code, 0, a.stderr);

    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema({ $id: 'doc', components: doc.components });
    const schemaOf = (s: unknown): unknown => JSON.parse(JSON.stringify(s).replaceAll('"#/components/', '"doc#/components/'));
    const values: Record<string, string> = { name: 'alice', zone: 'gateway.tf' };
    const apiPaths = Object.keys(doc.paths).filter((p) => p.startsWith('/api/'));
    assert.deepEqual(apiPaths.sort(), ['/api/v1/dns-nodes', '/api/v1/hosts', '/api/v1/names', '/api/v1/names/{name}', '/api/v1/names/{name}/domains', '/api/v1/routes', '/api/v1/status', '/api/v1/zones', '/api/v1/zones/{zone}/records']);
    // The DNS node runs no phonebook, gateway or hosts: those routes are left out of its document and answer 404.
    const replicaDoc = (await (await fetch(`${replicaApi}/openapi.json`)).json()) as Doc;
    assert.deepEqual(Object.keys(replicaDoc.paths).filter((p) => p.startsWith('/api/')).sort(), ['/api/v1/dns-nodes', '/api/v1/routes', '/api/v1/status', '/api/v1/zones', '/api/v1/zones/{zone}/records']);
    for (const path of ['/api/v1/hosts', '/api/v1/names', '/api/v1/names/alice']) {
      const absent = await fetch(replicaApi + path);
      assert.equal(absent.status, 404, path);
      assert.equal(((await absent.json()) as any).error.code, 'ERR_API_NOT_SERVED');
    }

    for (const path of apiPaths) {
      const op = doc.paths[path]!.get;
      const url = api + path.replace(/\{([a-z_]+)\}/g, (_, k: string) => values[k]!);
      const res = await fetch(url);
      assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
      const body = await res.json();
      const validate = ajv.compile(schemaOf(op.responses['200']!.content!['application/json']!.schema) as object);
      assert.ok(validate(body), `${path}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
      // Every integer query parameter refuses text with the documented error, naming the parameter.
      for (const p of op.parameters ?? []) {
        if (p.in !== 'query' || p.schema.type !== 'integer') continue;
        const bad = await fetch(`${url}?${p.name}=abc`);
        assert.equal(bad.status, 400, `${path}?${p.name}=abc`);
        const err = (await bad.json()) as any;
        const v = ajv.compile(schemaOf(op.responses['400']!.content!['application/json']!.schema) as object);
        assert.ok(v({ ...err }), ajv.errorsText(v.errors));
        assert.equal(err.error.code, 'ERR_PARAMS_INVALID');
        assert.equal(err.error.data.path, p.name);
      }
    }
    const missing = await fetch(`${api}/api/v1/names/nobody`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as any).error.code, 'ERR_NOT_FOUND');

    const record = (await (await fetch(`${api}/api/v1/names/alice`)).json()) as any;
    assert.equal(record.ipaddr, '10.2.0.5');
    const domains = (await (await fetch(`${api}/api/v1/names/alice/domains`)).json()) as any;
    assert.deepEqual(domains.items.map((e: any) => e.fqdn), ['alice.gateway.tf']);
  });

  test('lists page: walking next with limit=1 gives every name once', async () => {
    for (const name of ['bob', 'carol']) assert.equal((await cli(['phonebook', 'register', '--name', name, '--email', `${name}@example.org`, '--key', join(dir, `${name}.key`)])).code, 0);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await fetch(`${api}/api/v1/names?limit=1${cursor === null ? '' : `&cursor=${cursor}`}`)).json()) as any;
      assert.ok(page.items.length <= 1);
      seen.push(...page.items.map((r: any) => r.name));
      cursor = page.next;
    } while (cursor !== null);
    assert.deepEqual(seen, ['alice', 'bob', 'carol']);
  });

  test('/metrics parses as Prometheus text; RPC, DNS, store, api and process series move with traffic', async () => {
    const scrape = async () => {
      const res = await fetch(`${api}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return parsePrometheusText(await res.text());
    };
    const before = await scrape();
    const reg = { plugin: 'phonebook', method: 'name_register', code: 'OK' };
    const dnsA = { qtype: 'A', rcode: 'NOERROR', transport: 'udp' };
    assert.equal((await cli(['phonebook', 'register', '--name', 'dave', '--email', 'd@example.org', '--key', join(dir, 'dave.key')])).code, 0);
    assert.equal((await cli(['phonebook', 'register', '--name', 'dave', '--email', 'd@example.org', '--key', join(dir, 'other.key')])).code, 1);
    const dig = await run('dig', ['@127.0.0.1', '-p', String(dnsPort), 'alice.gateway.tf', 'A', '+short']).catch((err: Error) => {
      throw new Error(`dig failed (Debian package dnsutils): ${err.message}`);
    });
    assert.equal(dig.stdout.trim(), '10.2.0.5');
    const after = await scrape();
    assert.equal((valueOf(after, 'plexus_rpc_requests_total', reg) ?? 0) - (valueOf(before, 'plexus_rpc_requests_total', reg) ?? 0), 1);
    assert.ok((valueOf(after, 'plexus_rpc_requests_total', { plugin: 'phonebook', method: 'name_register', code: 'ERR_NAME_TAKEN' }) ?? 0) >= 1, 'the refused registration is counted under its code');
    assert.ok((valueOf(after, 'plexus_rpc_request_duration_seconds_count', { plugin: 'phonebook', method: 'name_register' }) ?? 0) > (valueOf(before, 'plexus_rpc_request_duration_seconds_count', { plugin: 'phonebook', method: 'name_register' }) ?? 0));
    assert.equal(after.types.get('plexus_rpc_request_duration_seconds'), 'histogram');
    assert.ok((valueOf(after, 'plexus_dns_responses_total', dnsA) ?? 0) > (valueOf(before, 'plexus_dns_responses_total', dnsA) ?? 0), 'the dig answer is counted');
    assert.ok((valueOf(after, 'plexus_dns_response_duration_seconds_count', { transport: 'udp' }) ?? 0) >= 1);
    assert.equal(valueOf(after, 'plexus_store_role', { role: 'master' }), 1);
    assert.equal(valueOf(after, 'plexus_store_up'), 1);
    assert.ok((valueOf(after, 'plexus_api_http_requests_total', { route: '/metrics', status: '200' }) ?? 0) >= 1);
    assert.ok((valueOf(after, 'plexus_process_resident_memory_bytes') ?? 0) > 0, 'process metrics are present');
    // The replica reports its link and lag; the master lists it with its offset lag.
    const replicaMetrics = parsePrometheusText(await (await fetch(`${replicaApi}/metrics`)).text());
    assert.equal(valueOf(replicaMetrics, 'plexus_store_role', { role: 'replica' }), 1);
    assert.equal(valueOf(replicaMetrics, 'plexus_store_master_link_up'), 1);
    assert.ok(valueOf(replicaMetrics, 'plexus_store_replication_lag_bytes') !== undefined);
    assert.equal(valueOf(after, 'plexus_store_connected_replicas'), 1);
    assert.equal(after.samples.filter((s) => s.name === 'plexus_store_replica_lag_bytes').length, 1);

    // The Grafana dashboard in deploy/ asks for series that exist (it would silently show nothing otherwise).
    const grafana = await readFile(join(ROOT, 'deploy/grafana/plexus.json'), 'utf8');
    const exposed = new Set([...after.samples, ...replicaMetrics.samples].map((s) => s.name));
    const asked = new Set(grafana.match(/plexus_[a-z0-9_]+/g));
    for (const name of asked) assert.ok(exposed.has(name), `deploy/grafana/plexus.json asks for ${name}, which no node exposes`);
  });

  test('DNS nodes: the explorer lists its replica with its lag; both nodes are ready', async () => {
    const nodes = (await (await fetch(`${api}/api/v1/dns-nodes`)).json()) as any;
    assert.equal(nodes.items.length, 1);
    assert.equal(nodes.items[0].role, 'replica');
    assert.equal(typeof nodes.items[0].lagBytes, 'number');
    for (const base of [api, replicaApi]) {
      const res = await fetch(`${base}/readyz`);
      const body = (await res.json()) as any;
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.ok(body.plugins.every((p: any) => p.state === 'started'));
    }
    const health = await fetch(`${api}/healthz`);
    assert.equal(health.status, 200);
  });

  test('/events: a registration on the explorer arrives on the master and on the replica; Last-Event-ID replays it', async () => {
    const register = async (): Promise<void> => {
      const r = await cli(['phonebook', 'register', '--name', 'erin', '--email', 'e@example.org', '--key', join(dir, 'erin.key')]);
      assert.equal(r.code, 0, r.stderr);
    };
    const onReplica = waitForEvent(`${replicaApi}/events`, (e) => e.type === 'name' && e.data.name === 'erin', 60_000);
    const onMaster = await waitForEvent(`${api}/events`, (e) => e.type === 'name' && e.data.name === 'erin', 60_000, {}, register);
    assert.equal(onMaster.data.name, 'erin');
    assert.equal((await onReplica).data.name, 'erin');
    const again = await waitForEvent(`${api}/events`, (e) => e.type === 'name' && e.data.name === 'erin', 10_000, { 'last-event-id': String(onMaster.id - 1) });
    assert.equal(again.id, onMaster.id);
    // A DNS record change is an event too.
    const rec = await waitForEvent(`${api}/events`, (e) => e.type === 'record' && e.data.name === 'erin', 60_000, {}, async () => {
      assert.equal((await runCli(['gateway', 'register-a', '--name', 'erin', '--ip', '10.2.0.7', '--explorer', explorer.multiaddr, '--key', join(dir, 'erin.key')], env())).code, 0);
    });
    assert.deepEqual(rec.data.records.a.map((r: any) => r.ip), ['10.2.0.7']);
    // Read from the gateway's change stream, a field per change, not by re-reading the zone.
    const zoneRecords = ((await (await fetch(`${api}/api/v1/status`)).json()) as any).plugins.api.zoneRecords;
    assert.ok(zoneRecords.streamEntries >= 1 && zoneRecords.fieldReads >= 1 && zoneRecords.checks >= 1, JSON.stringify(zoneRecords));
  });

  test('the replica reports not ready once its master is gone', async () => {
    await explorer.stop();
    const deadline = Date.now() + 60_000;
    let last: any;
    for (;;) {
      const res = await fetch(`${replicaApi}/readyz`);
      last = await res.json();
      if (res.status === 503) break;
      assert.ok(Date.now() < deadline, `still ready: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(last.ready, false);
    assert.equal(last.store.masterLink, 'down');
  });
});

describe('api plugin binding and token', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('plexus-api-token-');
  });
  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  test('a non-loopback listen without a token is a config error naming plugins.api.token (exit 2)', async () => {
    const { file } = await explorerConfig(dir, `  api: { listen: '0.0.0.0:${await freePort()}' }\n`);
    const r = await runCli(['check-config', '--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /plugins\.api\.token/);
  });

  test('with a token: status and metrics need it, public routes do not, CORS stays off', async () => {
    const port = await freePort();
    const token = 'correct-horse-battery-staple';
    const { file } = await explorerConfig(dir, `  api: { listen: '0.0.0.0:${port}', tokenFile: api.token }\n`);
    await writeFile(join(dir, 'api.token'), `${token}\n`, { mode: 0o600 });
    await NodeProcess.start(file);
    const base = `http://127.0.0.1:${port}`;
    for (const path of ['/metrics', '/api/v1/status', '/api/v1/dns-nodes']) {
      const no = await fetch(base + path);
      assert.equal(no.status, 401, path);
      assert.equal(((await no.json()) as any).error.code, 'ERR_API_TOKEN_REQUIRED');
      assert.equal((await fetch(base + path, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status, 401);
      assert.equal((await fetch(base + path, { headers: { authorization: `Bearer ${token}` } })).status, 200, path);
    }
    const pub = await fetch(`${base}/api/v1/names`, { headers: { origin: 'https://elsewhere.example' } });
    assert.equal(pub.status, 200);
    assert.equal(pub.headers.get('access-control-allow-origin'), null);
  });
});
