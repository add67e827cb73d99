/** Messages between the registrations driver and its client worker processes (IPC). */

export interface ConnectMessage {
  type: 'connect';
  /** Explorer multiaddr including /p2p/<peerId>. */
  target: string;
  /** How many clients (each its own libp2p node and key) this worker holds. */
  clients: number;
  /** Pause between this worker's connection attempts; see README ("connecting 100 clients"). */
  paceMs: number;
  /** Per-call and per-dial deadline. */
  timeoutMs: number;
  /** Give up connecting after this long. */
  connectBudgetMs: number;
}

export interface RunMessage {
  type: 'run';
  /** How many of this worker's clients run a loop in this level (the first `active`). */
  active: number;
  /** Wall-clock ms (Date.now) at which all workers start, warm-up included. */
  startAt: number;
  warmupMs: number;
  measureMs: number;
  /** Prefix that makes this level's names unique across runs and levels. */
  tag: string;
  /** Upper bound on calls per client, so a loop is bounded in count as well as time. */
  maxCallsPerClient: number;
  /**
   * Unset: closed loop (each client sends its next call when the previous one answered).
   * Set: open loop, each client sends this many calls per second on a fixed schedule whatever the
   * answers, and latency counts from the scheduled send time (no coordinated omission).
   */
  openRatePerClient?: number;
}

export interface CloseMessage {
  type: 'close';
}

export type ToWorker = ConnectMessage | RunMessage | CloseMessage;

export interface ConnectedMessage {
  type: 'connected';
  clients: number;
  ms: number;
  /** Connection attempts the explorer refused before one succeeded. */
  retries: number;
}

export interface RunResultMessage {
  type: 'result';
  /** Latency in ms of each call that completed successfully inside the measuring window. */
  latenciesMs: number[];
  completed: number;
  errors: Record<string, number>;
  /** CPU this worker process used during the window, in seconds (user + system). */
  cpuSeconds: number;
  windowMs: number;
  /** Event-loop delay of this worker during the window: high means the clients are CPU-starved. */
  loopDelayP99Ms: number;
  loopDelayMeanMs: number;
  loopDelayMaxMs: number;
  /** Longest GC pause of this worker during the window. */
  gcMaxMs: number;
}

export interface FatalMessage {
  type: 'fatal';
  message: string;
}

export type FromWorker = ConnectedMessage | RunResultMessage | FatalMessage | { type: 'closed' };
