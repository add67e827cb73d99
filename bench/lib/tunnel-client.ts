import { connect, type Socket } from 'node:net';
import { percentile, sortedCopy } from './stats.js';
import type { ClientResult, FromClient, IdleOpenResult, LatencyResult, StreamResult, Target, ToClient } from './tunnel-protocol.js';

/**
 * The client side of the tunnel benchmark, forked as its own process so that its CPU and event
 * loop are not the driver's (and never the router's, which is a `plexus start` process anyway).
 * Every connection opens with `GET /<mode> HTTP/1.1\r\nHost: NAME\r\n\r\n` (lib/tunnel-sink.ts
 * explains the modes), the same bytes on every path, so direct, plexus and ssh -R compare like for
 * like. Answers one request at a time over IPC.
 */
const BLOCK = Buffer.alloc(1024 * 1024, 0x62);
const OP_TIMEOUT_MS = 10_000;

const head = (mode: string, t: Target): string => `GET /${mode} HTTP/1.1\r\nHost: ${t.name}\r\n\r\n`;
const gbit = (bytes: number, seconds: number): number => (bytes * 8) / 1e9 / seconds;

function open(t: Target): Socket {
  return connect({ host: '127.0.0.1', port: t.port, noDelay: true });
}

/** One upload: head, then 1 MiB blocks until the deadline, half-close, wait for the sink's count. */
function upload(t: Target, deadline: number): Promise<{ bytes: number; seconds: number; counted: number }> {
  return new Promise((resolve, reject) => {
    const s = open(t);
    let written = 0;
    let t0 = 0;
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    s.once('connect', () => {
      s.write(head('up', t));
      t0 = performance.now();
      const pump = (): void => {
        while (performance.now() < deadline) {
          written += BLOCK.length;
          if (!s.write(BLOCK)) return void s.once('drain', pump);
        }
        s.end();
        // The sink answers once everything in flight has reached it.
        timer = setTimeout(() => s.destroy(new Error('no count from the sink within 30 s of the half-close')), 30_000);
      };
      pump();
    });
    s.setEncoding('latin1');
    s.on('data', (d: string) => (answer += d));
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.once('end', () => {
      clearTimeout(timer);
      const seconds = (performance.now() - t0) / 1000;
      s.destroy();
      if (!/^\d+\n$/.test(answer)) return reject(new Error(`upload: unexpected answer ${JSON.stringify(answer.slice(0, 60))}`));
      resolve({ bytes: written, seconds, counted: Number(answer.trim()) });
    });
  });
}

/** One download: head, then count what arrives until the deadline; then reset the connection. */
function download(t: Target, seconds: number): Promise<{ bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const s = open(t);
    let bytes = 0;
    let first = true;
    let t0 = 0;
    let done = false;
    s.once('connect', () => {
      s.write(head('down', t));
      t0 = performance.now();
      setTimeout(() => {
        done = true;
        s.destroy();
        if (bytes === 0) reject(new Error('download: no byte within the window'));
        else resolve({ bytes, seconds: (performance.now() - t0) / 1000 });
      }, seconds * 1000);
    });
    s.on('data', (d: Buffer) => {
      if (first) {
        first = false;
        if (d[0] !== 0x61) {
          done = true;
          s.destroy();
          return reject(new Error(`download: unexpected answer ${JSON.stringify(d.subarray(0, 60).toString('latin1'))}`));
        }
      }
      if (!done) bytes += d.length;
    });
    s.once('error', (err) => {
      if (!done) {
        done = true;
        reject(err);
      }
    });
    s.once('end', () => {
      if (!done) {
        done = true;
        s.destroy();
        reject(new Error(`download: closed by the other side after ${bytes} bytes`));
      }
    });
  });
}

async function stream(t: Target, direction: 'up' | 'down', connections: number, seconds: number): Promise<StreamResult> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let errors = 0;
  let firstError: string | undefined;
  let countMismatches = 0;
  const results = await Promise.all(
    Array.from({ length: connections }, async () => {
      try {
        if (direction === 'down') return await download(t, seconds);
        const r = await upload(t, deadline);
        if (r.counted !== r.bytes) countMismatches++;
        return r;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        return undefined;
      }
    }),
  );
  const ok = results.filter((r) => r !== undefined);
  const bytes = ok.reduce((a, r) => a + r.bytes, 0);
  // The aggregate is over the longest connection's window (for uploads: until the last count came back).
  const window = Math.max(seconds, ...ok.map((r) => r.seconds));
  return {
    bytes,
    seconds: window,
    gbitPerSecond: gbit(bytes, window),
    perConnection: ok.map((r) => gbit(r.bytes, r.seconds)),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    ...(direction === 'up' ? { countMismatches } : {}),
  };
}

/** connect → head → first byte of the answer; resolves with the milliseconds. */
function echoOnce(t: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = open(t);
    const timer = setTimeout(() => s.destroy(new Error(`no answer within ${OP_TIMEOUT_MS} ms`)), OP_TIMEOUT_MS);
    s.once('connect', () => s.write(head('echo', t)));
    s.once('data', (d: Buffer) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      s.destroy();
      const text = d.toString('latin1');
      if (text.startsWith('HTTP/1.1 204') || (text.length < 12 && 'HTTP/1.1 204'.startsWith(text))) resolve(ms);
      else reject(new Error(`echo: unexpected answer ${JSON.stringify(text.slice(0, 60))}`));
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.once('end', () => {
      clearTimeout(timer);
      reject(new Error('echo: closed without an answer'));
    });
  });
}

async function latency(t: Target, count: number): Promise<LatencyResult> {
  const ms: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  for (let i = 0; i < count && errors < 100; i++) {
    try {
      ms.push(await echoOnce(t));
    } catch (err) {
      errors++;
      firstError ??= (err as Error).message;
    }
  }
  const sorted = sortedCopy(ms);
  return {
    completed: ms.length,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: percentile(sorted, 100),
    meanMs: ms.reduce((a, b) => a + b, 0) / (ms.length || 1),
  };
}

const idle: Socket[] = [];

/** Opens one idle connection; resolves once the sink's byte came back through the path. */
function idleOnce(t: Target): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = open(t);
    const timer = setTimeout(() => s.destroy(new Error(`no answer within ${OP_TIMEOUT_MS} ms`)), OP_TIMEOUT_MS);
    s.once('connect', () => s.write(head('idle', t)));
    s.once('data', (d: Buffer) => {
      clearTimeout(timer);
      if (d.toString('latin1') !== '.') {
        s.destroy();
        return reject(new Error(`idle: unexpected answer ${JSON.stringify(d.subarray(0, 60).toString('latin1'))}`));
      }
      s.removeAllListeners('error');
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function idleOpen(t: Target, count: number, parallel: number): Promise<IdleOpenResult> {
  const t0 = performance.now();
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  let opened = 0;
  const lane = async (): Promise<void> => {
    while (next < count && errors < 100) {
      next++;
      try {
        idle.push(await idleOnce(t));
        opened++;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
  return { opened, errors, ...(firstError === undefined ? {} : { firstError }), seconds: (performance.now() - t0) / 1000 };
}

function idleClose(): { closed: number } {
  const closed = idle.length;
  for (const s of idle.splice(0)) s.end();
  return { closed };
}

async function handle(m: ToClient): Promise<ClientResult> {
  switch (m.op) {
    case 'stream':
      return stream(m.target, m.direction, m.connections, m.seconds);
    case 'latency':
      return latency(m.target, m.count);
    case 'idleOpen':
      return idleOpen(m.target, m.count, m.parallel);
    case 'idleClose':
      return idleClose();
    case 'exit':
      idleClose();
      setImmediate(() => process.exit(0));
      return null;
  }
}

process.on('message', (m: ToClient) => {
  handle(m).then(
    (result) => process.send!({ id: m.id, ok: true, result } satisfies FromClient),
    (err: unknown) => process.send!({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies FromClient),
  );
});
process.on('disconnect', () => process.exit(0));
