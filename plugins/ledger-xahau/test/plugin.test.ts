import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSeed } from 'ripple-keypairs';
import { sealTo, type LeaseRequest, type LeaseResult, type StoreCapability } from '@plexus/core';
import { startPlugin, startRedis, type RedisServer } from '@plexus/core/testing';
import {
  encodeLeaseTokenUri,
  PARAM_EVENT_DATA_KEY,
  asciiToHex,
  decodeHookParams,
  decodeMemos,
  encodeHookParams,
  encodeMemo,
  hostKeyFromSecret,
  openAnonymous,
  plugin,
  sealAnonymous,
  signTx,
  txHash as txHashOf,
  type HostKey,
} from '../src/index.js';
import { StandinLedger, StandinServer, type Entry } from '../src/testing/index.js';
import { formatStatus } from '../src/cli.js';

/**
 * The plugin against local stand-ins of xahaud (@plexus/plugin-ledger-xahau/testing) and a real redis-server: tenant
 * transactions go in as a tenant would send them, the host's replies are read back from what the
 * plugin submitted. The host handler is a fake here (the hosting plugin is not involved).
 */

const TYPE_KEY = '4556520100000000000000000000000000000000000000000000000000000002';
const HEARTBEAT = 'rHktfGUbjqzU4GsYCMc1pDjdHXb5CJamto';
const key = (n: number): HostKey => hostKeyFromSecret(generateSeed({ entropy: new Uint8Array(16).fill(n), algorithm: 'ed25519' }));
const ISSUER = key(99).address;
const evr = (value: string): Record<string, string> => ({ currency: 'EVR', issuer: ISSUER, value });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface World {
  ledger: StandinLedger;
  a: StandinServer;
  b: StandinServer;
  redis: RedisServer;
  host: HostKey;
  tenant: HostKey;
  config: Record<string, unknown>;
  configDir: string;
  requests: LeaseRequest[];
  /** Closes ledgers until `cond` holds (or fails after `ms`). */
  until(cond: () => boolean, what: string, ms?: number): Promise<void>;
  start(): Promise<{ stop(): Promise<void>; status(): Promise<Record<string, unknown>>; admin(): Promise<unknown> }>;
  replies(): Entry[];
}

async function world(t: TestContext, overrides: Record<string, unknown> = {}, handler?: (r: LeaseRequest) => Promise<LeaseResult>): Promise<World> {
  const redis = await startRedis({ tmpPrefix: 'plexus-xahau-redis-' });
  t.after(() => redis.stop());
  const ledger = new StandinLedger();
  const a = await StandinServer.start(ledger);
  const b = await StandinServer.start(ledger);
  t.after(async () => {
    await a.stop().catch(() => undefined);
    await b.stop().catch(() => undefined);
  });
  const host = key(11);
  const tenant = key(12);
  ledger.account(host.address);
  ledger.account(tenant.address).MessageKey = tenant.publicKey;
  const configDir = mkdtempSync(join(tmpdir(), 'plexus-xahau-'));
  writeFileSync(join(configDir, 'host.secret'), generateSeed({ entropy: new Uint8Array(16).fill(11), algorithm: 'ed25519' }) + '\n', { mode: 0o600 });
  const config = { servers: [a.url, b.url], hostAccount: host.address, secretFile: 'host.secret', heartbeatAccount: HEARTBEAT, evrIssuer: ISSUER, heartbeat: false, requestTimeoutMs: 2000, reconnectDelayMs: 50, ...overrides };
  const requests: LeaseRequest[] = [];
  let leases = 0;
  const fake =
    handler ??
    (async (r: LeaseRequest): Promise<LeaseResult> => {
      requests.push(r);
      const expiresAt = new Date(Date.UTC(2030, 0, 1) + requests.length * 3600_000).toISOString();
      if (r.kind === 'acquire') {
        const leaseId = `lease-${++leases}`;
        const details = { name: 'i', host: 'host.test', peerPort: 22861, userPort: 26201, contractId: 'c', pubkey: '00'.repeat(32), leaseId, expiresAt };
        return { kind: 'acquire', leaseId, expiresAt, instance: sealTo(r.tenant, Buffer.from(JSON.stringify(details))), details };
      }
      if (r.kind === 'extend') return { kind: 'extend', leaseId: r.leaseId, expiresAt };
      return { kind: 'terminate', leaseId: r.leaseId };
    });
  const w: World = {
    ledger, a, b, redis, host, tenant, config, configDir, requests,
    async until(cond, what, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        ledger.close();
        await sleep(40);
      }
    },
    async start() {
      const client = redis.client();
      const store = { redis: client, role: 'master', address: { host: '127.0.0.1', port: redis.port } } as unknown as StoreCapability;
      const { instance } = await startPlugin(plugin, config, { configDir, capabilities: { store }, after: (fn) => void t.after(fn) });
      instance.capabilities!().ledger!.serve(fake);
      return { stop: () => instance.stop(), status: () => instance.status!(), admin: () => instance.adminActions!().status!({}) };
    },
    replies: () => ledger.submitted.filter((e) => e.tx.Destination === tenant.address),
  };
  return w;
}

let tokenSeq = 0;
/** A tenant's acquire: URITokenBuy of one of the host's lease tokens, memo sealed to the host key. */
function acquire(w: World, payload: Record<string, unknown> | Buffer, opts: { event?: string; uri?: string } = {}): { hash: string; token: string } {
  const token = (++tokenSeq).toString(16).padStart(64, '0').toUpperCase();
  const body = Buffer.isBuffer(payload) ? payload : Buffer.concat([Buffer.from([1]), sealAnonymous(w.host.publicKey, Buffer.from(JSON.stringify(payload)))]);
  const tx = {
    TransactionType: 'URITokenBuy',
    Account: w.tenant.address,
    URITokenID: token,
    Amount: evr('2'),
    Fee: '1000',
    Sequence: w.ledger.account(w.tenant.address).Sequence++,
    NetworkID: 21337,
    HookParameters: encodeHookParams([{ name: TYPE_KEY, value: opts.event ?? 'evnAcquireLease' }]),
    Memos: [encodeMemo({ type: 'evnAcquireLease', format: 'base64', data: body.toString('base64') })],
  };
  const signed = signTx(tx, w.tenant, w.ledger.definitions);
  const meta = { AffectedNodes: [{ ModifiedNode: { LedgerEntryType: 'URIToken', LedgerIndex: token, PreviousFields: { Owner: w.host.address, Amount: evr('2') }, FinalFields: { Owner: w.tenant.address, Issuer: w.host.address, URI: opts.uri ?? encodeLeaseTokenUri({ version: 1, leaseIndex: tokenSeq, halfTosHash: 'ab'.repeat(16), leaseAmount: '2', identifier: tokenSeq }) } } }] };
  return { hash: w.ledger.inject(signed.tx, meta, signed.hash), token };
}

function pay(w: World, event: string, token: string, amount: unknown): string {
  const tx = { TransactionType: 'Payment', Account: w.tenant.address, Destination: w.host.address, Amount: amount, Fee: '1000', Sequence: w.ledger.account(w.tenant.address).Sequence++, NetworkID: 21337, HookParameters: encodeHookParams([{ name: TYPE_KEY, value: event }, { name: PARAM_EVENT_DATA_KEY, value: token }]) };
  const signed = signTx(tx, w.tenant, w.ledger.definitions);
  return w.ledger.inject(signed.tx, { delivered_amount: amount }, signed.hash);
}

const REQUIREMENT = { owner_pubkey: `ed${'5c'.repeat(32)}`, contract_id: 'dc411912-bcdd-4f73-af43-32ec45844b9a', image: 'evernodedev/sashimono:hp.latest', config: { x: 1 } };
const eventOf = (e: Entry): [string | undefined, string | undefined] => {
  const p = decodeHookParams(e.tx.HookParameters);
  return [p.get(TYPE_KEY), p.get(PARAM_EVENT_DATA_KEY)];
};

test('acquire, extend, terminate through the stand-in: handler called once each, replies signed, sealed and tied to the request', async (t) => {
  const w = await world(t);
  const node = await w.start();
  // Connected is not enough: a request in a ledger closed before the plugin subscribed and took its
  // starting ledger is before where a fresh host reads from (seen on a loaded machine). Its replay
  // begins after both.
  await w.until(() => w.a.commands.includes('account_tx'), 'the plugin to connect and start its replay');
  const acq = acquire(w, REQUIREMENT);
  await w.until(() => w.replies().length === 1, 'the acquire reply');
  assert.deepEqual(w.requests[0], { kind: 'acquire', tenant: '5c'.repeat(32), image: REQUIREMENT.image, config: { x: 1 }, contractId: REQUIREMENT.contract_id, durationSeconds: 3600, requestId: acq.hash });
  const reply = w.replies()[0]!;
  assert.deepEqual(eventOf(reply), ['evnAcquireSuccess', acq.hash]);
  assert.equal(reply.tx.Amount, '1');
  const memo = decodeMemos(reply.tx.Memos)[0]!;
  const raw = Buffer.from(memo.data, 'base64');
  assert.equal(raw[0], 1, 'sealed to the tenant');
  const info = JSON.parse(Buffer.from(openAnonymous(raw.subarray(1), w.tenant.messageSeed!)).toString()) as Record<string, unknown>;
  assert.equal(info.lease_id, 'lease-1');
  assert.equal(info.uri_token_id, acq.token);

  const ext = pay(w, 'evnExtendLease', acq.token, evr('6'));
  await w.until(() => w.replies().length === 2, 'the extend reply');
  assert.deepEqual(w.requests[1], { kind: 'extend', tenant: '5c'.repeat(32), leaseId: 'lease-1', durationSeconds: 3 * 3600, requestId: ext });
  const extReply = w.replies()[1]!;
  assert.deepEqual(eventOf(extReply), ['evnExtendSuccess', ext]);
  const moment = Number.parseInt(decodeMemos(extReply.tx.Memos)[0]!.data, 16);
  assert.equal(moment, Math.floor(Date.parse(new Date(Date.UTC(2030, 0, 1) + 2 * 3600_000).toISOString()) / 1000 / 3600));

  const term = pay(w, 'evnTerminateLease', acq.token, '1');
  await w.until(() => w.requests.length === 3, 'the terminate request');
  assert.deepEqual(w.requests[2], { kind: 'terminate', tenant: '5c'.repeat(32), leaseId: 'lease-1', requestId: term });
  const status = await node.status();
  assert.equal(status.account, w.host.address);
  assert.equal(status.server, w.a.url);
  assert.deepEqual(status.requests, { acquire: 1, extend: 1, terminate: 1, invalid: 0 });
  // Both replies reach validation (the plugin looks each one up after a ledger closes). Up to 15 s,
  // as w.until: a fixed 100 closes (4 s) was too short on a loaded machine.
  const deadline = Date.now() + 15_000;
  while (((await node.status()).replies as Record<string, number>).replied !== 3 && Date.now() < deadline) {
    w.ledger.close();
    await sleep(40);
  }
  assert.deepEqual((await node.status()).replies, { handling: 0, handled: 0, replying: 0, replied: 3, ignored: 0 }, 'acquire, extend, and terminate (no reply) done');
  // What `plexus xahau status` gets over the admin socket and prints.
  const viaAdmin = (await node.admin()) as Record<string, unknown>;
  assert.equal(viaAdmin.account, w.host.address);
  const text = formatStatus(viaAdmin);
  assert.match(text, new RegExp(`account +${w.host.address}`));
  assert.match(text, /pending replies +0/);
  assert.match(text, /requests +acquire 1, extend 1, terminate 1, invalid 0/);
});

test('malformed memo, wrong event, not a lease token, unknown URIToken: refused with a refund, handler never called', async (t) => {
  const w = await world(t);
  await w.start();
  await w.until(() => w.a.commands.includes('account_tx'), 'the plugin to connect and start its replay');
  const bad = acquire(w, Buffer.from([0, 0x7b]));
  const wrong = acquire(w, REQUIREMENT, { event: 'evnHostReg' });
  const notLease = acquire(w, REQUIREMENT, { uri: asciiToHex('evrhost') });
  const unknown = pay(w, 'evnExtendLease', 'EE'.repeat(32), evr('4'));
  await w.until(() => w.replies().length === 4, 'four error replies');
  assert.equal(w.requests.length, 0);
  const byRequest = new Map(w.replies().map((e) => [eventOf(e)[1], e]));
  for (const [hash, event, reason] of [[bad.hash, 'evnAcquireError', /not JSON/], [wrong.hash, 'evnAcquireError', /without evnAcquireLease/], [notLease.hash, 'evnAcquireError', /not a lease slot/], [unknown, 'evnExtendError', /unknown URIToken/]] as const) {
    const e = byRequest.get(hash);
    assert.ok(e, `a reply to ${hash}`);
    assert.equal(eventOf(e)[0], event);
    assert.deepEqual(e.tx.Amount, evr(event === 'evnExtendError' ? '4' : '2'), 'the payment is refunded');
    const body = JSON.parse(decodeMemos(e.tx.Memos)[0]!.data) as { type: string; reason: string };
    assert.equal(body.type, event === 'evnExtendError' ? 'EXTEND_ERR' : 'ACQUIRE_ERR');
    assert.match(body.reason, reason);
  }
});

test('a handler refusal becomes ACQUIRE_ERR with the error code and a refund', async (t) => {
  const w = await world(t, {}, async () => {
    const { PlexusError } = await import('@plexus/core');
    throw new PlexusError('ERR_UNAVAILABLE', 'no capacity');
  });
  await w.start();
  await w.until(() => w.a.commands.includes('account_tx'), 'the plugin to connect and start its replay');
  acquire(w, REQUIREMENT);
  await w.until(() => w.replies().length === 1, 'the error reply');
  assert.deepEqual(JSON.parse(decodeMemos(w.replies()[0]!.tx.Memos)[0]!.data), { type: 'ACQUIRE_ERR', reason: 'ERR_UNAVAILABLE' });
  assert.deepEqual(w.replies()[0]!.tx.Amount, evr('2'));
});

test('restart with two acquires that came in while stopped: both answered, exactly once, also after another restart', async (t) => {
  const w = await world(t);
  const first = await w.start();
  // Subscribed (not only connected): the ledger closed next must reach the plugin.
  await w.until(() => w.a.commands.includes('subscribe'), 'the plugin to subscribe');
  const closed = w.ledger.close();
  // Stopped once it has seen that ledger, so the two acquires below arrive while it is down.
  const seen = async (): Promise<boolean> => ((await first.status()).ledger as number | null) === closed;
  for (const deadline = Date.now() + 10_000; !(await seen()); await sleep(10)) if (Date.now() > deadline) assert.fail('the plugin never saw the closed ledger');
  await first.stop();
  const one = acquire(w, REQUIREMENT);
  const two = acquire(w, { ...REQUIREMENT, contract_id: 'c2' });
  w.ledger.close();
  w.ledger.close();
  const second = await w.start();
  await w.until(() => w.replies().length === 2, 'both replies');
  assert.deepEqual(new Set(w.replies().map((e) => eventOf(e)[1])), new Set([one.hash, two.hash]));
  await second.stop();
  await w.start();
  await w.until(() => w.a.commands.filter((c) => c === 'account_tx').length >= 3, 'the third replay');
  for (let i = 0; i < 5; i++) {
    w.ledger.close();
    await sleep(40);
  }
  assert.equal(w.replies().length, 2);
  assert.equal(w.requests.length, 2);
});

test('the server drops: the plugin moves to the second server and loses no request', async (t) => {
  const w = await world(t);
  const node = await w.start();
  await w.until(() => w.a.commands.includes('account_tx'), 'the plugin to connect to the first server and start its replay');
  await w.a.stop();
  const acq = acquire(w, REQUIREMENT);
  w.ledger.close(); // validated while the plugin was between servers
  await w.until(() => w.replies().length === 1, 'the reply through the second server');
  assert.deepEqual(eventOf(w.replies()[0]!), ['evnAcquireSuccess', acq.hash]);
  assert.equal((await node.status()).server, w.b.url);
  assert.equal(w.requests.length, 1);
});

test('heartbeat: 1 drop with evnHeartbeat to the heartbeat account, once per moment', async (t) => {
  const w = await world(t, { heartbeat: true, momentSeconds: 1 });
  const node = await w.start();
  const beats = (): Entry[] => w.ledger.submitted.filter((e) => e.tx.Destination === HEARTBEAT);
  await w.until(() => beats().length >= 2, 'two heartbeats');
  const hb = beats()[0]!;
  assert.deepEqual(eventOf(hb), ['evnHeartbeat', undefined]);
  assert.equal(hb.tx.Amount, '1');
  assert.equal(hb.tx.NetworkID, 21337);
  const last = (await node.status()).lastHeartbeat as { hash: string } | null;
  assert.ok(last && beats().some((b) => b.hash === last.hash));
});

test('a reply lost after signing: a restart resubmits the same transaction, or signs a new one once the old one expired', async (t) => {
  for (const expire of [false, true]) {
    const w = await world(t);
    w.ledger.loseSubmits = true;
    const first = await w.start();
    await w.until(() => w.a.commands.includes('account_tx'), 'the plugin to connect and start its replay');
    const acq = acquire(w, REQUIREMENT);
    await w.until(() => w.ledger.lost.length >= 1, 'the reply to be submitted (and lost)');
    await first.stop();
    const lostHash = txHashOf(w.ledger.lost[0]!);
    w.ledger.loseSubmits = false;
    if (expire) for (let i = 0; i < 25; i++) w.ledger.close(); // past LastLedgerSequence (window 20)
    await w.start();
    await w.until(() => w.replies().length === 1, 'the reply after the restart');
    for (let i = 0; i < 5; i++) {
      w.ledger.close();
      await sleep(40);
    }
    assert.equal(w.replies().length, 1, 'answered once');
    assert.equal(w.requests.length, 1, 'the handler is not asked again');
    assert.deepEqual(eventOf(w.replies()[0]!), ['evnAcquireSuccess', acq.hash]);
    if (expire) assert.notEqual(w.replies()[0]!.hash, lostHash, 'expired: a new signature');
    else assert.equal(w.replies()[0]!.hash, lostHash, 'still valid: the same transaction');
  }
});

test('requests wait for the host handler; stopping before one is attached does not hang', async (t) => {
  const w = await world(t);
  const client = w.redis.client();
  const store = { redis: client, role: 'master', address: { host: '127.0.0.1', port: w.redis.port } } as unknown as StoreCapability;
  const { startPlugin: start } = await import('@plexus/core/testing');
  const { instance } = await start(plugin, w.config, { configDir: w.configDir, capabilities: { store } });
  await w.until(() => w.a.commands.includes('subscribe'), 'the plugin to subscribe (no handler yet: no replay)');
  acquire(w, REQUIREMENT);
  for (let i = 0; i < 5; i++) {
    w.ledger.close();
    await sleep(40);
  }
  assert.equal(w.replies().length, 0, 'nothing answered without a host');
  await instance.stop();
  // A later start with a host answers it (it was never recorded as handled).
  await w.start();
  await w.until(() => w.replies().length === 1, 'the reply once a host is attached');
});

test('the process ended inside the handler: the next start asks the handler again, even with the cursor past that ledger', async (t) => {
  const w = await world(t);
  const first = await w.start();
  await w.until(() => w.a.commands.includes('account_tx'), 'the plugin to connect and start its replay');
  await first.stop();
  const acq = acquire(w, REQUIREMENT);
  const at = w.ledger.close();
  for (let i = 0; i < 3; i++) w.ledger.close();
  // What a crash inside the handler leaves: the request marked `handling`, the cursor moved on.
  const redis = w.redis.client();
  await redis.hset(`plexus:xahau:${w.host.address}:req`, acq.hash, JSON.stringify({ status: 'handling', kind: 'acquire', ledgerIndex: at }));
  await redis.set(`plexus:xahau:${w.host.address}:cursor`, String(at + 3));
  await w.start();
  await w.until(() => w.replies().length === 1, 'the reply');
  assert.equal(w.requests.length, 1);
  assert.deepEqual(eventOf(w.replies()[0]!), ['evnAcquireSuccess', acq.hash]);
});
