import { Worker } from 'node:worker_threads';
import type { RedisOptions } from 'ioredis';
import type { HostPort, PluginContext } from '@plexus/core';
import type { DnsConfig } from './config.js';
import type { EngineStatus } from './engine.js';
import type { DnsMetrics, MetricsDelta } from './metrics.js';
import type { TcpLimits } from './server.js';

/** The main thread's side of the DNS worker threads (config `workers`; the thread itself is worker.ts). */

/** What the main thread hands a worker (structured-cloneable). */
export interface WorkerInit {
  config: DnsConfig;
  /** The store's connection settings (host, port or path, credentials, db, tls). */
  redis: RedisOptions;
  replicaOfNetwork: string | undefined;
  listen: HostPort[];
  tcp: TcpLimits;
}

/** Main → worker. */
export type ToWorker = { t: 'status'; id: number } | { t: 'resetPeaks' } | { t: 'stop' };
/** Worker → main. */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; message: string }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: unknown; msg: string | undefined }
  | { t: 'metrics'; delta: MetricsDelta }
  | { t: 'status'; id: number; status: EngineStatus }
  | { t: 'stopped' };

/** The connection settings a worker can rebuild its own store client from. */
export function redisSettings(o: RedisOptions): RedisOptions {
  const keep: (keyof RedisOptions)[] = ['host', 'port', 'path', 'family', 'username', 'password', 'db', 'tls'];
  return Object.fromEntries(keep.filter((k) => o[k] !== undefined).map((k) => [k, o[k]])) as RedisOptions;
}

/** A worker thread must say it serves (or why not) within this. */
const WORKER_START_MS = 120_000;
/** A worker asked to stop is terminated after this. */
const WORKER_STOP_MS = 5_000;
/** A worker's status answer is waited for this long; without one, status says the worker is missing. */
const WORKER_STATUS_MS = 2_000;

/** The main thread's side of one worker thread. */
export class WorkerHandle {
  private readonly waiting = new Map<number, (s: EngineStatus | undefined) => void>();
  private nextId = 0;
  private stopped: (() => void) | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly ctx: PluginContext<DnsConfig>,
    private readonly metrics: DnsMetrics,
  ) {}

  static async start(init: WorkerInit, ctx: PluginContext<DnsConfig>, metrics: DnsMetrics, index: number): Promise<WorkerHandle> {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init, name: `dns-${index}` });
    const h = new WorkerHandle(worker, ctx, metrics);
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dns worker ${index} did not start within ${WORKER_START_MS} ms`)), WORKER_START_MS);
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') resolve();
        else if (m.t === 'failed') reject(new Error(`dns worker ${index}: ${m.message}`));
        else h.onMessage(m);
        if (m.t === 'ready' || m.t === 'failed') clearTimeout(timer);
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dns worker ${index} exited (${code})`));
        h.stopped?.();
        for (const done of h.waiting.values()) done(undefined);
        h.waiting.clear();
      });
    });
    // Errors after start: the worker is gone, status says so; the node keeps serving on the others.
    worker.on('error', (err) => ctx.log.error({ err, worker: index }, 'dns worker thread failed'));
    try {
      await started;
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    return h;
  }

  private onMessage(m: FromWorker): void {
    if (m.t === 'log') this.ctx.log[m.level](m.obj as object, m.msg);
    else if (m.t === 'metrics') this.metrics.absorb(m.delta);
    else if (m.t === 'status') {
      this.waiting.get(m.id)?.(m.status);
      this.waiting.delete(m.id);
    } else if (m.t === 'stopped') this.stopped?.();
  }

  private send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  status(): Promise<EngineStatus | undefined> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, WORKER_STATUS_MS);
      this.waiting.set(id, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
      this.send({ t: 'status', id });
    });
  }

  /** Messages are handled in order: a status asked after this reflects the reset. */
  resetPeaks(): void {
    this.send({ t: 'resetPeaks' });
  }

  /** Asks the worker to close its sockets and store connections; terminates it if it does not in time. */
  async stop(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.stopped = resolve));
    this.send({ t: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, WORKER_STOP_MS)))]);
    clearTimeout(timer);
    await this.worker.terminate();
  }
}

