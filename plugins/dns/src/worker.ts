import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { DnsEngine, type LogSink } from './engine.js';
import { DnsMetrics } from './metrics.js';
import type { FromWorker, ToWorker, WorkerInit } from './workers.js';
import type { ZoneStore } from './zone-cache.js';

/**
 * A DNS worker thread (config `workers` > 1): a whole DNS server of its own — its own view of the
 * zones read from the store and kept by the change stream, its own answer cache — on the main
 * thread's ports (SO_REUSEPORT: the kernel spreads clients over the threads). It talks to the main
 * thread only for logs, metrics, status and stop; a thread dies with its process. This module is
 * the thread's entry point (workers.ts starts it): importing it runs it.
 */

/** How often counted answers go to the main thread's metrics. */
const METRICS_EVERY_MS = 1000;

async function main(): Promise<void> {
  const port = parentPort!;
  const init = workerData as WorkerInit;
  const post = (m: FromWorker): void => port.postMessage(m);
  const relay = (level: 'debug' | 'info' | 'warn' | 'error') => (obj: unknown, msg?: string) => {
    if (typeof obj === 'string') post({ t: 'log', level, obj: {}, msg: obj });
    else post({ t: 'log', level, obj: safe(obj), msg });
  };
  const log = { debug: relay('debug'), info: relay('info'), warn: relay('warn'), error: relay('error') } as unknown as LogSink;
  const open = (): Redis => {
    const r = new Redis({ ...init.redis, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(50 * 2 ** Math.min(n - 1, 10), 2000), connectionName: 'plexus-dns-worker' });
    r.on('error', (err: Error) => log.debug({ err: err.message }, 'dns worker: store connection error'));
    return r;
  };
  const redis = open();
  const store: ZoneStore = { redis, duplicate: open, replicaOfNetwork: init.replicaOfNetwork };
  const metrics = new DnsMetrics();
  let engine: DnsEngine;
  try {
    engine = await DnsEngine.start({ config: init.config, store, log, metrics, listen: init.listen, reusePort: true, tcp: init.tcp, syncWaitMs: 0 });
  } catch (err) {
    redis.disconnect();
    post({ t: 'failed', message: (err as Error).message });
    return;
  }
  const flush = setInterval(() => post({ t: 'metrics', delta: metrics.drain() }), METRICS_EVERY_MS);
  port.on('message', (m: ToWorker) => {
    if (m.t === 'status') void engine.status().then((status) => post({ t: 'status', id: m.id, status }));
    else if (m.t === 'resetPeaks') engine.resetPeaks();
    else if (m.t === 'stop') {
      clearInterval(flush);
      void engine
        .stop()
        .finally(() => {
          redis.disconnect();
          post({ t: 'metrics', delta: metrics.drain() });
          post({ t: 'stopped' });
          port.close();
        });
    }
  });
  post({ t: 'ready' });
}

/** Log fields as plain data: an Error keeps its message (functions and sockets cannot cross threads). */
function safe(obj: unknown): unknown {
  if (obj === null || typeof obj !== 'object') return obj;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = v instanceof Error ? { message: v.message, code: (v as NodeJS.ErrnoException).code } : typeof v === 'object' && v !== null ? JSON.parse(JSON.stringify(v)) : v;
  return out;
}

void main();
