import type { Libp2p } from 'libp2p';
import { RpcClient, generateKeyPair, toHex } from '@plexus/core';
import { clientNode } from './wire.js';
import { CANARY_IP, HELLO } from './target.js';

/** Outcomes of one kind of canary call. */
export interface CanaryTally {
  ok: number;
  failed: number;
  /** The first few failures, as `CODE: message`. */
  errors: string[];
  maxLatencyMs: number;
}

export interface CanaryReport {
  /** A fresh libp2p node (new peer id), a new connection, one signed write, close: a CLI run. */
  fresh: CanaryTally;
  /** Signed writes on one connection kept open from before the attack. */
  open: CanaryTally;
  /** Writes the node acknowledged, over both kinds. */
  acked: number;
  /** The greeting count the node reported after the attack, for one more write: at least acked + 1. */
  finalCount: number;
}

/** Share of successful calls, 0..1 (1 when none were made, which `assertCanary` refuses). */
export function successRate(t: CanaryTally): number {
  return t.ok + t.failed === 0 ? 1 : t.ok / (t.ok + t.failed);
}

const CALL_TIMEOUT_MS = 5000;

/**
 * A well-behaved client running beside an attack, from its own address (CANARY_IP): it keeps
 * calling `greet` (a signed, fsynced write) on an open connection and on fresh connections, and
 * counts what succeeds. All greets are signed by one key, so the node's count for that key
 * must end at least at the number of acknowledged ones: no acknowledged write lost.
 */
export class Canary {
  readonly fresh: CanaryTally = { ok: 0, failed: 0, errors: [], maxLatencyMs: 0 };
  readonly open: CanaryTally = { ok: 0, failed: 0, errors: [], maxLatencyMs: 0 };
  private readonly key = generateKeyPair();
  private acked = 0;
  private running = true;
  private loops: Promise<void>[] = [];
  private openNode: Libp2p | undefined;
  private openClient: RpcClient | undefined;
  private stopping: Promise<CanaryReport> | undefined;

  private constructor(private readonly target: string) {}

  /**
   * Connects the long-lived client (before the attack starts) and starts both loops. With `t`,
   * the canary is also stopped when the test ends, so a failed assertion leaves no loop running.
   */
  static async start(target: string, t?: { after(fn: () => unknown): void }): Promise<Canary> {
    const c = new Canary(target);
    t?.after(() => c.stop());
    c.openNode = await clientNode(CANARY_IP);
    c.openClient = await RpcClient.connect(target, { libp2p: c.openNode, key: c.key, timeoutMs: CALL_TIMEOUT_MS });
    await c.greet(c.openClient, c.open);
    c.loops = [c.openLoop(), c.freshLoop()];
    return c;
  }

  get pubkey(): string {
    return toHex(this.key.publicKey);
  }

  /** Stops the loops, waits for calls in flight, checks the write count; then closes. Idempotent. */
  stop(): Promise<CanaryReport> {
    this.stopping ??= this.finish();
    return this.stopping;
  }

  private async finish(): Promise<CanaryReport> {
    this.running = false;
    await Promise.all(this.loops);
    let finalCount = -1;
    try {
      finalCount = (await this.openClient!.call<{ count: number }>(HELLO, 'greet', { name: 'canary' }, { signed: true })).count;
    } catch {
      // Reported as -1: the assertion on finalCount then fails with the tallies in view.
    }
    await this.openClient?.close();
    await Promise.resolve(this.openNode?.stop()).catch(() => undefined);
    return { fresh: this.fresh, open: this.open, acked: this.acked, finalCount };
  }

  private async greet(client: RpcClient, tally: CanaryTally): Promise<void> {
    const started = Date.now();
    try {
      await client.call<{ count: number }>(HELLO, 'greet', { name: 'canary' }, { signed: true });
      this.acked++;
      tally.ok++;
    } catch (err) {
      tally.failed++;
      if (tally.errors.length < 5) tally.errors.push(`${(err as { code?: string }).code ?? 'ERR'}: ${(err as Error).message}`);
    }
    tally.maxLatencyMs = Math.max(tally.maxLatencyMs, Date.now() - started);
  }

  private async openLoop(): Promise<void> {
    while (this.running) {
      await this.greet(this.openClient!, this.open);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async freshLoop(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      let node: Libp2p | undefined;
      try {
        node = await clientNode(CANARY_IP);
        const client = await RpcClient.connect(this.target, { libp2p: node, key: this.key, timeoutMs: CALL_TIMEOUT_MS });
        await this.greet(client, this.fresh);
        await client.close();
      } catch (err) {
        this.fresh.failed++;
        this.fresh.maxLatencyMs = Math.max(this.fresh.maxLatencyMs, Date.now() - started);
        if (this.fresh.errors.length < 5) this.fresh.errors.push(`${(err as { code?: string }).code ?? 'ERR'}: ${(err as Error).message}`);
      } finally {
        await Promise.resolve(node?.stop()).catch(() => undefined);
      }
    }
  }
}

/**
 * The canary's verdict: at least `minCalls` of each kind were made, at least 99 % of each
 * succeeded, and every acknowledged write is counted by the node.
 */
export function assertCanary(report: CanaryReport, minCalls: { fresh: number; open: number }): void {
  const detail = JSON.stringify(report);
  for (const kind of ['fresh', 'open'] as const) {
    const t = report[kind];
    if (t.ok + t.failed < minCalls[kind]) throw new Error(`canary made only ${t.ok + t.failed} ${kind} calls (want ${minCalls[kind]}): ${detail}`);
    if (successRate(t) < 0.99) throw new Error(`canary ${kind} success ${(successRate(t) * 100).toFixed(1)} % < 99 %: ${detail}`);
  }
  if (report.finalCount < report.acked + 1) throw new Error(`acknowledged writes lost: node counts ${report.finalCount}, acked ${report.acked} + 1: ${detail}`);
}

/** One line for the test log: rates and latencies. */
export function describeCanary(r: CanaryReport): string {
  const one = (t: CanaryTally): string => `${t.ok}/${t.ok + t.failed} (${(successRate(t) * 100).toFixed(1)} %, max ${t.maxLatencyMs} ms)`;
  return `canary fresh ${one(r.fresh)}, open ${one(r.open)}, writes acked ${r.acked}, counted ${r.finalCount}`;
}
