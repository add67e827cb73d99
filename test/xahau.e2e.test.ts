import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateSeed } from 'ripple-keypairs';
import { generateKeyPair, toHex, type StoreCapability } from '@plexus/core';
import { startPlugin } from '@plexus/core/testing';
import { HOST_LABEL, plugin as hostingPlugin } from '@plexus/plugin-hosting';
import {
  PARAM_EVENT_DATA_KEY,
  PARAM_EVENT_TYPE_KEY,
  decodeHookParams,
  decodeMemos,
  encodeHookParams,
  encodeMemo,
  hostKeyFromSecret,
  openAnonymous,
  plugin as xahauPlugin,
  sealAnonymous,
} from '@plexus/plugin-ledger-xahau';
import { dockerApi, ensureDockerd, ensureTestImage, type Dockerd } from './lib/dockerd.js';
import { startTestStore } from './lib/test-store.js';
import { NodeProcess, freePort, killAllNodes, removeDir, runCli, tempDir, writeConfig, type CliResult } from './lib/harness.js';
import { StandinLedger, StandinServer, type Entry, type Token } from './lib/xahau-standin.js';

/**
 * The Xahau lease source feeding the real hosting plugin on a real dockerd: a tenant's URITokenBuy
 * (through a local xahaud stand-in) becomes a running container, the acquire-success Payment
 * carries the instance details in Evernode's field names, sealed to the tenant's MessageKey with
 * libsodium's sealed box; an EVR payment extends it and a terminate payment removes it.
 */

let docker: Dockerd;
let image: string;
let store: StoreCapability;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  docker = await ensureDockerd();
  image = await ensureTestImage(docker.socket);
  const s = await startTestStore('plexus-xahau-e2e');
  store = s.store;
  cleanups.push(s.stop);
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await docker?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const portFree = (p: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
  });

async function freeRange(): Promise<{ peer: number; user: number }> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let ok = true;
    for (let i = 0; i < 6 && ok; i++) ok = await portFree(base + i);
    if (ok) return { peer: base, user: base + 3 };
  }
}

test('a tenant acquires, extends and terminates a real instance through Xahau transactions', { timeout: 180_000 }, async (t) => {
  const ledger = new StandinLedger();
  const server = await StandinServer.start(ledger);
  t.after(() => server.stop());
  const seed = (n: number, algorithm: 'ed25519' | 'ecdsa-secp256k1' = 'ed25519'): string => {
    // Family seeds from fixed entropy: the accounts are the same on every run.
    return generateSeed({ entropy: new Uint8Array(16).fill(n), algorithm });
  };
  const host = hostKeyFromSecret(seed(21));
  const tenantAccount = hostKeyFromSecret(seed(22, 'ecdsa-secp256k1'));
  const messageKey = hostKeyFromSecret(seed(23)); // the tenant account's MessageKey (Ed25519)
  const owner = generateKeyPair(); // the instance owner key (owner_pubkey)
  ledger.account(host.address);
  ledger.account(tenantAccount.address).MessageKey = messageKey.publicKey;
  const issuer = hostKeyFromSecret(seed(24)).address;
  const dir = await mkdtemp(join(tmpdir(), 'plexus-xahau-e2e-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'secret'), seed(21), { mode: 0o600 });
  const { instance: xahau } = await startPlugin(
    xahauPlugin,
    { servers: [server.url], hostAccount: host.address, secretFile: 'secret', heartbeatAccount: hostKeyFromSecret(seed(25)).address, evrIssuer: issuer, heartbeat: false, reconnectDelayMs: 50, slots: { count: 2, leaseAmount: '2', tosHash: 'ab'.repeat(32), checkEveryMs: 500 } },
    { configDir: dir, dataDir: join(dir, 'xahau'), capabilities: { store }, after: (fn) => void t.after(fn) },
  );
  const hostId = `xahau-host-${randomBytes(4).toString('hex')}`;
  const ports = await freeRange();
  const { instance: hosting } = await startPlugin(
    hostingPlugin,
    { docker: { socket: docker.socket }, capacity: { instances: 2, cpus: 1, memoryMb: 256, diskMb: 256 }, ports, publicHost: 'host.test', bindIp: '127.0.0.1' },
    { dataDir: join(dir, 'hosting'), capabilities: { store, ledger: xahau.capabilities!().ledger! }, node: { peerId: hostId } },
  );
  t.after(async () => {
    await hosting.stop();
    const left = await dockerApi(docker.socket, 'GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${HOST_LABEL}=${hostId}`] }))}`);
    for (const c of (left.json ?? []) as { Id: string }[]) await dockerApi(docker.socket, 'DELETE', `/containers/${c.Id}?force=true&v=true`);
    await store.redis.del(`hosting:${hostId}:leases`);
  });
  const closeUntil = async (what: string, cond: () => boolean, ms = 90_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      ledger.close();
      await sleep(100);
    }
  };
  const replies = (): Entry[] => ledger.submitted.filter((e) => e.tx.Destination === tenantAccount.address);
  // The tenant's transactions, with their URIToken effects (the stand-in applies a URITokenBuy as xahaud does).
  const send = (tx: Record<string, unknown>): string => ledger.sendAs(tenantAccount, tx).hash;
  await closeUntil('the connection', () => server.connections === 1, 10_000);
  // The host mints one lease slot token per instance of capacity and offers it for 2 EVR.
  const offered = (): Token[] => [...ledger.tokensAt('validated').values()].filter((x) => x.Owner === host.address && x.Issuer === host.address && x.Amount !== undefined);
  await closeUntil('two offered lease slots', () => offered().length === 2, 30_000);

  // Acquire: URITokenBuy of an offered lease slot token, requirement sealed to the host's key.
  const slot = offered()[0]!;
  const token = slot.index;
  const requirement = { owner_pubkey: `ed${toHex(owner.publicKey)}`, contract_id: 'c0ffee-xahau', image, config: { greeting: 'hi from xahau' } };
  const memo = Buffer.concat([Buffer.from([1]), sealAnonymous(host.publicKey, Buffer.from(JSON.stringify(requirement)))]).toString('base64');
  const price = { currency: 'EVR', issuer, value: '2' };
  assert.deepEqual(slot.Amount, price);
  const acquireHash = send({ TransactionType: 'URITokenBuy', URITokenID: token, Amount: price, HookParameters: encodeHookParams([{ name: PARAM_EVENT_TYPE_KEY, value: 'evnAcquireLease' }]), Memos: [encodeMemo({ type: 'evnAcquireLease', format: 'base64', data: memo })] });
  await closeUntil('the acquire reply', () => replies().length === 1);
  const success = replies()[0]!;
  assert.deepEqual([...decodeHookParams(success.tx.HookParameters).values()], ['evnAcquireSuccess', acquireHash]);
  const body = Buffer.from(decodeMemos(success.tx.Memos)[0]!.data, 'base64');
  assert.equal(body[0], 1);
  // What an Evernode tenant client reads (COMPAT §5): the instance in Evernode's field names.
  const info = JSON.parse(Buffer.from(openAnonymous(body.subarray(1), messageKey.messageSeed!)).toString()) as { name: string; domain: string; pubkey: string; contract_id: string; peer_port: number; user_port: number; lease_id: string; expires_at: string };
  assert.equal(info.contract_id, 'c0ffee-xahau');
  assert.equal(info.domain, 'host.test');
  assert.equal(info.user_port, ports.user);
  assert.equal(info.peer_port, ports.peer);
  assert.match(info.pubkey, /^[0-9a-f]{64}$/);
  const details = { userPort: info.user_port, expiresAt: info.expires_at };
  const page = await (async () => {
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`http://127.0.0.1:${details.userPort}/config.json`, { signal: AbortSignal.timeout(2000) }).then((x) => x.text(), () => undefined);
      if (r !== undefined) return r;
      await sleep(100);
    }
    return undefined;
  })();
  assert.match(page ?? '', /hi from xahau/, 'the instance serves the tenant config');

  // Extend by 3 moments (6 EVR at 2 EVR per moment).
  const extendHash = send({ TransactionType: 'Payment', Destination: host.address, Amount: { ...price, value: '6' }, HookParameters: encodeHookParams([{ name: PARAM_EVENT_TYPE_KEY, value: 'evnExtendLease' }, { name: PARAM_EVENT_DATA_KEY, value: token }]) });
  await closeUntil('the extend reply', () => replies().length === 2);
  const ext = replies()[1]!;
  assert.deepEqual([...decodeHookParams(ext.tx.HookParameters).values()], ['evnExtendSuccess', extendHash]);
  const moment = Number.parseInt(decodeMemos(ext.tx.Memos)[0]!.data, 16);
  assert.equal(moment, Math.floor((Date.parse(details.expiresAt) / 1000 + 3 * 3600) / 3600), 'expiry moment = old expiry + 3 moments');

  // Terminate: the container goes.
  send({ TransactionType: 'Payment', Destination: host.address, Amount: '1', HookParameters: encodeHookParams([{ name: PARAM_EVENT_TYPE_KEY, value: 'evnTerminateLease' }, { name: PARAM_EVENT_DATA_KEY, value: token }]) });
  const containers = async (): Promise<unknown[]> => (await dockerApi(docker.socket, 'GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({ label: [`${HOST_LABEL}=${hostId}`] }))}`)).json as unknown[];
  const deadline = Date.now() + 60_000;
  while ((await containers()).length > 0) {
    if (Date.now() > deadline) assert.fail('the container is still there after terminate');
    ledger.close();
    await sleep(200);
  }
  assert.equal(replies().length, 2, 'terminate has no reply in the protocol');
  // The slot goes back on offer: the tenant's token burned, a new one minted and offered.
  await closeUntil('the slot offered again', () => offered().length === 2 && !ledger.tokens.has(token), 30_000);
});

test('a node with ledger-xahau: `plexus xahau status` and `plexus status` show the account, the server and the ledger', { timeout: 90_000 }, async (t) => {
  const ledger = new StandinLedger();
  const server = await StandinServer.start(ledger);
  t.after(() => server.stop());
  const secret = generateSeed({ entropy: new Uint8Array(16).fill(41), algorithm: 'ed25519' });
  const host = hostKeyFromSecret(secret);
  ledger.account(host.address);
  const dir = await tempDir('plexus-xahau-node-');
  t.after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });
  await writeFile(join(dir, 'xahau.secret'), secret, { mode: 0o600 });
  const file = await writeConfig(
    dir,
    'host',
    `node:
  dataDir: ${join(dir, 'data')}
  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]
plugins:
  store: { port: ${await freePort()} }
  ledger-xahau:
    servers: [${server.url}]
    hostAccount: ${host.address}
    secretFile: xahau.secret
    heartbeatAccount: ${hostKeyFromSecret(generateSeed({ entropy: new Uint8Array(16).fill(42), algorithm: 'ed25519' })).address}
    heartbeat: false
`,
  );
  const node = await NodeProcess.start(file);
  const deadline = Date.now() + 20_000;
  let status: CliResult;
  for (;;) {
    ledger.close();
    status = await runCli(['xahau', 'status', '--config', file, '--json']);
    if (status.code === 0 && status.json.server === server.url && status.json.ledger === ledger.validated) break;
    if (Date.now() > deadline) assert.fail(`xahau status never showed the server and ledger: ${status.stdout}${status.stderr}`);
    await sleep(200);
  }
  assert.equal(status.json.account, host.address);
  assert.equal(status.json.hostAttached, false, 'no hosting plugin in this node');
  const human = await runCli(['xahau', 'status', '--config', file]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, new RegExp(`account +${host.address}`));
  assert.match(human.stdout, new RegExp(`server +${server.url.replace(/[.]/g, '\\.')}`));
  const all = await runCli(['status', '--config', file, '--json']);
  assert.equal(all.json.plugins['ledger-xahau'].account, host.address);
  const exit = await node.stop('SIGINT');
  assert.equal(exit.code, 0, node.stderr);
});
