import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSeed } from 'ripple-keypairs';
import { PlexusError, sealTo, type LeaseRequest, type LeaseResult, type StoreCapability } from '@plexus/core';
import { startPlugin, startRedis } from '@plexus/core/testing';
import {
  decodeHookParams,
  decodeLeaseTokenUri,
  decodeMemos,
  eciesEncrypt,
  encodeHookParams,
  encodeMemo,
  hookStateIndex,
  hostKeyFromSecret,
  mintLeaseUri,
  PARAM_EVENT_DATA_KEY,
  PARAM_EVENT_TYPE_KEY,
  planSlots,
  plugin,
  registrationUri,
  STATE_KEY,
  type HostKey,
} from '../src/index.js';
import { StandinLedger, StandinServer, type Entry, type Token } from '../src/testing/index.js';
import { formatStatus } from '../src/cli.js';

/**
 * Lease slots, registration, the heartbeat rule and moments, against the xahaud stand-in (whose
 * URIToken objects follow xahaud's URIToken.cpp) and a real redis-server. The host key is
 * secp256k1 here, so acquire memos are ECIES-sealed to it (Evernode's eccrypto path).
 */

const HEARTBEAT = 'rHktfGUbjqzU4GsYCMc1pDjdHXb5CJamto';
const seedOf = (n: number, algorithm: 'ed25519' | 'ecdsa-secp256k1'): string => generateSeed({ entropy: new Uint8Array(16).fill(n), algorithm });
const keyOf = (n: number, algorithm: 'ed25519' | 'ecdsa-secp256k1' = 'ed25519'): HostKey => hostKeyFromSecret(seedOf(n, algorithm));
const ISSUER = keyOf(99).address;
const REGISTRY = keyOf(98).address;
const GOVERNOR = keyOf(97).address;
const evr = (value: string): Record<string, string> => ({ currency: 'EVR', issuer: ISSUER, value });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TOS = 'c0ffee'.padEnd(64, '0');
const REQUIREMENT = { owner_pubkey: `ed${'5c'.repeat(32)}`, image: 'evernodedev/sashimono:hp.latest', config: {} };

interface World {
  ledger: StandinLedger;
  server: StandinServer;
  host: HostKey;
  tenant: HostKey;
  requests: LeaseRequest[];
  /** Closes ledgers until `cond` holds. */
  until(cond: () => boolean | Promise<boolean>, what: string, ms?: number): Promise<void>;
  start(overrides?: Record<string, unknown>): Promise<{ stop(): Promise<void>; status(): Promise<Record<string, unknown>>; capacity(c: { instances: number; available: boolean }): void }>;
  /** The host's lease slot tokens (validated ledger). */
  slots(): Token[];
  acquire(token: Token): string;
  pay(event: string, token: string, amount: unknown): string;
  replies(): Entry[];
  /** What the plugin stored under `plexus:xahau:<host>:<key>` (null: nothing). */
  stored(key: string): Promise<string | null>;
}

async function world(t: TestContext, base: Record<string, unknown>, handler?: (r: LeaseRequest) => Promise<LeaseResult>): Promise<World> {
  const redis = await startRedis({ tmpPrefix: 'plexus-xahau-slots-' });
  t.after(() => redis.stop());
  const ledger = new StandinLedger();
  const server = await StandinServer.start(ledger);
  t.after(() => server.stop());
  const host = keyOf(31, 'ecdsa-secp256k1');
  const tenant = keyOf(32);
  ledger.account(host.address);
  ledger.account(tenant.address).MessageKey = tenant.publicKey;
  const configDir = mkdtempSync(join(tmpdir(), 'plexus-xahau-slots-'));
  writeFileSync(join(configDir, 'host.secret'), seedOf(31, 'ecdsa-secp256k1'), { mode: 0o600 });
  const requests: LeaseRequest[] = [];
  let n = 0;
  const fake =
    handler ??
    (async (r: LeaseRequest): Promise<LeaseResult> => {
      requests.push(r);
      const expiresAt = new Date(Date.now() + 3600_000).toISOString();
      if (r.kind === 'acquire') {
        const leaseId = `lease-${++n}`;
        const details = { name: 'i', host: 'host.test', peerPort: 22861, userPort: 26201, contractId: 'c', pubkey: '00'.repeat(32), leaseId, expiresAt };
        return { kind: 'acquire', leaseId, expiresAt, instance: sealTo(r.tenant, Buffer.from(JSON.stringify(details))), details };
      }
      if (r.kind === 'extend') return { kind: 'extend', leaseId: r.leaseId, expiresAt };
      return { kind: 'terminate', leaseId: r.leaseId };
    });
  const peek = redis.client();
  const w: World = {
    ledger,
    server,
    host,
    tenant,
    requests,
    async until(cond, what, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (!(await cond())) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        ledger.close();
        await sleep(30);
      }
    },
    async start(overrides = {}) {
      const store = { redis: redis.client(), role: 'master', address: { host: '127.0.0.1', port: redis.port } } as unknown as StoreCapability;
      const config = { servers: [server.url], hostAccount: host.address, secretFile: 'host.secret', heartbeatAccount: HEARTBEAT, evrIssuer: ISSUER, heartbeat: false, requestTimeoutMs: 2000, reconnectDelayMs: 50, ...base, ...overrides };
      const { instance } = await startPlugin(plugin, config, { configDir, capabilities: { store }, after: (fn) => void t.after(fn) });
      const ledgerCap = instance.capabilities!().ledger!;
      ledgerCap.serve(fake);
      return { stop: () => instance.stop(), status: () => instance.status!(), capacity: (c) => ledgerCap.capacity!(c) };
    },
    slots: () => [...ledger.tokensAt('validated').values()].filter((x) => x.Owner === host.address && x.Issuer === host.address),
    acquire(token) {
      // Sealed to the host's secp256k1 account key: eccrypto ECIES, as Evernode's tenant client does.
      const memo = Buffer.concat([Buffer.from([1]), eciesEncrypt(host.publicKey, Buffer.from(JSON.stringify(REQUIREMENT)))]).toString('base64');
      return ledger.sendAs(tenant, {
        TransactionType: 'URITokenBuy',
        URITokenID: token.index,
        Amount: token.Amount,
        HookParameters: encodeHookParams([{ name: PARAM_EVENT_TYPE_KEY, value: 'evnAcquireLease' }]),
        Memos: [encodeMemo({ type: 'evnAcquireLease', format: 'base64', data: memo })],
      }).hash;
    },
    pay(event, token, amount) {
      return ledger.sendAs(tenant, { TransactionType: 'Payment', Destination: host.address, Amount: amount, HookParameters: encodeHookParams([{ name: PARAM_EVENT_TYPE_KEY, value: event }, { name: PARAM_EVENT_DATA_KEY, value: token }]) }).hash;
    },
    replies: () => ledger.submitted.filter((e) => e.tx.Destination === tenant.address),
    stored: (key) => peek.get(`plexus:xahau:${host.address}:${key}`),
  };
  return w;
}

const offered = (w: World): Token[] => w.slots().filter((x) => x.Amount !== undefined);
const indexOf = (x: Token): number => decodeLeaseTokenUri(x.URI)!.leaseIndex;
const eventOf = (e: Entry): string | undefined => decodeHookParams(e.tx.HookParameters).get(PARAM_EVENT_TYPE_KEY);

test('planSlots: burn ended leases, extra slots and second tokens; offer unoffered; mint missing; never burn a leased token', () => {
  const host = keyOf(40).address;
  const tok = (index: number, id: string, offered: boolean, extra: Partial<Token> = {}): Token => ({ LedgerEntryType: 'URIToken', index: id, Owner: host, Issuer: host, URI: mintLeaseUri({ leaseIndex: index, halfTosHash: TOS, leaseAmount: '1', identifier: index }), Flags: 1, ...(offered ? { Amount: evr('1') } : {}), ...extra });
  const owned = [tok(0, 'A0', true), tok(1, 'A1', false), tok(1, 'B1', true), tok(5, 'A5', true), tok(2, 'L2', true), tok(3, 'N3', true, { Flags: 0 })];
  const actions = planSlots(4, host, owned, new Map([['L2', 2]]), ['E9', 'L2']);
  assert.deepEqual(actions, [
    { kind: 'burn', id: 'E9', why: 'lease ended' },
    { kind: 'offer', id: 'A1', leaseIndex: 1 },
    { kind: 'burn', id: 'B1', why: 'a second token for the slot' },
    { kind: 'burn', id: 'A5', why: 'slot beyond the configured count' },
    { kind: 'mint', leaseIndex: 3 },
  ]);
});

test('slots: one burnable evrlease token per slot, minted and offered at the lease amount; a sold slot is re-offered once its lease ends', async (t) => {
  const w = await world(t, { slots: { count: 2, leaseAmount: '2.5', tosHash: TOS, checkEveryMs: 200 } });
  const node = await w.start();
  await w.until(() => offered(w).length === 2, 'two offered slots');
  const [a, b] = offered(w).sort((x, y) => indexOf(x) - indexOf(y));
  assert.deepEqual([indexOf(a!), indexOf(b!)], [0, 1]);
  assert.equal(w.ledger.submitted.filter((e) => e.tx.TransactionType === 'URITokenCreateSellOffer').length, 0, 'minted on offer: one transaction per slot');
  for (const x of [a!, b!]) {
    assert.equal(x.Flags, 1, 'burnable: the host can take the token back when the lease ends');
    assert.deepEqual(x.Amount, evr('2.5'));
    const uri = decodeLeaseTokenUri(x.URI)!;
    assert.equal(uri.version, 1);
    assert.equal(uri.leaseAmount, '2.5');
    assert.equal(uri.halfTosHash, TOS.slice(0, 32));
  }

  // A tenant buys slot 0: the host answers, and slot 0 is not offered again while the lease runs.
  const acq = w.acquire(a!);
  await w.until(() => w.replies().length === 1, 'the acquire reply');
  assert.equal(eventOf(w.replies()[0]!), 'evnAcquireSuccess');
  assert.equal(w.requests[0]!.kind, 'acquire');
  for (let i = 0; i < 10; i++) {
    w.ledger.close();
    await sleep(30);
  }
  assert.deepEqual(offered(w).map(indexOf), [1], 'only the free slot is on offer');
  assert.equal(w.ledger.tokens.get(a!.index)?.Owner, w.tenant.address);

  // Terminate: the host burns the tenant's token (the issuer may) and offers slot 0 anew.
  w.pay('evnTerminateLease', a!.index, '1');
  await w.until(() => offered(w).length === 2 && !w.ledger.tokens.has(a!.index), 'slot 0 burned and re-offered');
  assert.deepEqual(offered(w).map(indexOf).sort(), [0, 1]);
  const status = (await node.status()).slots as Record<string, unknown>;
  assert.equal(status.count, 2);
  assert.match(formatStatus(await node.status()), /lease slots +2: \d+ offered/);
  assert.ok(w.ledger.find(acq), 'the acquire validated');

  // Fewer slots after a restart: the token of slot 1 is burned, slot 0 stays.
  await node.stop();
  await w.start({ slots: { count: 1, leaseAmount: '2.5', tosHash: TOS, checkEveryMs: 200 } });
  await w.until(() => offered(w).length === 1, 'the slot beyond the count burned');
  assert.deepEqual(offered(w).map(indexOf), [0]);
});

test("slots: without a count the hosting plugin's capacity decides; a draining host takes its offers back, leased slots stay", async (t) => {
  const w = await world(t, { slots: { leaseAmount: '2', tosHash: TOS, checkEveryMs: 200 } });
  const node = await w.start();
  for (let i = 0; i < 10; i++) {
    w.ledger.close();
    await sleep(30);
  }
  assert.equal(w.slots().length, 0, 'nothing minted before the host tells its capacity');
  assert.equal(((await node.status()).slots as Record<string, unknown>).count, null);
  node.capacity({ instances: 3, available: true });
  await w.until(() => offered(w).length === 3, 'three offered slots');
  const [a] = offered(w).sort((x, y) => indexOf(x) - indexOf(y));
  w.acquire(a!);
  await w.until(() => w.replies().length === 1 && offered(w).length === 2, 'slot 0 leased');
  // Drain: the offers are burned, the tenant's token is not the host's to burn.
  node.capacity({ instances: 3, available: false });
  await w.until(() => offered(w).length === 0, 'no slot on offer while draining');
  assert.equal(w.ledger.tokens.get(a!.index)?.Owner, w.tenant.address);
  assert.equal(((await node.status()).slots as Record<string, unknown>).count, 0);
});

test('slots: a restart right after a slot token validated, before the cursor passed its ledger, mints no second token for the slot', async (t) => {
  const w = await world(t, { slots: { count: 2, leaseAmount: '1', tosHash: TOS, checkEveryMs: 200 } });
  const first = await w.start();
  // One ledger at a time, and stop at the very ledger that validated the second token, once the
  // plugin has seen it validate (no slot transaction in flight any more): its replay cursor, the
  // ledger the next process reads the tokens at, is then still behind that token.
  for (const deadline = Date.now() + 20_000; offered(w).length < 2; await sleep(30)) {
    if (Date.now() > deadline) assert.fail('two offered slots');
    w.ledger.close();
  }
  for (const deadline = Date.now() + 20_000; (await w.stored('slottx')) !== null; await sleep(20)) {
    if (Date.now() > deadline) assert.fail('the second token seen validated');
  }
  await first.stop();
  const minted = w.ledger.validated;
  const second = await w.start();
  // The new instance's first pass: it decides (reads the tokens) or waits for a newer ledger.
  const slotStatus = async (): Promise<Record<string, unknown>> => (await second.status()).slots as Record<string, unknown>;
  let firstPass: Record<string, unknown>;
  for (const deadline = Date.now() + 20_000; ; await sleep(20)) {
    firstPass = await second.status();
    const s = firstPass.slots as Record<string, unknown>;
    if (s.lastPass !== null || (s.waitingFor ?? null) !== null) break;
    if (Date.now() > deadline) assert.fail('the first slot pass after the restart');
  }
  assert.equal(w.ledger.validated, minted, 'no ledger closed since the stop');
  await w.until(async () => {
    const s = await slotStatus();
    return offered(w).length === 2 && s.lastPass !== null && (s.lastActions as string[]).length === 0;
  }, 'a pass with nothing left to do');
  const mints = w.ledger.submitted.filter((e) => e.tx.TransactionType === 'URITokenMint' && e.meta.TransactionResult === 'tesSUCCESS');
  assert.equal(mints.length, 2, 'one token minted per slot, none again after the restart');
  for (const [index, tokens] of w.ledger.snapshots) {
    const slots = [...tokens.values()].filter((x) => x.Owner === w.host.address && x.Amount !== undefined).map(indexOf);
    assert.equal(new Set(slots).size, slots.length, `ledger ${index}: at most one offered token per slot (${slots.join(', ')})`);
  }
  // It waited for the ledger of the last token, and said so.
  assert.equal((firstPass.slots as Record<string, unknown>).waitingFor, minted);
  assert.match(formatStatus(firstPass), new RegExp(`upkeep waits for ledger ${minted}`));
});

test('slots: a server whose URITokenMint takes no Amount gets mint + URITokenCreateSellOffer (evernode-js-client\'s two steps)', async (t) => {
  const w = await world(t, { slots: { count: 2, leaseAmount: '3', tosHash: TOS, checkEveryMs: 200 } });
  w.ledger.mintWithAmount = false;
  await w.start();
  await w.until(() => offered(w).length === 2, 'two offered slots');
  const kinds = w.ledger.submitted.map((e) => e.tx.TransactionType);
  assert.deepEqual(kinds.filter((k) => k === 'URITokenMint').length, 2);
  assert.deepEqual(kinds.filter((k) => k === 'URITokenCreateSellOffer').length, 2);
  for (const x of offered(w)) assert.deepEqual(x.Amount, evr('3'));
});

test('slots: a refused acquire and an expired lease give the slot back (burn, mint, offer)', async (t) => {
  let refuse = true;
  const requests: LeaseRequest[] = [];
  const w = await world(t, { slots: { count: 1, leaseAmount: '2', tosHash: TOS, checkEveryMs: 100 } }, async (r) => {
    requests.push(r);
    if (refuse) throw new PlexusError('ERR_UNAVAILABLE', 'busy');
    // A lease that ends 1.5 s from now: the hosting plugin's own timer ends the instance then.
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const details = { name: 'i', host: 'h', peerPort: 1, userPort: 2, contractId: 'c', pubkey: '00'.repeat(32), leaseId: 'l1', expiresAt };
    return { kind: 'acquire', leaseId: 'l1', expiresAt, instance: sealTo(r.tenant, Buffer.from('{}')), details } as LeaseResult;
  });
  await w.start();
  await w.until(() => offered(w).length === 1, 'the slot on offer');
  const first = offered(w)[0]!;
  w.acquire(first);
  await w.until(() => w.replies().length === 1, 'the error reply');
  assert.equal(eventOf(w.replies()[0]!), 'evnAcquireError');
  assert.deepEqual(w.replies()[0]!.tx.Amount, evr('2'), 'refunded');
  await w.until(() => !w.ledger.tokens.has(first.index) && offered(w).length === 1, 'the refused token burned, a new one offered');

  refuse = false;
  const second = offered(w)[0]!;
  w.acquire(second);
  await w.until(() => w.replies().length === 2, 'the success reply');
  assert.equal(eventOf(w.replies()[1]!), 'evnAcquireSuccess');
  assert.equal(offered(w).length, 0, 'the only slot is leased');
  await w.until(() => !w.ledger.tokens.has(second.index) && offered(w).length === 1, 'the expired lease burned and the slot re-offered', 20_000);
});

test('a URITokenBuy whose metadata lacks the URIToken node is matched to the offer in the ledger before (as evernode-js-client does)', async (t) => {
  const w = await world(t, { slots: { count: 1, leaseAmount: '2', tosHash: TOS, checkEveryMs: 200 } });
  await w.start();
  await w.until(() => offered(w).length === 1, 'the slot on offer');
  const hash = w.acquire(offered(w)[0]!);
  // Only the host's AccountRoot (its OwnerCount drops as the token leaves) ties the buy to the host.
  w.ledger.open.find((e) => e.hash === hash)!.meta.AffectedNodes = [{ ModifiedNode: { LedgerEntryType: 'AccountRoot', FinalFields: { Account: w.host.address }, PreviousFields: {} } }];
  await w.until(() => w.replies().length === 1, 'the acquire reply');
  assert.equal(eventOf(w.replies()[0]!), 'evnAcquireSuccess');
  assert.equal(decodeHookParams(w.replies()[0]!.tx.HookParameters).get(PARAM_EVENT_DATA_KEY), hash);
});

test('no heartbeat while a lease slot token is unoffered (Evernode rule); it goes out once the token is offered', async (t) => {
  const w = await world(t, { heartbeat: true, momentSeconds: 1 });
  const uri = mintLeaseUri({ leaseIndex: 0, halfTosHash: TOS, leaseAmount: '2', identifier: 1 });
  const id = w.ledger.mintAs(w.host.address, uri);
  w.ledger.close();
  const node = await w.start();
  const beats = (): Entry[] => w.ledger.submitted.filter((e) => e.tx.Destination === HEARTBEAT);
  await w.until(async () => ((await node.status()).heartbeat as { heldBack: number }).heldBack >= 3, 'three held-back heartbeats');
  assert.equal(beats().length, 0);
  w.ledger.tokens.get(id)!.Amount = evr('2');
  await w.until(() => beats().length >= 2, 'heartbeats once the slot is offered');
  const hb = (await node.status()).heartbeat as { driftMs: { max: number } };
  assert.ok(hb.driftMs.max < 1000, `drift ${hb.driftMs.max} ms under a 1 s moment`);
});

test('registration: fee paid once with evnHostReg and the host figures, the registry token bought; idempotent across a restart; slots offered only after it', async (t) => {
  const registration = { registryAccount: REGISTRY, fee: '5', countryCode: 'SE', cpuMicroSec: 800_000, ramMb: 4096, diskMb: 40_960, totalInstances: 3, cpuModel: 'Test CPU', cpuCount: 4, cpuMHz: 2400, description: 'plexus host', email: 'ops@example.test' };
  const w = await world(t, { registration, slots: { count: 1, leaseAmount: '2', tosHash: TOS, checkEveryMs: 100 } });
  const node = await w.start();
  const regPayments = (): Entry[] => w.ledger.submitted.filter((e) => e.tx.Destination === REGISTRY);
  await w.until(() => regPayments().length === 1, 'the registration payment');
  const pay = regPayments()[0]!;
  assert.deepEqual(pay.tx.Amount, evr('5'));
  const params = decodeHookParams(pay.tx.HookParameters);
  assert.equal(params.get(PARAM_EVENT_TYPE_KEY), 'evnHostReg');
  const data = Buffer.from(params.get(PARAM_EVENT_DATA_KEY)!, 'hex');
  assert.equal(data.length, 136);
  assert.equal(data.subarray(0, 2).toString(), 'SE');
  assert.equal(data.readUInt32LE(14), 3, 'total instances');
  assert.equal(data.subarray(88, 104).toString(), 'ops@example.test');
  for (let i = 0; i < 5; i++) {
    w.ledger.close();
    await sleep(30);
  }
  assert.equal(w.slots().length, 0, 'no slot before registration');
  // Restart before the registry answered: no second payment.
  await node.stop();
  const again = await w.start({ registration: { ...registration } });
  // The registry hook's answer: its host token, offered to the host.
  w.ledger.mintAs(REGISTRY, registrationUri(pay.hash), { amount: evr('0.00000001'), destination: w.host.address });
  await w.until(() => [...w.ledger.tokensAt('validated').values()].some((x) => x.Owner === w.host.address && x.Issuer === REGISTRY), 'the registration token bought');
  await w.until(() => offered(w).length === 1, 'the slot offered after registration');
  assert.equal(regPayments().length, 1, 'paid once');
  assert.equal(((await again.status()).registration as { registered: boolean }).registered, true);
});

test('moments from the governor hook state: extend replies and heartbeats use its base and size', async (t) => {
  const w = await world(t, { governorAccount: GOVERNOR, slots: { count: 1, leaseAmount: '2', tosHash: TOS, checkEveryMs: 200 } });
  const base = Buffer.alloc(13);
  base.writeBigUInt64LE(1_700_000_000n, 0);
  base.writeUInt32LE(5000, 8);
  base[12] = 1; // timestamp moments
  const size = Buffer.alloc(2);
  size.writeUInt16LE(900);
  w.ledger.hookState.set(hookStateIndex(GOVERNOR, STATE_KEY.MOMENT_BASE_INFO), base.toString('hex').toUpperCase());
  w.ledger.hookState.set(hookStateIndex(GOVERNOR, STATE_KEY.MOMENT_SIZE), size.toString('hex').toUpperCase());
  const node = await w.start();
  await w.until(() => offered(w).length === 1, 'the slot on offer');
  const hb = (await node.status()).heartbeat as { momentSize: number; momentSource: string; moment: number };
  assert.equal(hb.momentSource, 'governor');
  assert.equal(hb.momentSize, 900);
  assert.equal(hb.moment, 5000 + Math.floor((Date.now() / 1000 - 1_700_000_000) / 900));
  const token = offered(w)[0]!;
  w.acquire(token);
  await w.until(() => w.replies().length === 1, 'the acquire reply');
  const ext = w.pay('evnExtendLease', token.index, evr('4'));
  await w.until(() => w.replies().length === 2, 'the extend reply');
  const reply = w.replies()[1]!;
  assert.equal(decodeHookParams(reply.tx.HookParameters).get(PARAM_EVENT_DATA_KEY), ext);
  // The fake host extends to one hour from now: four 900 s moments ahead on the governor's scale.
  const expected = 5000 + Math.floor((Date.now() / 1000 + 3600 - 1_700_000_000) / 900);
  const moment = Number.parseInt(decodeMemos(reply.tx.Memos)[0]!.data, 16);
  assert.ok(Math.abs(moment - expected) <= 1, `expiry moment ${moment}, expected about ${expected}`);
});
