import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { type CapabilityMap, type PluginDefinition, type PluginInstance, RpcServer, type StoreCapability, createP2pNode, silentLogger } from '@plexus/core';
import { fakeContext } from '@plexus/core/testing';
import { plugin as phonebookPlugin } from '@plexus/plugin-phonebook';
import { plugin as gatewayPlugin } from '../src/index.js';
import { startRedis, type RedisServer } from './redis.js';
import { rawService } from './harness.js';

/**
 * The CLI as a user runs it: `plexus` child processes talking over libp2p to a real RPC server
 * that serves the real phonebook and gateway plugins on a real redis-server. Checks the signed
 * envelope reaches the handlers (call.signer) and what ends up in Redis.
 */
const PLEXUS = fileURLToPath(new URL('./cli/main.js', import.meta.resolve('@plexus/core')));
const CONFIG = { zones: ['threebot.gateway.tf', 'gateway.tf'], publicIps: ['185.69.166.1'] };

let server: RedisServer | undefined;
let redis: Redis;
let dir: string;
let addr: string;
let stopAll: (() => Promise<void>) | undefined;

function startPlugin<C>(def: PluginDefinition<C>, config: unknown, rpc: RpcServer, capabilities: Partial<CapabilityMap>): PluginInstance {
  return def.create(fakeContext(def, config, { dataDir: dir, capabilities, rpc: { serve: (p, m) => rpc.serve(p, m), unserve: (p) => rpc.unserve(p) } }));
}

before(async () => {
  server = await startRedis();
  redis = server.client();
  dir = await mkdtemp(join(tmpdir(), 'plexus-gateway-cli-'));
  const node = await createP2pNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
  const rpc = new RpcServer(node, { maxFrameBytes: 1 << 20, maxClockSkewMs: 60_000, maxInFlightPerStream: 16, rateLimit: { perSecond: 0, burst: 1 } }, silentLogger());
  const store = { redis, role: 'master' } as StoreCapability;
  const phonebook = startPlugin(phonebookPlugin, {}, rpc, { store });
  await phonebook.start();
  const gateway = startPlugin(gatewayPlugin, CONFIG, rpc, { store, ...phonebook.capabilities?.() });
  await gateway.start();
  addr = node.getMultiaddrs()[0]!.toString();
  stopAll = async () => {
    await gateway.stop();
    await phonebook.stop();
    await node.stop();
  };
});

after(async () => {
  await stopAll?.();
  await server?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function plexus(...args: string[]): Promise<{ code: number | null; json: any; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PLEXUS, ...args, '--explorer', addr, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, json, stderr });
    });
  });
}

/** The CLI with human output: exit code and stderr. */
function plexusHuman(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PLEXUS, ...args, '--explorer', addr], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('register in the phonebook, expose, add records, list, delete: all through the CLI', { timeout: 60_000 }, async () => {
  const aliceKey = join(dir, 'alice.key');
  const bobKey = join(dir, 'bob.key');
  const reg = await plexus('phonebook', 'register', '--name', 'alice', '--email', 'alice@example.org', '--key', aliceKey);
  assert.equal(reg.code, 0, reg.stderr);
  assert.equal((await plexus('phonebook', 'register', '--name', 'bob', '--email', 'bob@example.org', '--key', bobKey)).code, 0);

  const exposed = await plexus('gateway', 'expose', '--name', 'alice', '--ip', '10.2.0.5', '--key', aliceKey);
  assert.equal(exposed.code, 0, exposed.stderr);
  assert.deepEqual(exposed.json, { fqdn: 'alice.threebot.gateway.tf', privateip: '10.2.0.5' });
  assert.equal((await rawService(redis, '/tcprouter/service/alice.threebot.gateway.tf')).inner, '{"addr": "10.2.0.5", "tlsport": 443, "httpport": 80, "clientsecret": ""}');
  assert.equal(await redis.hget('alice.threebot.gateway.tf.', '@'), '{"cname":[{"host":"threebot.gateway.tf.","ttl":300}]}');

  const a = await plexus('gateway', 'register-a', '--name', 'www.alice', '--domain', 'gateway.tf', '--ip', '10.2.0.6', '--ip', '10.2.0.7', '--key', aliceKey);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(await redis.hget('gateway.tf.', 'www.alice'), '{"a":[{"ip":"10.2.0.6","ttl":300},{"ip":"10.2.0.7","ttl":300}]}');
  const txt = await plexus('gateway', 'register-txt', '--name', '_acme-challenge.alice', '--text', 'token-123', '--key', aliceKey);
  assert.equal(txt.code, 0, txt.stderr);
  // alice is exposed, so its own hash exists: that is where DNS servers look for names below it.
  assert.equal(await redis.hget('alice.threebot.gateway.tf.', '_acme-challenge'), '{"txt":[{"text":"token-123","ttl":300}]}');
  assert.equal(await redis.hget('threebot.gateway.tf.', '_acme-challenge.alice'), null);

  // Bob's key, alice's name: refused with exit 1 and the code in the JSON error.
  const stolen = await plexus('gateway', 'register-cname', '--name', 'www.alice', '--domain', 'gateway.tf', '--host', 'evil.example.org', '--key', bobKey);
  assert.equal(stolen.code, 1);
  assert.equal(stolen.json.error.code, 'ERR_FORBIDDEN');
  const alicePub = (reg.json as { pubkey: string }).pubkey;
  assert.equal(stolen.json.error.data.owner, alicePub, 'the error names the key that owns the name');
  assert.notEqual(stolen.json.error.data.signer, alicePub);
  const human = await plexusHuman('gateway', 'register-a', '--name', 'alice', '--ip', '10.2.0.9', '--key', bobKey);
  assert.equal(human.code, 1);
  assert.match(human.stderr, new RegExp(`ERR_FORBIDDEN: 'alice' belongs to key ${alicePub}, but this request was signed by [0-9a-f]{64}`));
  assert.match(human.stderr, new RegExp(`hint: you signed with ${bobKey.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*--key FILE or \\$PLEXUS_KEY`));
  const badExpose = await plexus('gateway', 'expose', '--name', 'alice', '--client-secret', 'x', '--key', bobKey);
  assert.equal(badExpose.json.error.code, 'ERR_FORBIDDEN');
  const usage = await plexus('gateway', 'expose', '--name', 'alice', '--key', aliceKey);
  assert.equal(usage.code, 2);

  const listed = await plexus('gateway', 'list', '--name', 'alice');
  assert.equal(listed.code, 0, listed.stderr);
  const fqdns = (listed.json.entries as { kind: string; fqdn?: string; domain: string }[]).map((e) => `${e.kind} ${e.fqdn ?? e.domain}`).sort();
  assert.deepEqual(fqdns, ['dns _acme-challenge.alice.threebot.gateway.tf', 'dns alice.threebot.gateway.tf', 'dns www.alice.gateway.tf', 'tcp alice.threebot.gateway.tf']);

  // An address on the exposed name would sit beside its CNAME: refused with the code's hint, then swapped with --replace.
  const beside = await plexusHuman('gateway', 'register-a', '--name', 'alice', '--ip', '10.2.0.9', '--key', aliceKey);
  assert.equal(beside.code, 1);
  assert.match(beside.stderr, /ERR_CNAME_CONFLICT: .*\n  hint: .*RFC 1034 §3\.6\.2.*--replace/);
  const replaced = await plexus('gateway', 'register-a', '--name', 'alice', '--ip', '10.2.0.9', '--replace', '--key', aliceKey);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.equal(await redis.hget('alice.threebot.gateway.tf.', '@'), '{"a":[{"ip":"10.2.0.9","ttl":300}]}');

  const del = await plexus('gateway', 'delete', '--name', 'www.alice', '--domain', 'gateway.tf', '--type', 'a', '--value', '10.2.0.6', '--key', aliceKey);
  assert.deepEqual(del.json, { fqdn: 'www.alice.gateway.tf', removed: 1 });
  assert.equal(await redis.hget('gateway.tf.', 'www.alice'), '{"a":[{"ip":"10.2.0.7","ttl":300}]}');
});
