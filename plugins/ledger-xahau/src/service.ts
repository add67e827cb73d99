import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PlexusError, type LeaseRequest, type LeaseResult, type PluginContext } from '@plexus/core';
import type { XrplDefinitions } from 'ripple-binary-codec';
import { XahauClient } from './client.js';
import type { LedgerXahauConfig } from './config.js';
import { decodeTx, momentsFor, needsOfferLookup, normalizeTx, withOffer, type Decoded, type IssuedAmount } from './decode.js';
import { XAHAU_ERRORS } from './errors.js';
import { acquireErrorTx, acquireSuccessTx, extendErrorTx, extendSuccessTx, heartbeatTx, type UnsignedTx } from './replies.js';
import { isSecp256k1PublicKey } from './ecies.js';
import { definitionsFrom, hostKeyFromSecret, messageKeyOptions, xahauDefinitions, type HostKey } from './sign.js';
import { XahauState, type RequestRecord } from './state.js';
import { decodeMomentBaseInfo, decodeMomentSize, hookStateIndex, momentAt, momentStart, STATE_KEY, type MomentInfo } from './moments.js';
import { SlotKeeper } from './slot-keeper.js';
import { Submitter } from './submit.js';

type Handler = (r: LeaseRequest) => Promise<LeaseResult>;

const PAGE = 200;
/** How long `stop` waits for a request that is inside the host's handler. */
const STOP_GRACE_MS = 10_000;

/**
 * The Xahau lease source at run time: follows the host account (stream + `account_tx` replay from
 * the stored cursor), turns each tenant request into a LeaseRequest for the host's handler, and
 * answers on the ledger. Requests are handled one at a time, in ledger order.
 */
export class XahauLeaseSource {
  private client: XahauClient | undefined;
  private submitter: Submitter | undefined;
  private state: XahauState | undefined;
  private key: HostKey | undefined;
  private definitions: XrplDefinitions | undefined;
  private handler: Handler | undefined;
  private handlerReady: () => void = () => undefined;
  private readonly handlerAttached = new Promise<void>((r) => (this.handlerReady = r));
  private stopSignal: () => void = () => undefined;
  private readonly stopping = new Promise<void>((r) => (this.stopSignal = r));
  private work: Promise<void> = Promise.resolve();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private running = false;
  private lastLedger = 0;
  /** The replay after the latest (re)connection finished; until then the cursor stays. */
  private replayed = false;
  private readonly counts = { acquire: 0, extend: 0, terminate: 0, invalid: 0 };
  private lastError: string | undefined;
  /** Requests whose reply is queued or in flight in this process (not sent again on reconnect). */
  private readonly replying = new Set<string>();
  private keeper: SlotKeeper | undefined;
  /** Told by the hosting plugin, possibly before a restart of this service made a new keeper. */
  private hostCapacity: { instances: number; available: boolean } | undefined;
  private slotTimer: NodeJS.Timeout | undefined;
  private moments: MomentInfo | undefined;
  /** Heartbeat drift (ms past the planned time) of this process's heartbeats. */
  private readonly drifts: number[] = [];
  private heartbeatSkips = 0;
  private heartbeatPlanned = false;

  constructor(private readonly ctx: PluginContext<LedgerXahauConfig>) {}

  serve(handler: Handler): void {
    this.handler = handler;
    this.handlerReady();
  }

  /** The hosting plugin's capacity (`ledger.capacity`): how many lease slots to keep on offer. */
  capacity(c: { instances: number; available: boolean }): void {
    this.hostCapacity = { ...c };
    this.keeper?.setCapacity(c);
    if (this.running && this.replayed) void this.keeper?.poke();
  }

  get attached(): boolean {
    return this.handler !== undefined;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const c = this.ctx.config;
    this.key = hostKeyFromSecret(await this.readSecret());
    if (this.key.address !== c.hostAccount) throw new PlexusError(XAHAU_ERRORS.ERR_XAHAU_SECRET, `the secret derives ${this.key.address}, not hostAccount ${c.hostAccount}`);
    this.state = new XahauState(this.ctx.capability('store').redis, c.hostAccount);
    this.definitions = xahauDefinitions();
    this.client = new XahauClient(c.servers, { requestTimeoutMs: c.requestTimeoutMs, reconnectDelayMs: c.reconnectDelayMs });
    this.submitter = new Submitter(this.client, this.key, { maxFeeDrops: c.maxFeeDrops, ledgerWindow: c.ledgerWindow, definitions: () => this.definitions! });
    const state = this.state;
    this.keeper = new SlotKeeper({
      client: this.client,
      submitter: this.submitter,
      state,
      config: c,
      log: this.ctx.log,
      common: this.common(),
      handledLedger: async () => {
        const cursor = this.replayed ? await state.cursor() : undefined;
        return cursor === undefined ? undefined : cursor - 1;
      },
      running: () => this.running,
    });
    if (this.hostCapacity !== undefined) this.keeper.setCapacity(this.hostCapacity);
    this.client.on('connected', (url: string) => {
      this.replayed = false;
      this.enqueue(() => this.onConnected(url));
    });
    this.client.on('disconnected', (url: string, reason: string) => this.ctx.log.warn({ url, reason }, 'xahau server connection lost; trying the next'));
    this.client.on('ledger', (m: Record<string, unknown>) => {
      const index = Number(m.ledger_index);
      this.lastLedger = Math.max(this.lastLedger, index);
      this.submitter?.onLedger(index);
      // Transactions of a ledger are published after its ledgerClosed, so everything before `index`
      // was queued before this job. The cursor moves only while nothing can have been skipped: the
      // replay of this connection completed, and the plugin is not stopping.
      this.enqueue(async () => {
        if (this.replayed && this.running && this.handler !== undefined) await this.state!.advanceCursor(index);
        if (this.keeper!.waiting && this.replayed) void this.keeper!.poke();
      });
    });
    this.client.on('transaction', (m: unknown) => this.enqueue(() => this.onTransaction(m)));
    this.running = true;
    this.client.start();
    if (c.slots !== undefined || c.registration !== undefined) {
      const every = c.slots?.checkEveryMs ?? 30_000;
      this.slotTimer = setInterval(() => {
        if (this.replayed && this.handler !== undefined) void this.keeper!.poke();
      }, every);
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopSignal();
    clearTimeout(this.heartbeatTimer);
    clearInterval(this.slotTimer);
    this.submitter?.stop();
    await this.client?.stop();
    // The job in progress may be inside the host's handler (provisioning): wait for it, but not forever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([this.work.catch(() => undefined), this.keeper?.idle()]), new Promise<void>((r) => (timer = setTimeout(r, STOP_GRACE_MS)))]);
    clearTimeout(timer);
  }

  private async readSecret(): Promise<string> {
    const { secretFile } = this.ctx.config;
    const secret = secretFile !== undefined ? await readFile(resolve(this.ctx.configDir, secretFile), 'utf8').catch(() => undefined) : process.env.PLEXUS_XAHAU_SECRET;
    if (secret === undefined || secret.trim() === '') throw new PlexusError(XAHAU_ERRORS.ERR_XAHAU_SECRET, secretFile !== undefined ? `cannot read ${secretFile}` : 'no secretFile and no $PLEXUS_XAHAU_SECRET');
    return secret.trim();
  }

  /** Waits until the host registered its handler; false when the plugin stops first. */
  private async untilHandler(): Promise<boolean> {
    await Promise.race([this.handlerAttached, this.stopping]);
    return this.running && this.handler !== undefined;
  }

  /** Runs jobs one at a time; a failed job is recorded, not fatal. */
  private enqueue(job: () => Promise<void>): void {
    this.work = this.work.then(job).catch((err: unknown) => {
      this.lastError = err instanceof Error ? err.message : String(err);
      this.ctx.log.warn({ err: this.lastError }, 'xahau job failed');
    });
  }

  /** After every (re)connection: definitions, subscription, replay from the cursor, unfinished replies. */
  private async onConnected(url: string): Promise<void> {
    const client = this.client!;
    const defs = await client.request('server_definitions').catch(() => undefined);
    if (defs !== undefined) this.definitions = definitionsFrom(defs);
    this.moments = await this.readMoments();
    await client.request('subscribe', { accounts: [this.ctx.config.hostAccount], streams: ['ledger'] });
    let cursor = await this.state!.cursor();
    if (cursor === undefined) {
      cursor = this.ctx.config.startLedger ?? Number((await client.request('ledger_closed')).ledger_index);
      await this.state!.advanceCursor(cursor);
    }
    this.ctx.log.info({ url, from: cursor }, 'xahau connected; replaying the host account');
    if (!(await this.untilHandler())) return;
    const again = await this.resumeUnfinished();
    if (again !== undefined && again < cursor) cursor = again;
    let marker: unknown;
    do {
      const page = await client.request('account_tx', { account: this.ctx.config.hostAccount, ledger_index_min: cursor, ledger_index_max: -1, forward: true, limit: PAGE, ...(marker ? { marker } : {}) });
      for (const entry of (page.transactions ?? []) as unknown[]) await this.onTransaction({ ...(entry as object), validated: true });
      marker = page.marker;
    } while (marker !== undefined && this.running);
    this.replayed = this.running;
    if (!this.replayed) return;
    void this.keeper!.poke();
    // The first plan is made once connected and caught up (moments read, slots known), not at start.
    if (this.ctx.config.heartbeat && !this.heartbeatPlanned) {
      this.heartbeatPlanned = true;
      this.scheduleHeartbeat();
    }
  }

  /** Moment base and size: the governor hook's state when configured and readable, else the config. */
  private async readMoments(): Promise<MomentInfo> {
    const c = this.ctx.config;
    const fallback = this.configMoments();
    if (c.governorAccount === undefined) return fallback;
    const entry = async (key: string): Promise<string | undefined> => {
      const r = await this.client!.request('ledger_entry', { index: hookStateIndex(c.governorAccount!, key), ledger_index: 'validated' }).catch(() => undefined);
      const data = (r?.node as Record<string, unknown> | undefined)?.HookStateData;
      return typeof data === 'string' ? data : undefined;
    };
    const base = decodeMomentBaseInfo((await entry(STATE_KEY.MOMENT_BASE_INFO)) ?? '');
    const size = decodeMomentSize((await entry(STATE_KEY.MOMENT_SIZE)) ?? '');
    // Ledger-indexed moments (Evernode's first form) cannot be timed by the clock: use the config.
    if (base === undefined || size === undefined || base.type !== 'timestamp') {
      this.ctx.log.warn({ governor: c.governorAccount }, 'moment base/size not readable from the governor hook state; using momentSeconds/momentBaseTimestamp');
      return fallback;
    }
    return { baseIdx: base.baseIdx, baseMoment: base.baseMoment, size, source: 'governor' };
  }

  private configMoments(): MomentInfo {
    return { baseIdx: this.ctx.config.momentBaseTimestamp, baseMoment: 0, size: this.ctx.config.momentSeconds, source: 'config' };
  }

  private momentInfo(): MomentInfo {
    return this.moments ?? this.configMoments();
  }

  private async onTransaction(message: unknown): Promise<void> {
    let ltx = normalizeTx(message);
    if (ltx === undefined) return;
    const state = this.state!;
    if ((await state.request(ltx.hash)) !== undefined) return; // seen: replay and stream overlap
    const missing = needsOfferLookup(ltx);
    if (missing !== undefined) {
      const before = await this.keeper!.tokensOf(this.ctx.config.hostAccount, ltx.ledgerIndex - 1).catch((err: unknown) => {
        this.ctx.log.warn({ tx: ltx!.hash, err: String(err) }, 'URITokenBuy without a URIToken node, and the ledger before it is not readable');
        return [];
      });
      const offer = before.find((t) => t.index.toUpperCase() === missing && t.Amount !== undefined);
      if (offer !== undefined) ltx = withOffer(ltx, offer);
    }
    const decoded = decodeTx(ltx, { hostAccount: this.ctx.config.hostAccount, evrIssuer: this.ctx.config.evrIssuer, ...messageKeyOptions(this.key!) });
    if (decoded.kind === 'ignored') return;
    if (!(await this.untilHandler())) return;
    await state.putRequest(ltx.hash, { status: 'handling', kind: decoded.kind, ledgerIndex: ltx.ledgerIndex });
    const reply = await this.decide(decoded);
    if (reply === undefined) {
      await state.putRequest(ltx.hash, { status: 'replied', kind: decoded.kind, ledgerIndex: ltx.ledgerIndex, note: 'no reply in the protocol' });
      if (this.replayed) void this.keeper!.poke();
      return;
    }
    const record: RequestRecord = { status: 'handled', kind: decoded.kind, ledgerIndex: ltx.ledgerIndex, reply };
    await state.putRequest(ltx.hash, record);
    this.sendReply(ltx.hash, record);
    if (this.replayed) void this.keeper!.poke();
  }

  /** The reply goes out in the background so that a slow ledger does not hold up the next request. */
  private sendReply(requestHash: string, record: RequestRecord): void {
    const state = this.state!;
    if (this.replying.has(requestHash)) return;
    this.replying.add(requestHash);
    void this.submitter!
      .submit(record.reply!, (s) => state.putRequest(requestHash, { ...record, status: 'replying', signed: { blob: s.blob, hash: s.hash, lastLedger: s.lastLedger } }), record.signed && { blob: record.signed.blob, hash: record.signed.hash, lastLedger: record.signed.lastLedger })
      .then(async (o) => {
        const latest = (await state.request(requestHash)) ?? record;
        await state.putRequest(requestHash, { ...latest, status: 'replied', result: o.result, signed: { ...(latest.signed ?? { blob: '', lastLedger: 0 }), hash: o.hash } });
      })
      .catch((err: unknown) => {
        this.lastError = err instanceof Error ? err.message : String(err);
        this.ctx.log.warn({ request: requestHash, err: this.lastError }, 'xahau reply not sent');
      })
      .finally(() => this.replying.delete(requestHash));
  }

  /** Resends unfinished replies; returns the lowest ledger of requests to ask the handler again. */
  private async resumeUnfinished(): Promise<number | undefined> {
    let again: number | undefined;
    for (const [hash, record] of await this.state!.unfinished()) {
      if (record.status !== 'handling') {
        this.sendReply(hash, record);
        continue;
      }
      // The process ended inside the handler: forget the record, and replay from its ledger.
      await this.ctx.capability('store').redis.hdel(`plexus:xahau:${this.ctx.config.hostAccount}:req`, hash);
      again = Math.min(again ?? record.ledgerIndex, record.ledgerIndex);
    }
    return again;
  }

  private common(): { host: string; networkId: number } {
    return { host: this.ctx.config.hostAccount, networkId: this.ctx.config.networkId };
  }

  /** Asks the handler; returns the reply transaction (refund on refusal), or undefined (terminate). */
  private async decide(d: Exclude<Decoded, { kind: 'ignored' }>): Promise<UnsignedTx | undefined> {
    const c = this.ctx.config;
    const state = this.state!;
    const handler = this.handler!;
    if (d.kind === 'invalid') {
      this.counts.invalid++;
      if (d.event === 'acquire' && d.uriTokenId !== undefined) await this.endSlot(d.uriTokenId);
      if (d.event === 'acquire') return acquireErrorTx(this.common(), d.tx.account, d.tx.hash, d.refund, d.reason);
      if (d.event === 'extend') return extendErrorTx(this.common(), d.tx.account, d.tx.hash, d.refund, d.reason);
      return undefined;
    }
    if (d.kind === 'acquire') {
      this.counts.acquire++;
      try {
        const result = await handler({ kind: 'acquire', tenant: d.payload.ownerPubkey, image: d.payload.image, config: d.payload.config, ...(d.payload.contractId ? { contractId: d.payload.contractId } : {}), durationSeconds: this.momentInfo().size, requestId: d.tx.hash });
        if (result.kind !== 'acquire') throw new PlexusError('ERR_INTERNAL', 'the host answered an acquire with another kind');
        await state.putLease(d.uriTokenId, { leaseId: result.leaseId, tenantAccount: d.tx.account, tenantKey: d.payload.ownerPubkey, leaseAmount: c.leaseAmount ?? d.lease.leaseAmount, evrIssuer: d.paid.issuer, leaseIndex: d.lease.leaseIndex, expiresAt: Date.parse(result.expiresAt) });
        const messageKey = (await this.messageKeyOf(d.tx.account)) ?? `ED${d.payload.ownerPubkey.toUpperCase()}`;
        // Evernode's acquire-success fields (COMPAT §5), sealed below to the tenant's message key.
        const x = result.details;
        const info = { name: x.name, domain: x.host, pubkey: x.pubkey, contract_id: x.contractId, peer_port: x.peerPort, user_port: x.userPort, lease_id: result.leaseId, uri_token_id: d.uriTokenId, expires_at: result.expiresAt };
        return acquireSuccessTx(this.common(), d.tx.account, d.tx.hash, info, messageKey);
      } catch (err) {
        await this.endSlot(d.uriTokenId);
        return acquireErrorTx(this.common(), d.tx.account, d.tx.hash, d.paid, reasonOf(err));
      }
    }
    const lease = await state.lease(d.uriTokenId);
    if (d.kind === 'extend') {
      this.counts.extend++;
      const refund: IssuedAmount = d.paid;
      if (lease === undefined) return extendErrorTx(this.common(), d.tx.account, d.tx.hash, refund, 'unknown URIToken');
      const moments = momentsFor(d.paid.value, c.leaseAmount ?? lease.leaseAmount);
      if (moments < 1) return extendErrorTx(this.common(), d.tx.account, d.tx.hash, refund, 'payment is less than one moment');
      try {
        const result = await handler({ kind: 'extend', tenant: lease.tenantKey, leaseId: lease.leaseId, durationSeconds: moments * this.momentInfo().size, requestId: d.tx.hash });
        if (result.kind !== 'extend') throw new PlexusError('ERR_INTERNAL', 'the host answered an extend with another kind');
        await state.putLease(d.uriTokenId, { ...lease, expiresAt: Date.parse(result.expiresAt) });
        const moment = momentAt(this.momentInfo(), Date.parse(result.expiresAt) / 1000);
        return extendSuccessTx(this.common(), d.tx.account, d.tx.hash, moment);
      } catch (err) {
        return extendErrorTx(this.common(), d.tx.account, d.tx.hash, refund, reasonOf(err));
      }
    }
    this.counts.terminate++;
    if (lease === undefined || lease.tenantAccount !== d.tx.account) return undefined; // Evernode has no terminate reply; nothing to refund
    try {
      await handler({ kind: 'terminate', tenant: lease.tenantKey, leaseId: lease.leaseId, requestId: d.tx.hash });
      await this.endSlot(d.uriTokenId);
    } catch (err) {
      this.ctx.log.warn({ request: d.tx.hash, err: reasonOf(err) }, 'terminate refused by the host');
    }
    return undefined;
  }

  /** The lease behind a slot token ended (or never began): the token is burned and the slot offered again. */
  private async endSlot(uriTokenId: string): Promise<void> {
    await this.state!.dropLease(uriTokenId);
    if (this.ctx.config.slots !== undefined) await this.state!.markBurn(uriTokenId);
  }

  private async messageKeyOf(account: string): Promise<string | undefined> {
    try {
      const info = await this.client!.request('account_info', { account, ledger_index: 'validated' });
      const key = (info.account_data as Record<string, unknown> | undefined)?.MessageKey;
      return typeof key === 'string' && (/^ED[0-9A-F]{64}$/i.test(key) || isSecp256k1PublicKey(key)) ? key : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Plans the next heartbeat: at the start of the first moment not yet beaten, plus a jitter of up
   * to a tenth of the moment (at most 60 s) that spreads hosts over the moment's first minutes. A
   * host that is late in the current moment beats at once.
   */
  private scheduleHeartbeat(): void {
    void (async () => {
      const last = await this.state!.heartbeat().catch(() => undefined);
      if (!this.running) return;
      const m = this.momentInfo();
      const now = Date.now();
      const current = momentAt(m, now / 1000);
      const moment = last?.moment !== undefined && last.moment >= current ? last.moment + 1 : current;
      const jitter = Math.floor(Math.random() * Math.min(60_000, m.size * 100));
      const due = Math.max(now, momentStart(m, moment) * 1000 + jitter);
      this.heartbeatTimer = setTimeout(() => void this.heartbeat(moment, due), due - now);
    })();
  }

  private async heartbeat(moment: number, due: number): Promise<void> {
    const m = this.momentInfo();
    let sent = false;
    try {
      if (!(await this.untilHandler())) return;
      if (!(await this.keeper!.allOffered())) {
        this.heartbeatSkips++;
        this.ctx.log.info({ moment }, 'heartbeat held back: a lease slot is not offered');
        return;
      }
      const at = Date.now();
      const outcome = await this.submitter!.submit(heartbeatTx(this.common(), this.ctx.config.heartbeatAccount), async () => undefined);
      await this.state!.putHeartbeat({ at, hash: outcome.hash, moment, due });
      this.drifts.push(at - due);
      if (this.drifts.length > 100) this.drifts.shift();
      sent = true;
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
    } finally {
      if (this.running) {
        // Not sent: try again a little later within the same moment (a slot may be offered by then).
        const retry = Math.min(30_000, Math.max(50, m.size * 50));
        if (!sent && momentAt(m, (Date.now() + retry) / 1000) === moment) this.heartbeatTimer = setTimeout(() => void this.heartbeat(moment, due), retry);
        else this.scheduleHeartbeat();
      }
    }
  }

  async status(): Promise<Record<string, unknown>> {
    const state = this.state;
    return {
      source: 'xahau',
      account: this.ctx.config.hostAccount,
      server: this.client?.connectedTo ?? null,
      ledger: this.lastLedger || null,
      cursor: (await state?.cursor()) ?? null,
      lastHeartbeat: (await state?.heartbeat()) ?? null,
      heartbeat: { momentSize: this.momentInfo().size, momentSource: this.momentInfo().source, moment: momentAt(this.momentInfo(), Date.now() / 1000), heldBack: this.heartbeatSkips, driftMs: driftStats(this.drifts) },
      ...(this.keeper ? await this.keeper.status() : {}),
      hostAttached: this.handler !== undefined,
      requests: { ...this.counts },
      replies: state ? await state.counts() : null,
      lastError: this.lastError ?? this.keeper?.lastError ?? null,
    };
  }
}

function driftStats(d: number[]): { last: number; max: number; count: number } | null {
  return d.length === 0 ? null : { last: d[d.length - 1]!, max: Math.max(...d), count: d.length };
}

function reasonOf(err: unknown): string {
  if (err instanceof PlexusError) return err.code;
  return 'INTERNAL_ERR';
}
