import { PlexusError } from '../errors.js';
import { RpcClient, type RpcClientOptions } from './client.js';

/** What a command needs of a connection to the explorer: calls. */
export interface RpcCaller {
  call<T = unknown>(protocol: string, method: string, params: unknown, opts?: { signed?: boolean }): Promise<T>;
}

/** Options of `FailoverClient` besides the per-call client options. */
export interface FailoverOptions extends RpcClientOptions {
  /**
   * How long one call may keep trying explorers (following ERR_NOT_MASTER, skipping unreachable
   * ones) before its last error is returned. Default 30 s: a sentinel failover takes seconds.
   */
  failoverMs?: number;
}

// Answers after which another explorer may well succeed. ERR_NOT_MASTER: refused before anything
// changed. The others may leave it open whether the change was applied (the connection broke, or
// the master could not confirm replication); a retry then relies on the methods being idempotent
// for the same signer and params (see README "Explorer high availability").
const FAIL_OVER = new Set(['ERR_NOT_MASTER', 'ERR_CONNECT', 'ERR_TIMEOUT', 'ERR_NOT_REPLICATED', 'ERR_UNAVAILABLE']);
/** Pause before going round the explorers again, while a failover is under way. */
const ROUND_PAUSE_MS = 250;

/**
 * A client for a group of explorers (`--explorer` given several times): connects to the first that
 * answers, and when a call is refused with ERR_NOT_MASTER it goes to the master named in the error
 * (`data.master`), else on to the next explorer. Each attempt is signed afresh, for the explorer it
 * goes to: a signature is bound to its audience, so one signed for a standby cannot be replayed to
 * the master.
 */
export class FailoverClient implements RpcCaller {
  private client: RpcClient | undefined;
  private index = 0;
  /** A master named by ERR_NOT_MASTER, tried before the list. */
  private preferred: string | undefined;

  constructor(
    private readonly targets: readonly string[],
    private readonly options: FailoverOptions = {},
  ) {
    if (targets.length === 0) throw new PlexusError('ERR_USAGE', 'no explorer given');
  }

  /** The explorer the last call went to (its multiaddr), if connected. */
  get current(): string | undefined {
    return this.client === undefined ? undefined : (this.preferred ?? this.targets[this.index]);
  }

  async call<T = unknown>(protocol: string, method: string, params: unknown, opts: { signed?: boolean } = {}): Promise<T> {
    const deadline = Date.now() + (this.options.failoverMs ?? 30_000);
    let tried = 0;
    for (;;) {
      try {
        const client = await this.connect();
        return await client.call<T>(protocol, method, params, opts);
      } catch (err) {
        if (!(err instanceof PlexusError) || !FAIL_OVER.has(err.code) || Date.now() >= deadline) throw err;
        await this.drop();
        const master = err.code === 'ERR_NOT_MASTER' ? err.data?.master : undefined;
        if (typeof master === 'string' && master !== this.preferred) {
          this.preferred = master;
        } else {
          this.preferred = undefined;
          this.index = (this.index + 1) % this.targets.length;
          tried++;
          // Every explorer refused once: a failover is under way, give the sentinels a moment.
          if (tried % this.targets.length === 0) await new Promise((r) => setTimeout(r, ROUND_PAUSE_MS));
        }
      }
    }
  }

  /**
   * Connects now to the first explorer that answers, each tried once in order, instead of at the
   * first call. For callers that want "no explorer answers" at once rather than after `failoverMs`.
   * @throws ERR_CONNECT naming every explorer tried and why it failed.
   */
  async open(): Promise<this> {
    const failures: string[] = [];
    for (let i = 0; i < this.targets.length; i++) {
      this.index = i;
      this.preferred = undefined;
      try {
        await this.connect();
        return this;
      } catch (err) {
        failures.push(`${this.targets[i]}: ${(err as Error).message}`);
      }
    }
    this.index = 0;
    throw new PlexusError('ERR_CONNECT', `no explorer answered (${failures.join('; ')})`);
  }

  async close(): Promise<void> {
    await this.drop();
  }

  private async connect(): Promise<RpcClient> {
    if (this.client !== undefined) return this.client;
    const target = this.preferred ?? (this.targets[this.index] as string);
    this.client = await RpcClient.connect(target, this.options);
    return this.client;
  }

  private async drop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.close().catch(() => undefined);
  }
}
