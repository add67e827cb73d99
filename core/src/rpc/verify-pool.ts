import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { verifyHex } from '../crypto/ed25519.js';
import { PlexusError } from '../errors.js';
import type { Logger } from '../logger.js';

/** A batch as it travels to a verify thread: messages back to back in `bytes`, item i ends at `ends[i]`. */
export interface VerifyBatch {
  id: number;
  bytes: ArrayBuffer;
  ends: number[];
  sigs: string[];
  pubkeys: string[];
}

/** A thread's answer: `valid[i]` is 1 when item i verified. */
export interface VerifyResults {
  id: number;
  valid: Uint8Array;
}

/** Counters for `plexus status` (`rpc.verifyPool`). */
export interface VerifyPoolStats {
  threads: number;
  verified: number;
  batches: number;
  /** Threads that exited without being asked to (each replaced on next use). */
  crashes: number;
}

interface Item {
  message: Uint8Array;
  sig: string;
  pubkey: string;
  resolve(valid: boolean): void;
  reject(err: Error): void;
}

interface Batch {
  id: number;
  items: Item[];
  attempts: number;
}

interface Thread {
  worker: Worker;
  inFlight: Map<number, Batch>;
  /** Items sent and not answered: the least loaded thread gets the next batch. */
  load: number;
}

const WORKER_URL = new URL('./verify-worker.js', import.meta.url);
/** Items per batch: enough to amortise a message round trip (~30 µs) over many ~100 µs verifies. */
const MAX_BATCH_ITEMS = 128;
/** Bytes per batch, so a few large signed requests do not make one multi-MiB copy. */
const MAX_BATCH_BYTES = 1024 * 1024;
/** A batch whose thread died is tried once more on a fresh thread, then verified on the event loop. */
const MAX_ATTEMPTS = 2;

/**
 * None by default: on the 2-core machine we measure on, with the clients on the same cores, a
 * thread won 1.03x registrations/s and lost 1.22x at p99 (quiet run, 2026-11-30), and it costs
 * ~17 MB of RSS per node. Worth turning on (`rpc.verifyThreads`) where the explorer's event loop
 * is the bottleneck and cores are free: `suggestedVerifyThreads()` is one per core beyond the first.
 */
export function defaultVerifyThreads(): number {
  return 0;
}

/** One verify thread per core beyond the first (the event loop keeps that one), at most 4. */
export function suggestedVerifyThreads(): number {
  return Math.min(4, Math.max(0, availableParallelism() - 1));
}

/**
 * Verifies Ed25519 signatures on worker threads, so the RPC server's event loop keeps only the
 * work that needs its state (parsing, freshness, the replay cache, the handlers). Requests that
 * arrive in the same event-loop turn go out as one batch (one message each way), to the thread
 * with the least outstanding work. Threads start on first use and keep the process alive only
 * while they owe answers, so a forgotten pool never holds a process open; `close()` ends them. A thread that dies is replaced: its unanswered
 * batches go to a fresh thread once, and are verified on the event loop if that one dies too.
 */
export class VerifyPool {
  private readonly threads: (Thread | undefined)[];
  private queue: Item[] = [];
  private flushScheduled = false;
  private nextBatchId = 1;
  private closed = false;
  readonly stats: VerifyPoolStats;

  /**
   * @param size threads (started on first use)
   * @param workerUrl the thread's module; default `verify-worker.js` beside this file (a bundle of
   *   the node would point it at its copy)
   */
  constructor(
    size: number,
    private readonly log?: Logger,
    private readonly workerUrl: URL = WORKER_URL,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a VerifyPool needs at least one thread, got ${size}`);
    this.threads = new Array<Thread | undefined>(size).fill(undefined);
    this.stats = { threads: size, verified: 0, batches: 0, crashes: 0 };
  }

  /** True when `sig` (128 hex) by `pubkey` (64 hex) verifies over `message`; malformed hex is false. */
  verify(message: Uint8Array, sig: string, pubkey: string): Promise<boolean> {
    if (this.closed) return Promise.reject(stopping());
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ message, sig, pubkey, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Threads running now (started on first use, replaced after a crash on next use). */
  get running(): number {
    return this.threads.filter((t) => t !== undefined).length;
  }

  /** Ends every thread; whatever is still queued or in flight is refused with ERR_UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = stopping();
    for (const item of this.queue) item.reject(err);
    this.queue = [];
    const ending: Promise<number>[] = [];
    for (const [i, t] of this.threads.entries()) {
      if (t === undefined) continue;
      this.threads[i] = undefined;
      for (const batch of t.inFlight.values()) for (const item of batch.items) item.reject(err);
      t.inFlight.clear();
      ending.push(t.worker.terminate());
    }
    await Promise.all(ending);
  }

  /**
   * Ends one running thread as a crash would (tests of the replacement; `index` < size).
   * @returns false when that thread is not running.
   */
  async crashThread(index: number): Promise<boolean> {
    const t = this.threads[index];
    if (t === undefined) return false;
    await t.worker.terminate();
    return true;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    const items = this.queue;
    this.queue = [];
    let batch: Item[] = [];
    let bytes = 0;
    for (const item of items) {
      if (batch.length > 0 && (batch.length >= MAX_BATCH_ITEMS || bytes + item.message.length > MAX_BATCH_BYTES)) {
        this.send({ id: this.nextBatchId++, items: batch, attempts: 0 });
        batch = [];
        bytes = 0;
      }
      batch.push(item);
      bytes += item.message.length;
    }
    if (batch.length > 0) this.send({ id: this.nextBatchId++, items: batch, attempts: 0 });
  }

  private send(batch: Batch): void {
    batch.attempts++;
    const t = this.leastLoaded();
    let total = 0;
    for (const item of batch.items) total += item.message.length;
    const bytes = new Uint8Array(total);
    const ends: number[] = [];
    let pos = 0;
    for (const item of batch.items) {
      bytes.set(item.message, pos);
      pos += item.message.length;
      ends.push(pos);
    }
    const msg: VerifyBatch = { id: batch.id, bytes: bytes.buffer, ends, sigs: batch.items.map((i) => i.sig), pubkeys: batch.items.map((i) => i.pubkey) };
    t.inFlight.set(batch.id, batch);
    // Referenced only while it owes answers: an idle pool never keeps the process alive.
    if (t.load === 0) t.worker.ref();
    t.load += batch.items.length;
    this.stats.batches++;
    t.worker.postMessage(msg, [bytes.buffer]);
  }

  private leastLoaded(): Thread {
    let best: Thread | undefined;
    for (let i = 0; i < this.threads.length; i++) {
      const t = this.threads[i] ?? this.spawn(i);
      if (best === undefined || t.load < best.load) best = t;
    }
    return best!;
  }

  private spawn(index: number): Thread {
    // Signature checks hold no heap to speak of: a small limit makes a runaway thread fail (and be
    // replaced) instead of growing the node.
    const worker = new Worker(this.workerUrl, { resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } });
    const t: Thread = { worker, inFlight: new Map(), load: 0 };
    this.threads[index] = t;
    worker.on('message', (r: VerifyResults) => this.answered(t, r));
    worker.on('error', (err) => this.log?.error({ err }, 'a signature verification thread failed'));
    worker.once('exit', (code) => this.exited(index, t, code));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    return t;
  }

  private answered(t: Thread, r: VerifyResults): void {
    const batch = t.inFlight.get(r.id);
    if (batch === undefined) return;
    t.inFlight.delete(r.id);
    t.load -= batch.items.length;
    if (t.load === 0) t.worker.unref();
    this.stats.verified += batch.items.length;
    for (let i = 0; i < batch.items.length; i++) batch.items[i]!.resolve(r.valid[i] === 1);
  }

  private exited(index: number, t: Thread, code: number): void {
    if (this.threads[index] === t) this.threads[index] = undefined;
    if (this.closed) return;
    this.stats.crashes++;
    this.log?.warn({ code, unanswered: t.load }, 'a signature verification thread exited; a new one takes its work');
    for (const batch of t.inFlight.values()) {
      if (batch.attempts < MAX_ATTEMPTS) {
        this.send(batch);
        continue;
      }
      // Threads that cannot start or keep dying (a missing worker file, a heap limit) must not
      // stop signed requests: the event loop verifies this batch itself.
      this.log?.error({ items: batch.items.length }, 'signature verification threads keep exiting; verifying on the event loop');
      for (const item of batch.items) item.resolve(verifyHex(item.message, item.sig, item.pubkey));
    }
    t.inFlight.clear();
  }
}

function stopping(): PlexusError {
  return new PlexusError('ERR_UNAVAILABLE', 'the node is stopping: signature verification has ended');
}
