import { PlexusError } from '@plexus/core';
import type { XrplDefinitions } from 'ripple-binary-codec';
import { RippledError, type XahauClient } from './client.js';
import { XAHAU_ERRORS } from './errors.js';
import { encodeUnsigned, signTx, type HostKey, type SignedTx } from './sign.js';

/**
 * Sends the host's transactions one at a time, each to validation or expiry: Sequence from
 * `account_info` (current), Fee from `fee` (with the tx blob, so Hook fees are counted),
 * LastLedgerSequence = current + window. The signed blob is handed to `persist` before it is
 * submitted, so after a crash the same transaction is looked up (and resubmitted) rather than a
 * second one signed; a new one is signed only once the old one can no longer validate.
 */

export interface SubmitterOptions {
  maxFeeDrops: number;
  ledgerWindow: number;
  definitions: () => XrplDefinitions;
}

export interface InFlight {
  blob: string;
  hash: string;
  lastLedger: number;
}

export type Outcome = { hash: string; result: string; ledgerIndex: number };

interface Job {
  low: boolean;
  run(): Promise<void>;
}

export class Submitter {
  /** Waiting jobs; one runs at a time (one account, one Sequence). Replies and heartbeats go before slot upkeep. */
  private readonly jobs: Job[] = [];
  private pumping = false;
  private ledgerWaiters: (() => void)[] = [];
  private stopped = false;
  validatedLedger = 0;

  constructor(
    private readonly client: XahauClient,
    private readonly key: HostKey,
    private readonly options: SubmitterOptions,
  ) {}

  /** Called on every `ledgerClosed`. */
  onLedger(index: number): void {
    if (index > this.validatedLedger) this.validatedLedger = index;
    const w = this.ledgerWaiters;
    this.ledgerWaiters = [];
    for (const f of w) f();
  }

  stop(): void {
    this.stopped = true;
    this.onLedger(this.validatedLedger);
  }

  /**
   * Queues `tx`; resolves once a signed form of it validated (any result). `low`: behind every
   * waiting normal job (lease slot upkeep must not hold up a tenant's reply).
   */
  submit(tx: Record<string, unknown>, persist: (s: InFlight) => Promise<void>, existing?: InFlight, options: { low?: boolean } = {}): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      this.jobs.push({ low: options.low === true, run: () => this.run(tx, persist, existing).then(resolve, reject) });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const i = this.jobs.findIndex((j) => !j.low);
        const job = this.jobs.splice(i >= 0 ? i : 0, 1)[0];
        if (job === undefined) return;
        await job.run();
      }
    } finally {
      this.pumping = false;
    }
  }

  private nextLedger(): Promise<void> {
    // Stopped: no ledger is coming; the job's loop ends at once instead of after the timeout (stop waits for it).
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.ledgerWaiters = this.ledgerWaiters.filter((f) => f !== done);
        resolve();
      }, 2_000);
      const done = (): void => {
        clearTimeout(t);
        resolve();
      };
      this.ledgerWaiters.push(done);
    });
  }

  private async run(tx: Record<string, unknown>, persist: (s: InFlight) => Promise<void>, existing?: InFlight): Promise<Outcome> {
    let inFlight = existing;
    while (!this.stopped) {
      try {
        if (inFlight !== undefined) {
          const state = await this.lookup(inFlight);
          if (state.kind === 'validated') return { hash: inFlight.hash, result: state.result, ledgerIndex: state.ledgerIndex };
          if (state.kind === 'pending') {
            // Resubmitting the same blob is harmless: one Sequence, one hash.
            await this.client.request('submit', { tx_blob: inFlight.blob }).catch(() => undefined);
            await this.nextLedger();
            continue;
          }
          // expired: it can never validate now; sign a new one below.
        }
        const signed = await this.sign(tx);
        inFlight = { blob: signed.blob, hash: signed.hash, lastLedger: Number(signed.tx.LastLedgerSequence) };
        await persist(inFlight);
        const res = await this.client.request('submit', { tx_blob: signed.blob });
        const engine = String(res.engine_result ?? '');
        if (engine.startsWith('tem') || engine === 'tefBAD_AUTH' || engine === 'tefMASTER_DISABLED') {
          throw new PlexusError(XAHAU_ERRORS.ERR_XAHAU_SUBMIT, `${engine}: ${String(res.engine_result_message ?? '')}`);
        }
        if (engine === 'tefPAST_SEQ') inFlight = undefined; // the account moved on: sign again
        await this.nextLedger();
      } catch (err) {
        if (err instanceof PlexusError && (err.code === XAHAU_ERRORS.ERR_XAHAU_SUBMIT || err.code === XAHAU_ERRORS.ERR_XAHAU_FEE_TOO_HIGH)) throw err;
        // Disconnected or a server hiccup: wait for the next ledger (or reconnection) and retry.
        await this.nextLedger();
      }
    }
    throw new PlexusError('ERR_UNAVAILABLE', 'the Xahau lease source stopped before the transaction validated');
  }

  private async lookup(f: InFlight): Promise<{ kind: 'validated'; result: string; ledgerIndex: number } | { kind: 'pending' } | { kind: 'expired' }> {
    try {
      const r = await this.client.request('tx', { transaction: f.hash });
      if (r.validated === true) {
        const meta = r.meta as Record<string, unknown> | undefined;
        return { kind: 'validated', result: String(meta?.TransactionResult ?? 'unknown'), ledgerIndex: Number(r.ledger_index) };
      }
    } catch (err) {
      if (!(err instanceof RippledError && err.error === 'txnNotFound')) throw err;
    }
    const closed = await this.client.request('ledger_closed');
    const validated = Number(closed.ledger_index);
    if (validated > this.validatedLedger) this.validatedLedger = validated;
    return validated > f.lastLedger ? { kind: 'expired' } : { kind: 'pending' };
  }

  private async sign(tx: Record<string, unknown>): Promise<SignedTx> {
    const defs = this.options.definitions();
    const info = await this.client.request('account_info', { account: this.key.address, ledger_index: 'current' });
    const sequence = Number((info.account_data as Record<string, unknown> | undefined)?.Sequence);
    const current = Number((await this.client.request('ledger_current')).ledger_current_index);
    const draft = { ...tx, Sequence: sequence, Fee: '0', LastLedgerSequence: current + this.options.ledgerWindow };
    const feeRes = await this.client.request('fee', { tx_blob: encodeUnsigned(draft, defs) });
    // Xahau answers `fee` with a tx_blob by the fee of that transaction (Hooks included) in drops.base_fee.
    const drops = (feeRes.drops ?? {}) as Record<string, unknown>;
    const fee = Math.max(Number(drops.base_fee ?? 0), 10);
    if (!Number.isFinite(fee) || fee > this.options.maxFeeDrops) throw new PlexusError(XAHAU_ERRORS.ERR_XAHAU_FEE_TOO_HIGH, `the fee asked is ${fee} drops (max ${this.options.maxFeeDrops})`);
    return signTx({ ...draft, Fee: String(fee) }, this.key, defs);
  }
}
