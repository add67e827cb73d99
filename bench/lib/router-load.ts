import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { percentile, sortedCopy } from './stats.js';

/**
 * Closed-loop clients of the router benchmark: `concurrency` loops, each opening a new connection
 * per request (the router's work is per connection: accept, peek, lookup, connect), for `seconds`
 * and at most MAX_OPS operations in all. A failed operation counts as an error and the loop goes
 * on; after MAX_ERRORS the run stops early.
 */
const MAX_OPS = 2_000_000;
const MAX_ERRORS = 1_000;
const OP_TIMEOUT_MS = 10_000;

export interface LoadResult {
  completed: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  firstError?: string;
}

export interface LoadTarget {
  port: number;
  /** SNI / Host sent. */
  name: string;
  /** CA for the TLS loop (the backend's self-signed certificate). */
  ca?: Buffer;
}

/** One request on a new connection; resolves once the server closed it after a 200 answer. */
function oneRequest(kind: 'tls' | 'http', t: LoadTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = `GET / HTTP/1.1\r\nHost: ${t.name}\r\nConnection: close\r\n\r\n`;
    const s = kind === 'tls'
      ? tlsConnect({ host: '127.0.0.1', port: t.port, servername: t.name, ca: t.ca }, () => s.write(request))
      : connect({ host: '127.0.0.1', port: t.port }, () => s.write(request));
    let head = '';
    const timer = setTimeout(() => s.destroy(new Error(`no answer within ${OP_TIMEOUT_MS} ms`)), OP_TIMEOUT_MS);
    s.on('data', (d: Buffer) => {
      if (head.length < 64) head += d.toString('latin1');
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.once('end', () => {
      clearTimeout(timer);
      s.destroy();
      if (head.startsWith('HTTP/1.1 200')) resolve();
      else reject(new Error(`unexpected answer: ${JSON.stringify(head.slice(0, 40))}`));
    });
  });
}

/** Runs the closed loops; `seconds` of measurement. */
export async function requestLoop(kind: 'tls' | 'http', target: LoadTarget, concurrency: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline && latencies.length < MAX_OPS && errors < MAX_ERRORS) {
      const t0 = performance.now();
      try {
        await oneRequest(kind, target);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - started) / 1000;
  const sorted = sortedCopy(latencies);
  return { completed: latencies.length, errors, seconds: elapsed, perSecond: latencies.length / elapsed, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), ...(firstError === undefined ? {} : { firstError }) };
}
