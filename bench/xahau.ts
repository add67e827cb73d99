import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sealTo, type LeaseRequest, type LeaseResult, type PluginDefinition, type StoreCapability } from '@plexus/core';
import { startPlugin, startRedis } from '@plexus/core/testing';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir } from './lib/cleanup.js';
import { percentile, round, sortedCopy } from './lib/stats.js';
import { formatTable } from './lib/table.js';

/**
 * The Xahau lease source against the local xahaud stand-in (NOT a real Xahau node: no consensus,
 * no network, ledgers closed by this benchmark every --ledger-ms), with a real redis-server and a
 * host handler that answers at once (so the figure is the plugin's, not provisioning's):
 *  (1) acquire → reply: from the close of the ledger that validated a tenant's URITokenBuy of an
 *      offered lease slot to (a) the stand-in receiving the host's signed evnAcquireSuccess and
 *      (b) the close of the ledger that validated it; each acquire then terminated so the slot is
 *      re-offered. Reference, same run, same stand-in: a plain client's Payment from `submit` over
 *      the WebSocket API to its validated `transaction` stream message (the stand-in's own round trip).
 *  (2) heartbeat drift: with a short moment, how late each heartbeat went out against its plan
 *      (moment start + jitter), as a share of the moment.
 */
const USAGE = `usage: node bench/dist/xahau.js [--acquires N] [--ledger-ms MS] [--moment-seconds S] [--heartbeats N] [--json]
  --acquires N        sequential acquire → reply measurements, and as many reference round trips (default 50)
  --ledger-ms MS      stand-in ledger close interval (default 100; real Xahau closes every ~4000)
  --moment-seconds S  moment length of the heartbeat run (default 2; Evernode's is 3600)
  --heartbeats N      heartbeats to time (default 10)
  --json              results as JSON on stdout; the table goes to stderr
`;

interface Entry {
  hash: string;
  tx: Record<string, unknown>;
  meta: Record<string, unknown>;
  ledgerIndex: number;
}
interface Token {
  index: string;
  Owner: string;
  Issuer: string;
  Amount?: unknown;
}
interface Ledger {
  validated: number;
  submitted: Entry[];
  ledgers: Map<number, Entry[]>;
  tokens: Map<string, Token>;
  tokensAt(l: unknown): Map<string, Token>;
  account(a: string): { Sequence: number; MessageKey?: string };
  close(): number;
  submit(blob: string): Record<string, unknown>;
  sendAs(key: Key, tx: Record<string, unknown>): { hash: string; result: string };
  find(hash: string): Entry | undefined;
}
interface Key {
  address: string;
  publicKey: string;
}
interface Xahau {
  plugin: PluginDefinition<unknown>;
  hostKeyFromSecret(s: string): Key;
  signTx(tx: Record<string, unknown>, key: Key, defs: unknown): { blob: string; hash: string };
  txHash(blob: string): string;
  encodeHookParams(p: { name: string; value: string }[]): unknown;
  encodeMemo(m: { type: string; format: string; data: string }): unknown;
  sealAnonymous(key: string, m: Uint8Array): Uint8Array;
  decodeHookParams(p: unknown): Map<string, string>;
  PARAM_EVENT_TYPE_KEY: string;
  PARAM_EVENT_DATA_KEY: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { acquires: { type: 'string' }, 'ledger-ms': { type: 'string' }, 'moment-seconds': { type: 'string' }, heartbeats: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (v.help) {
    process.stdout.write(USAGE);
    return;
  }
  const acquires = positiveNumber('acquires', v.acquires, 50);
  const ledgerMs = positiveNumber('ledger-ms', v['ledger-ms'], 100);
  const momentSeconds = positiveNumber('moment-seconds', v['moment-seconds'], 2);
  const heartbeats = positiveNumber('heartbeats', v.heartbeats, 10);
  installCleanup();
  // Loaded at run time: bench/tsconfig.json references only core (see bench/hosting.ts).
  const x = (await import('@plexus/plugin-ledger-xahau' as string)) as Xahau;
  const testing = (await import('@plexus/plugin-ledger-xahau/testing' as string)) as { StandinLedger: new () => Ledger; StandinServer: { start(l: Ledger): Promise<{ url: string; stop(): Promise<void> }> } };
  const { generateSeed } = (await import('ripple-keypairs' as string)) as { generateSeed(o: { entropy: Uint8Array; algorithm: string }): string };
  const seed = (n: number): string => generateSeed({ entropy: new Uint8Array(16).fill(n), algorithm: 'ed25519' });

  const dir = await makeTempDir('plexus-bench-xahau-');
  const redis = await startRedis({ tmpPrefix: 'plexus-bench-xahau-redis-' });
  const ledger = new testing.StandinLedger();
  const server = await testing.StandinServer.start(ledger);
  const host = x.hostKeyFromSecret(seed(71));
  const tenant = x.hostKeyFromSecret(seed(72));
  const payer = x.hostKeyFromSecret(seed(73));
  const issuer = x.hostKeyFromSecret(seed(74)).address;
  const heartbeatAccount = x.hostKeyFromSecret(seed(75)).address;
  ledger.account(host.address);
  ledger.account(tenant.address).MessageKey = tenant.publicKey;
  ledger.account(payer.address);
  writeFileSync(join(dir, 'secret'), seed(71), { mode: 0o600 });

  // Wall-clock times: when each ledger closed, and when the stand-in received each submitted blob.
  const closedAt = new Map<number, number>();
  const submittedAt = new Map<string, number>();
  const submit = ledger.submit.bind(ledger);
  ledger.submit = (blob: string) => {
    submittedAt.set(x.txHash(blob), performance.now());
    return submit(blob);
  };
  let closing = true;
  const closer = (async () => {
    while (closing) {
      closedAt.set(ledger.close(), performance.now());
      await sleep(ledgerMs);
    }
  })();
  const validatedAt = (hash: string): number | undefined => {
    const e = ledger.find(hash);
    return e === undefined ? undefined : closedAt.get(e.ledgerIndex);
  };
  const until = async (cond: () => boolean, what: string, ms = 30_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(2);
    }
  };

  const handler = async (r: LeaseRequest): Promise<LeaseResult> => {
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    if (r.kind === 'acquire') {
      const details = { name: 'b', host: 'h', peerPort: 1, userPort: 2, contractId: 'c', pubkey: '00'.repeat(32), leaseId: r.requestId.slice(0, 16), expiresAt };
      return { kind: 'acquire', leaseId: details.leaseId, expiresAt, instance: sealTo(r.tenant, Buffer.from('{}')), details };
    }
    if (r.kind === 'extend') return { kind: 'extend', leaseId: r.leaseId, expiresAt };
    return { kind: 'terminate', leaseId: r.leaseId };
  };
  const store = { redis: redis.client(), role: 'master', address: { host: '127.0.0.1', port: redis.port } } as unknown as StoreCapability;
  const base = { servers: [server.url], hostAccount: host.address, secretFile: 'secret', heartbeatAccount, evrIssuer: issuer, reconnectDelayMs: 50 };
  const stops: (() => Promise<void>)[] = [];
  try {
    // (1) acquire → reply, and the stand-in's own round trip.
    const { instance } = await startPlugin(x.plugin, { ...base, heartbeat: false, slots: { count: 2, leaseAmount: '1', tosHash: 'ab'.repeat(32), checkEveryMs: 1000 } }, { configDir: dir, dataDir: join(dir, 'data'), capabilities: { store }, after: (fn) => void stops.push(fn) });
    instance.capabilities!().ledger!.serve(handler);
    const offered = (): Token[] => [...ledger.tokensAt('validated').values()].filter((t) => t.Owner === host.address && t.Amount !== undefined && ledger.tokens.get(t.index)?.Amount !== undefined);
    const replyTo = (hash: string): Entry | undefined => ledger.submitted.find((e) => x.decodeHookParams(e.tx.HookParameters).get(x.PARAM_EVENT_DATA_KEY) === hash);
    const toSubmit: number[] = [];
    const toValidated: number[] = [];
    for (let i = 0; i < acquires; i++) {
      // Both slots back on offer: the last terminate's upkeep (burn, mint, offer) is done and
      // does not sit ahead of this reply in the host's one-at-a-time transaction queue.
      await until(() => offered().length === 2, 'both slots offered');
      const token = offered()[0]!;
      const body = Buffer.concat([Buffer.from([1]), x.sealAnonymous(host.publicKey, Buffer.from(JSON.stringify({ owner_pubkey: tenant.publicKey.toLowerCase(), image: 'img', config: {} })))]);
      const { hash } = ledger.sendAs(tenant, { TransactionType: 'URITokenBuy', URITokenID: token.index, Amount: token.Amount, HookParameters: x.encodeHookParams([{ name: x.PARAM_EVENT_TYPE_KEY, value: 'evnAcquireLease' }]), Memos: [x.encodeMemo({ type: 'evnAcquireLease', format: 'base64', data: Buffer.from(body).toString('base64') })] });
      await until(() => replyTo(hash) !== undefined && validatedAt(replyTo(hash)!.hash) !== undefined, `the reply to acquire ${i}`);
      const reply = replyTo(hash)!;
      const at = validatedAt(hash)!;
      toSubmit.push(submittedAt.get(reply.hash)! - at);
      toValidated.push(validatedAt(reply.hash)! - at);
      ledger.sendAs(tenant, { TransactionType: 'Payment', Destination: host.address, Amount: '1', HookParameters: x.encodeHookParams([{ name: x.PARAM_EVENT_TYPE_KEY, value: 'evnTerminateLease' }, { name: x.PARAM_EVENT_DATA_KEY, value: token.index }]) });
    }
    await instance.stop();

    // The reference: a plain client's submit → validated over the stand-in's WebSocket API.
    const ref: number[] = [];
    const ws = new WebSocket(server.url);
    await new Promise<void>((resolve, reject) => (ws.addEventListener('open', () => resolve()), ws.addEventListener('error', () => reject(new Error('ws error')))));
    const seen = new Map<string, number>();
    ws.addEventListener('message', (ev) => {
      const m = JSON.parse(String(ev.data)) as Record<string, unknown>;
      if (m.type === 'transaction' && m.validated === true) seen.set(String((m.transaction as Record<string, unknown>).hash), performance.now());
    });
    ws.send(JSON.stringify({ id: 1, command: 'subscribe', accounts: [payer.address] }));
    for (let i = 0; i < acquires; i++) {
      const defs = (ledger as unknown as { definitions: unknown }).definitions;
      const signed = x.signTx({ TransactionType: 'Payment', Account: payer.address, Destination: heartbeatAccount, Amount: '1', Fee: '12', Sequence: ledger.account(payer.address).Sequence, LastLedgerSequence: ledger.validated + 20, NetworkID: 21337 }, payer, defs);
      const t0 = performance.now();
      ws.send(JSON.stringify({ id: 2 + i, command: 'submit', tx_blob: signed.blob }));
      await until(() => seen.has(signed.hash), `reference payment ${i}`);
      ref.push(seen.get(signed.hash)! - t0);
    }
    ws.close();

    // (2) heartbeat drift with a short moment.
    const hb = await startPlugin(x.plugin, { ...base, heartbeat: true, momentSeconds, momentBaseTimestamp: 0 }, { configDir: dir, dataDir: join(dir, 'data2'), capabilities: { store }, after: (fn) => void stops.push(fn) });
    hb.instance.capabilities!().ledger!.serve(handler);
    const beats = (): Entry[] => ledger.submitted.filter((e) => e.tx.Destination === heartbeatAccount && e.tx.Account === host.address);
    const before = beats().length;
    await until(() => beats().length >= before + heartbeats, `${heartbeats} heartbeats`, (heartbeats + 3) * momentSeconds * 1000 + 30_000);
    const status = (await hb.instance.status!()) as { heartbeat: { driftMs: { max: number; count: number } | null } };
    const drift = status.heartbeat.driftMs;
    await hb.instance.stop();

    const stat = (xs: number[]): { p50: number; p95: number; max: number } => {
      const s = sortedCopy(xs);
      return { p50: round(percentile(s, 50), 2), p95: round(percentile(s, 95), 2), max: round(s[s.length - 1]!, 2) };
    };
    const out = {
      date: new Date().toISOString(),
      reference: 'the stand-in (a TypeScript xahaud WebSocket stand-in in this process), not a real Xahau node',
      ledgerMs,
      acquires,
      acquireToReplySubmittedMs: stat(toSubmit),
      acquireToReplyValidatedMs: stat(toValidated),
      referenceSubmitToValidatedMs: stat(ref),
      ratioP50: round(percentile(sortedCopy(toValidated), 50) / percentile(sortedCopy(ref), 50), 2),
      ratioP95: round(percentile(sortedCopy(toValidated), 95) / percentile(sortedCopy(ref), 95), 2),
      heartbeat: { momentSeconds, beats: drift?.count ?? 0, maxDriftMs: drift?.max ?? null, maxDriftPctOfMoment: drift ? round((drift.max / (momentSeconds * 1000)) * 100, 3) : null },
    };
    const text = [
      `ledger-xahau vs the stand-in's own round trip (NOT a real Xahau node; ledgers closed every ${ledgerMs} ms by the benchmark), ${acquires} sequential acquires`,
      formatTable(['measure', 'p50 ms', 'p95 ms', 'max ms'], [
        ['acquire validated → host reply at the stand-in (plugin work)', out.acquireToReplySubmittedMs.p50, out.acquireToReplySubmittedMs.p95, out.acquireToReplySubmittedMs.max],
        ['acquire validated → host reply validated', out.acquireToReplyValidatedMs.p50, out.acquireToReplyValidatedMs.p95, out.acquireToReplyValidatedMs.max],
        ['reference: plain Payment submit → validated (stand-in round trip)', out.referenceSubmitToValidatedMs.p50, out.referenceSubmitToValidatedMs.p95, out.referenceSubmitToValidatedMs.max],
      ]),
      `ratio reply-validated / reference: p50 ${out.ratioP50}, p95 ${out.ratioP95}`,
      `heartbeat: ${out.heartbeat.beats} beats in ${momentSeconds} s moments, max drift ${String(out.heartbeat.maxDriftMs)} ms = ${String(out.heartbeat.maxDriftPctOfMoment)} % of a moment`,
    ].join('\n');
    if (v.json === true) {
      process.stderr.write(`${text}\n`);
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else process.stdout.write(`${text}\n`);
  } finally {
    for (const s of stops) await s().catch(() => undefined);
    closing = false;
    await closer;
    await server.stop();
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench xahau: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
