import { PlexusError, type Logger } from '@plexus/core';
import type { XahauClient } from './client.js';
import type { LedgerXahauConfig } from './config.js';
import { XAHAU_ERRORS } from './errors.js';
import { mintLeaseUri } from './lease-uri.js';
import { buyTx, hostRegTx, registrationToken, registrationUri } from './registration.js';
import type { UnsignedTx } from './replies.js';
import { burnTx, leaseSlotOf, mintTx, planSlots, sellOfferTx, uriTokenId, type SlotAction, type UriTokenEntry } from './slots.js';
import type { XahauState } from './state.js';
import type { Outcome, Submitter } from './submit.js';

/**
 * Keeps the host's side of the ledger in shape, one pass at a time: registers the host once
 * (when configured), then makes every free lease slot hold exactly one offered token (mint,
 * offer, burn — see slots.ts). Passes run after every handled request, on a timer, and after a
 * (re)connection; a pass reads the host's tokens as of the last ledger whose tenant requests are all
 * handled, so a token a tenant just bought is never taken for a free slot.
 */

export interface KeeperDeps {
  client: XahauClient;
  submitter: Submitter;
  state: XahauState;
  config: LedgerXahauConfig;
  log: Logger;
  common: { host: string; networkId: number };
  /** The last ledger whose transactions to the host are all handled (cursor - 1); undefined before the first replay. */
  handledLedger(): Promise<number | undefined>;
  running(): boolean;
}

export interface SlotStatus {
  /** Slots kept (offered or leased); null until the hosting plugin has told its capacity. */
  count: number | null;
  offered: number;
  unoffered: number;
  leased: number;
  burning: number;
  /** The ledger the next pass waits to see handled (the last slot transaction's); null when not waiting. */
  waitingFor: number | null;
  lastPass: string | null;
  lastActions: string[];
}

export class SlotKeeper {
  private busy: Promise<void> | undefined;
  private again = false;
  private lastPass: string | null = null;
  private lastActions: string[] = [];
  private lastCounts = { offered: 0, unoffered: 0 };
  /** What the hosting plugin said of its capacity (`ledger.capacity`); undefined until it does. */
  private host: { instances: number; available: boolean } | undefined;
  /** Mint lease tokens already on offer (one transaction) until a server refuses that form. */
  private mintWithOffer = true;
  registered: boolean;
  /** The last pass found the handled ledger older than the last slot transaction: run again at the next ledger. */
  waiting = false;
  /** That slot transaction's ledger, while waiting for it to be handled (status). */
  private waitingFor: number | null = null;
  lastError: string | undefined;

  constructor(private readonly d: KeeperDeps) {
    this.registered = d.config.registration === undefined;
  }

  /** The hosting side's capacity (start, drain); the service runs the next pass once caught up. */
  setCapacity(c: { instances: number; available: boolean }): void {
    this.host = { ...c };
  }

  /**
   * Slots to keep (offered or leased): `slots.count`, capped by the host's instances, else those
   * instances; 0 while the host drains; undefined while neither is known (nothing is minted).
   */
  private slotCount(): number | undefined {
    const configured = this.d.config.slots?.count;
    const h = this.host;
    if (h === undefined) return configured;
    if (!h.available) return 0;
    return configured === undefined ? h.instances : Math.min(configured, h.instances);
  }

  /** Runs a pass now, or right after the one in progress; none once the service stopped. */
  poke(): Promise<void> {
    // A request handled while the service stops pokes late: a pass then would run beside the next instance's keeper.
    if (!this.d.running()) return this.idle();
    if (this.busy !== undefined) {
      this.again = true;
      return this.busy;
    }
    this.busy = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again && this.d.running());
      } catch (err) {
        this.lastError = err instanceof Error ? err.message : String(err);
        this.d.log.warn({ err: this.lastError }, 'xahau slot pass failed; retried later');
      } finally {
        this.busy = undefined;
      }
    })();
    return this.busy;
  }

  /** Resolves when no pass is running (for stop). */
  idle(): Promise<void> {
    return this.busy ?? Promise.resolve();
  }

  /** The host's URITokens at `ledger` (`account_objects`, paged). */
  async tokensOf(account: string, ledger: number | 'validated'): Promise<UriTokenEntry[]> {
    const out: UriTokenEntry[] = [];
    let marker: unknown;
    do {
      const page = await this.d.client.request('account_objects', { account, type: 'uri_token', ledger_index: ledger, limit: 400, ...(marker ? { marker } : {}) });
      for (const o of (page.account_objects ?? []) as Record<string, unknown>[]) if (o.LedgerEntryType === 'URIToken') out.push(o as unknown as UriTokenEntry);
      marker = page.marker;
    } while (marker !== undefined);
    return out;
  }

  private async send(tx: UnsignedTx): Promise<Outcome> {
    const { state, submitter } = this.d;
    const outcome = await submitter.submit(tx, (s) => state.putSlotTx({ tx, blob: s.blob, hash: s.hash, lastLedger: s.lastLedger }), undefined, { low: true });
    await this.validated(outcome);
    return outcome;
  }

  /**
   * A slot transaction validated. Its ledger is stored before its in-flight record goes, so that
   * every later pass, in this process or the next, waits until it reads tokens at that ledger.
   */
  private async validated(o: Outcome): Promise<void> {
    await this.d.state.raiseSlotLedger(o.ledgerIndex);
    await this.d.state.putSlotTx(undefined);
  }

  private async pass(): Promise<void> {
    const { state, submitter, config: c } = this.d;
    // A slot transaction signed before a restart goes out first (as is, or re-signed once expired).
    this.waiting = false;
    const inFlight = await state.slotTx();
    if (inFlight !== undefined) {
      const o = await submitter.submit(inFlight.tx, (s) => state.putSlotTx({ tx: inFlight.tx, blob: s.blob, hash: s.hash, lastLedger: s.lastLedger }), inFlight, { low: true });
      await this.validated(o);
      // A registration payment whose outcome the last process never saw: record it, never pay twice.
      if (o.result === 'tesSUCCESS' && c.registration !== undefined && inFlight.tx.Destination === c.registration.registryAccount) await state.putRegistration({ payment: o.hash, paymentLedger: o.ledgerIndex });
    }
    if (!this.registered) await this.register();
    if (!this.registered || c.slots === undefined) return;
    const slots = c.slots;
    const now = Date.now();
    for (const [id, lease] of await state.leases()) {
      if (lease.expiresAt !== undefined && lease.expiresAt <= now) {
        // The host ended the instance at expiry (hosting's own timer): the slot goes back on offer.
        await state.markBurn(id);
        await state.dropLease(id);
      }
    }
    // Snapshot first, leases after: every acquire up to the snapshot ledger is then among the leases
    // (its token no longer the host's in the snapshot), and later ones still show as the host's tokens.
    // The snapshot must also hold every slot transaction validated so far, this process's and the
    // last one's: the handled ledger trails a just-validated mint by a ledger, and a restart in that
    // window would otherwise mint the slot again (two tokens on offer for one slot, both sold).
    const snapshot = await this.d.handledLedger();
    const after = await state.slotLedger();
    if (snapshot === undefined || snapshot < after) {
      this.waiting = true; // the next ledger pokes again
      this.waitingFor = snapshot === undefined ? null : after;
      return;
    }
    this.waitingFor = null;
    const owned = await this.tokensOf(c.hostAccount, snapshot);
    const leases = await state.leases();
    const leased = new Map([...leases].filter(([, l]) => l.leaseIndex !== undefined).map(([id, l]) => [id.toUpperCase(), l.leaseIndex!]));
    const count = this.slotCount();
    if (count === undefined) return; // the hosting plugin has not told its capacity yet
    const actions = planSlots(count, c.hostAccount, owned, leased, await state.toBurn());
    this.lastPass = new Date().toISOString();
    this.lastActions = actions.map(describe);
    const mine = owned.map((e) => leaseSlotOf(e, c.hostAccount)).filter((s) => s !== undefined);
    this.lastCounts = { offered: mine.filter((s) => s.offered).length, unoffered: mine.filter((s) => !s.offered).length };
    for (const a of actions) {
      if (!this.d.running()) return;
      if (a.kind === 'burn') {
        const o = await this.send(burnTx(this.d.common, a.id));
        // tecNO_ENTRY: already gone (burned by an earlier pass whose outcome was lost).
        if (o.result === 'tesSUCCESS' || o.result === 'tecNO_ENTRY') await state.burned(a.id);
        this.d.log.info({ token: a.id, why: a.why, result: o.result }, 'lease slot token burned');
      } else if (a.kind === 'offer') {
        const o = await this.send(sellOfferTx(this.d.common, a.id, slots.leaseAmount, c.evrIssuer!));
        this.d.log.info({ token: a.id, slot: a.leaseIndex, result: o.result }, 'lease slot offered');
      } else {
        // The identifier in the URI is the account's Sequence at minting, as Evernode writes it.
        const info = await this.d.client.request('account_info', { account: c.hostAccount, ledger_index: 'current' });
        const identifier = Number((info.account_data as Record<string, unknown> | undefined)?.Sequence ?? 0);
        const uri = mintLeaseUri({ leaseIndex: a.leaseIndex, halfTosHash: slots.tosHash, leaseAmount: slots.leaseAmount, identifier, ...(slots.outboundIpv6 ? { outboundIpv6: slots.outboundIpv6 } : {}) });
        const id = uriTokenId(c.hostAccount, uri);
        if (this.mintWithOffer) {
          try {
            const o = await this.send(mintTx(this.d.common, uri, { leaseAmount: slots.leaseAmount, evrIssuer: c.evrIssuer! }));
            this.d.log.info({ token: id, slot: a.leaseIndex, result: o.result }, 'lease slot minted on offer');
            continue;
          } catch (err) {
            // A server without Amount on URITokenMint refuses it as malformed: mint, then offer.
            if (!(err instanceof PlexusError && err.code === XAHAU_ERRORS.ERR_XAHAU_SUBMIT && /^tem/.test(err.message))) throw err;
            this.mintWithOffer = false;
            this.d.log.warn({ err: err.message }, 'URITokenMint with Amount refused; minting and offering in two transactions');
          }
        }
        const minted = await this.send(mintTx(this.d.common, uri));
        if (minted.result !== 'tesSUCCESS') {
          this.d.log.warn({ slot: a.leaseIndex, result: minted.result }, 'lease slot token not minted');
          continue;
        }
        const o = await this.send(sellOfferTx(this.d.common, id, slots.leaseAmount, c.evrIssuer!));
        this.d.log.info({ token: id, slot: a.leaseIndex, result: o.result }, 'lease slot minted and offered');
      }
    }
  }

  /**
   * Evernode's rule (HostClient.heartbeat): no heartbeat while the host owns a lease token that is
   * not offered. With `slots` configured, also none while a free slot has no offered token yet.
   */
  async allOffered(): Promise<boolean> {
    const c = this.d.config;
    if (!this.registered) return false;
    const owned = await this.tokensOf(c.hostAccount, 'validated');
    const mine = owned.map((e) => leaseSlotOf(e, c.hostAccount)).filter((s) => s !== undefined);
    if (mine.some((s) => !s.offered)) return false;
    if (c.slots === undefined) return true;
    const leases = await this.d.state.leases();
    const leased = new Map([...leases].filter(([, l]) => l.leaseIndex !== undefined && (l.expiresAt === undefined || l.expiresAt > Date.now())).map(([id, l]) => [id.toUpperCase(), l.leaseIndex!]));
    const count = this.slotCount();
    if (count === undefined) return false;
    return planSlots(count, c.hostAccount, owned, leased, []).every((a) => a.kind === 'burn');
  }

  /** Registration (HostClient.register), resumable: payment → the registry's offer → buy. */
  private async register(): Promise<void> {
    const { state, config: c, client } = this.d;
    const reg = c.registration!;
    const r = await state.registration();
    if (r.done === true) {
      this.registered = true;
      return;
    }
    const mine = registrationToken(await this.tokensOf(c.hostAccount, 'validated'), c.hostAccount, reg.registryAccount);
    if (mine !== undefined) {
      await state.putRegistration({ ...r, token: mine.index, done: true });
      this.registered = true;
      this.d.log.info({ token: mine.index }, 'host registered with the Evernode registry');
      return;
    }
    if (r.payment === undefined || r.paymentLedger === undefined) {
      const figures = { ...reg, leaseAmount: c.slots?.leaseAmount ?? c.leaseAmount ?? '0' };
      const o = await this.send(hostRegTx(this.d.common, reg.registryAccount, reg.fee, c.evrIssuer!, figures));
      if (o.result !== 'tesSUCCESS') throw new Error(`the registration payment failed: ${o.result}`);
      await state.putRegistration({ payment: o.hash, paymentLedger: o.ledgerIndex });
      this.d.log.info({ payment: o.hash }, 'registration fee paid; waiting for the registry token');
      return;
    }
    const uri = registrationUri(r.payment);
    const offer = (await this.tokensOf(reg.registryAccount, 'validated')).find((t) => t.Amount !== undefined && t.Destination === c.hostAccount && t.URI.toUpperCase() === uri);
    if (offer === undefined) {
      const closed = Number((await client.request('ledger_closed')).ledger_index);
      if (closed > r.paymentLedger + reg.offerWaitLedgers) this.lastError = `no registration offer from ${reg.registryAccount} ${closed - r.paymentLedger} ledgers after the payment ${r.payment}`;
      return;
    }
    const o = await this.send(buyTx(this.d.common, offer));
    if (o.result !== 'tesSUCCESS') throw new Error(`buying the registration token failed: ${o.result}`);
    await state.putRegistration({ ...r, token: offer.index, done: true });
    this.registered = true;
    this.d.log.info({ token: offer.index }, 'host registered with the Evernode registry');
  }

  async status(): Promise<Record<string, unknown>> {
    const c = this.d.config;
    const leases = await this.d.state.leases();
    const slots: SlotStatus | null =
      c.slots === undefined
        ? null
        : { count: this.slotCount() ?? null, ...this.lastCounts, waitingFor: this.waitingFor, leased: [...leases.values()].filter((l) => l.leaseIndex !== undefined).length, burning: (await this.d.state.toBurn()).length, lastPass: this.lastPass, lastActions: this.lastActions };
    return { slots, registration: c.registration === undefined ? null : { ...(await this.d.state.registration()), registered: this.registered } };
  }
}

function describe(a: SlotAction): string {
  return a.kind === 'burn' ? `burn ${a.id.slice(0, 8)} (${a.why})` : a.kind === 'offer' ? `offer slot ${a.leaseIndex}` : `mint slot ${a.leaseIndex}`;
}
