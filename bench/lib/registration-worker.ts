import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { type Ed25519KeyPair, PlexusError, RpcClient, generateKeyPair, toHex } from '@plexus/core';
import type { ConnectMessage, FromWorker, RunMessage, ToWorker } from './registration-protocol.js';

/**
 * A client worker process (forked by registrations.ts). Holds N clients, each its own RpcClient,
 * hence its own libp2p node, PeerId and signing key, and runs closed loops of signed name_register
 * calls on request. Several workers spread the clients' CPU over the machine's cores.
 */
const PHONEBOOK = '/plexus/phonebook/1';
const LOOP_DELAY_RESOLUTION_MS = 10;

interface Client {
  rpc: RpcClient;
  key: Ed25519KeyPair;
  pubkey: string;
}

const clients: Client[] = [];
const workerIndex = Number(process.env.BENCH_WORKER_INDEX ?? 0);

function send(msg: FromWorker): void {
  process.send?.(msg);
}

async function connect(msg: ConnectMessage): Promise<void> {
  const t0 = performance.now();
  const deadline = Date.now() + msg.connectBudgetMs;
  let retries = 0;
  for (let i = 0; i < msg.clients; i++) {
    const key = generateKeyPair();
    for (;;) {
      try {
        const rpc = await RpcClient.connect(msg.target, { key, timeoutMs: msg.timeoutMs });
        clients.push({ rpc, key, pubkey: toHex(key.publicKey) });
        break;
      } catch (err) {
        // libp2p refuses inbound connections above 5/s per host (inboundConnectionThreshold).
        if (Date.now() > deadline) throw new Error(`client ${i} could not connect within ${msg.connectBudgetMs} ms: ${(err as Error).message}`);
        retries++;
        await new Promise((r) => setTimeout(r, msg.paceMs));
      }
    }
    if (i + 1 < msg.clients) await new Promise((r) => setTimeout(r, msg.paceMs));
  }
  send({ type: 'connected', clients: clients.length, ms: performance.now() - t0, retries });
}

async function run(msg: RunMessage): Promise<void> {
  const measureStart = msg.startAt + msg.warmupMs;
  const measureEnd = measureStart + msg.measureMs;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let completed = 0;
  const delay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpuSeconds = 0;
  let gcMaxMs = 0;
  let inWindow = false;
  const gc = new PerformanceObserver((list) => {
    if (inWindow) for (const e of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, e.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  const windowStart = setTimeout(() => {
    cpuAtStart = process.cpuUsage();
    delay.enable();
    inWindow = true;
  }, Math.max(0, measureStart - Date.now()));
  const windowEnd = new Promise<void>((res) =>
    setTimeout(() => {
      const d = process.cpuUsage(cpuAtStart);
      cpuSeconds = (d.user + d.system) / 1e6;
      delay.disable();
      inWindow = false;
      gc.disconnect();
      res();
    }, Math.max(0, measureEnd - Date.now())),
  );

  await new Promise((r) => setTimeout(r, Math.max(0, msg.startAt - Date.now())));
  const params = (c: Client, ci: number, seq: number): Record<string, string> => ({
    name: `${msg.tag}-w${workerIndex}-c${ci}-${seq}`,
    email: 'bench@example.com',
    pubkey: c.pubkey,
    wallet_name: '',
  });
  // Counted when it completes inside the window: throughput is completions per second.
  const record = (code: string | undefined, latencyMs: number): void => {
    const done = Date.now();
    if (done < measureStart || done > measureEnd) return;
    if (code === undefined) {
      completed++;
      latencies.push(latencyMs);
    } else {
      errors[code] = (errors[code] ?? 0) + 1;
    }
  };
  const codeOf = (err: unknown): string => (err instanceof PlexusError ? err.code : 'ERR_CLIENT');
  const closedLoop = async (c: Client, ci: number): Promise<void> => {
    for (let seq = 0; seq < msg.maxCallsPerClient && Date.now() < measureEnd; seq++) {
      const t0 = performance.now();
      let code: string | undefined;
      try {
        await c.rpc.call(PHONEBOOK, 'name_register', params(c, ci, seq), { signed: true });
      } catch (err) {
        code = codeOf(err);
      }
      record(code, performance.now() - t0);
      // The explorer is unreachable: count it, but do not spin (the driver reports a dead explorer).
      if (code === 'ERR_CONNECT') await new Promise((r) => setTimeout(r, 100));
    }
  };
  const openLoop = async (c: Client, ci: number, perSecond: number): Promise<void> => {
    const intervalMs = 1000 / perSecond;
    // Random phase so that the clients do not fire in lockstep.
    let next = performance.now() + Math.random() * intervalMs;
    const endPerf = performance.now() + (measureEnd - Date.now());
    const inFlight = new Set<Promise<void>>();
    for (let seq = 0; seq < msg.maxCallsPerClient && next < endPerf; seq++) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const scheduled = next;
      const p = c.rpc.call(PHONEBOOK, 'name_register', params(c, ci, seq), { signed: true }).then(
        () => record(undefined, performance.now() - scheduled),
        (err: unknown) => record(codeOf(err), performance.now() - scheduled),
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      next += intervalMs;
    }
    await Promise.all(inFlight);
  };
  const rate = msg.openRatePerClient;
  const loop = (c: Client, i: number): Promise<void> => (rate === undefined ? closedLoop(c, i) : openLoop(c, i, rate));
  await Promise.all(clients.slice(0, msg.active).map((c, i) => loop(c, i)));
  await windowEnd;
  clearTimeout(windowStart);
  send({
    type: 'result',
    latenciesMs: latencies,
    completed,
    errors,
    cpuSeconds,
    windowMs: msg.measureMs,
    // The histogram records whole timer intervals: subtract the sampling resolution to get the lag.
    loopDelayP99Ms: Math.max(0, delay.percentile(99) / 1e6 - LOOP_DELAY_RESOLUTION_MS),
    loopDelayMeanMs: Math.max(0, delay.mean / 1e6 - LOOP_DELAY_RESOLUTION_MS),
    loopDelayMaxMs: Math.max(0, delay.max / 1e6 - LOOP_DELAY_RESOLUTION_MS),
    gcMaxMs,
  });
}

async function closeAll(): Promise<void> {
  await Promise.all(clients.map((c) => c.rpc.close().catch(() => undefined)));
  clients.length = 0;
  send({ type: 'closed' });
}

function fatal(err: unknown): void {
  send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
}

process.on('message', (msg: ToWorker) => {
  if (msg.type === 'connect') connect(msg).catch(fatal);
  else if (msg.type === 'run') run(msg).catch(fatal);
  else if (msg.type === 'close') closeAll().then(() => process.disconnect(), fatal);
});
// The driver went away (Ctrl-C, crash): nothing left to do here.
process.on('disconnect', () => process.exit(0));
