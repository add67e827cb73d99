import type { Logger } from '@plexus/core';
import type { ExitInfo, RedisChild } from './redis-process.js';

/** First pause before restarting a crashed redis; doubles per failure up to `MAX_BACKOFF_MS`. */
const INITIAL_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;
/** A child that ran this long was healthy: its crash starts the backoff from the beginning again. */
const STABLE_AFTER_MS = 30_000;

/**
 * Keeps one redis-server child running while the node runs: when it dies unexpectedly (OOM killer,
 * crash, an operator's kill), the error is logged and the child restarted with capped backoff.
 * Clients reconnect on their own. `stop()` cancels any pending restart.
 */
export class RedisSupervisor {
  private child: RedisChild | undefined;
  private startedAt = 0;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private restarting: Promise<void> | undefined;
  private backoffMs = INITIAL_BACKOFF_MS;

  /** @param spawnChild starts one child and resolves once it answers (RedisChild.start). */
  constructor(
    private readonly spawnChild: () => Promise<RedisChild>,
    private readonly log: Logger,
  ) {}

  /** Pid of the running child, if one runs. */
  get pid(): number | undefined {
    return this.child?.hasExited === false ? this.child.pid : undefined;
  }

  /** Starts the first child; its failure is the caller's (no retry: start-up errors are reported). */
  async start(): Promise<void> {
    this.adopt(await this.spawnChild());
  }

  /** Cancels restarts and stops the child. Safe to call twice and after a failed start. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.restarting;
    const child = this.child;
    this.child = undefined;
    await child?.stop();
  }

  private adopt(child: RedisChild): void {
    this.child = child;
    this.startedAt = Date.now();
    void child.exited.then((info) => this.onExit(child, info));
  }

  private onExit(child: RedisChild, info: ExitInfo): void {
    if (this.stopping || this.child !== child) return;
    this.child = undefined;
    if (Date.now() - this.startedAt >= STABLE_AFTER_MS) this.backoffMs = INITIAL_BACKOFF_MS;
    void child.logTail().then((logTail) => {
      this.log.error({ pid: child.pid, code: info.code, signal: info.signal, logTail }, 'redis-server exited unexpectedly; restarting it');
    });
    this.schedule();
  }

  private schedule(): void {
    if (this.stopping) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(wait * 2, MAX_BACKOFF_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.restarting = this.restart().finally(() => {
        this.restarting = undefined;
      });
    }, wait);
  }

  private async restart(): Promise<void> {
    let child: RedisChild;
    try {
      child = await this.spawnChild();
    } catch (err) {
      if (!this.stopping) {
        this.log.error({ err, retryInMs: this.backoffMs }, 'restarting redis-server failed');
        this.schedule();
      }
      return;
    }
    if (this.stopping) {
      await child.stop();
      return;
    }
    this.log.info({ pid: child.pid }, 'redis-server restarted');
    this.adopt(child);
  }
}
