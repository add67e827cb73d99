import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { within } from './time.js';
import type { ConnectMessage, ConnectedMessage, FromWorker, RunMessage, RunResultMessage } from './registration-protocol.js';

const WORKER_FILE = fileURLToPath(new URL('./registration-worker.js', import.meta.url));

/** One forked client worker; requests are answered in order, a fatal message fails the pending one. */
class ClientWorker {
  private waiting: { type: FromWorker['type']; resolve(m: FromWorker): void; reject(e: Error): void } | undefined;
  private exitError: Error | undefined;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: FromWorker) => {
      const w = this.waiting;
      if (w === undefined) return;
      this.waiting = undefined;
      if (m.type === 'fatal') w.reject(new Error(`client worker ${index}: ${m.message}`));
      else if (m.type !== w.type) w.reject(new Error(`client worker ${index}: expected ${w.type}, got ${m.type}`));
      else w.resolve(m);
    });
    child.once('exit', (code, signal) => {
      this.exitError = new Error(`client worker ${index} exited (code ${code}, signal ${signal})`);
      this.waiting?.reject(this.exitError);
      this.waiting = undefined;
    });
  }

  request<T extends FromWorker>(msg: ConnectMessage | RunMessage | { type: 'close' }, expect: T['type']): Promise<T> {
    if (this.exitError !== undefined) return Promise.reject(this.exitError);
    return new Promise<T>((resolve, reject) => {
      this.waiting = { type: expect, resolve: resolve as (m: FromWorker) => void, reject };
      this.child.send(msg);
    });
  }
}

/**
 * K worker processes holding the benchmark's clients. Client i lives in worker i % K, so level C
 * uses the first C clients and every level spreads over the workers as evenly as it can.
 */
export class ClientWorkers {
  private constructor(private readonly workers: ClientWorker[]) {}

  static spawn(count: number): ClientWorkers {
    const workers = Array.from({ length: count }, (_, i) => {
      // execArgv [] so that profiling flags given to the driver do not apply to the clients.
      const child = fork(WORKER_FILE, [], { execArgv: [], env: { ...process.env, BENCH_WORKER_INDEX: String(i) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return new ClientWorker(i, child);
    });
    return new ClientWorkers(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  pids(): number[] {
    return this.workers.map((w) => w.child.pid!);
  }

  /** How many of clients 0..total-1 worker `w` holds. */
  private share(total: number, w: number): number {
    const k = this.workers.length;
    return Math.floor(total / k) + (w < total % k ? 1 : 0);
  }

  async connect(total: number, base: Omit<ConnectMessage, 'type' | 'clients'>): Promise<ConnectedMessage[]> {
    return Promise.all(this.workers.map((w, i) => w.request<ConnectedMessage>({ type: 'connect', clients: this.share(total, i), ...base }, 'connected')));
  }

  async run(concurrency: number, base: Omit<RunMessage, 'type' | 'active'>): Promise<RunResultMessage[]> {
    return Promise.all(this.workers.map((w, i) => w.request<RunResultMessage>({ type: 'run', active: this.share(concurrency, i), ...base }, 'result')));
  }

  /** Closes every client, then lets the workers exit; kills any that do not within `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.child.exitCode !== null || w.child.signalCode !== null) return;
        const exited = new Promise<void>((r) => w.child.once('exit', () => r()));
        await within(w.request({ type: 'close' }, 'closed').catch(() => undefined), graceMs);
        await within(exited, graceMs);
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      }),
    );
  }
}
