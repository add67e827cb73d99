import { Redis } from 'ioredis';
import type { Logger } from '@plexus/core';
import { oneShotClient, reconnectDelay } from './client.js';
import { TIMED_OUT, withDeadline } from './deadline.js';
import { splitHostPort } from './config.js';

/** A store address, as sentinels name masters and replicas. */
export interface HostPort {
  host: string;
  port: number;
}

/** How often the sentinels are asked again, besides their `+switch-master` announcements. */
const RECHECK_MS = 2_000;

/**
 * Runs one command on the sentinel at `address` over a fresh connection: one try, at most `ms`.
 * @returns the reply, or undefined when the sentinel does not answer or refuses.
 */
export async function askSentinel(address: HostPort, password: string | undefined, args: string[], ms = 1_000): Promise<unknown> {
  const probe = oneShotClient(address.host, address.port, ms, password);
  probe.on('error', () => undefined);
  try {
    const answer = await withDeadline((async () => {
      await probe.connect();
      return probe.call('SENTINEL', ...args);
    })(), ms);
    return answer === TIMED_OUT ? undefined : answer;
  } catch {
    return undefined;
  } finally {
    probe.disconnect();
  }
}

/**
 * The master the sentinels name for `masterName`. Sentinels learn a failover from each other a
 * moment apart, so one of them may still name the old master: the answer with the highest
 * config epoch wins. Within an epoch, an answer naming a master its sentinel holds for up wins
 * over one naming a master it holds for down (`s_down`/`o_down`) or is still failing over
 * (`failover_in_progress`): the leader of a failover names the old master, at the new epoch,
 * until it has reconfigured every replica, while the others already name the promoted one.
 * Remaining ties: the first in order. A sentinel that does not know the name, or is
 * unreachable, is skipped.
 */
export async function currentMaster(sentinels: readonly HostPort[], masterName: string, password: string | undefined, ms = 1_000): Promise<HostPort | undefined> {
  const answers = await Promise.all(sentinels.map((s) => askSentinel(s, password, ['master', masterName], ms)));
  let best: { master: HostPort; rank: [number, number] } | undefined;
  for (const a of answers) {
    const info = pairs(a);
    const host = info.get('ip');
    const port = Number(info.get('port'));
    if (host === undefined || !Number.isInteger(port)) continue;
    const flags = (info.get('flags') ?? '').split(',');
    const doubted = flags.some((f) => f === 's_down' || f === 'o_down' || f === 'failover_in_progress');
    const rank: [number, number] = [Number(info.get('config-epoch') ?? 0), doubted ? 0 : 1];
    if (best === undefined || rank[0] > best.rank[0] || (rank[0] === best.rank[0] && rank[1] > best.rank[1])) best = { master: { host, port }, rank };
  }
  return best?.master;
}

/** Parses the `key value key value ...` reply of `SENTINEL master NAME`. */
export function pairs(reply: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out.set(String(reply[i]), String(reply[i + 1]));
  return out;
}

/** What `status()` shows of the sentinels' view. */
export type SentinelView = {
  masterName: string;
  /** The master as the first answering sentinel names it, `host:port`. */
  master?: string;
  quorum?: number;
  /** Sentinels the answering sentinel knows, itself included. */
  knownSentinels?: number;
  knownReplicas?: number;
  /** The answering sentinel's flags for the master (`master`, `s_down`, `o_down`, ...). */
  flags?: string;
  /** Which sentinel answered, or why none did. */
  answeredBy?: string;
  error?: string;
};

/** Asks the sentinels in order for their view of `masterName`, for `status()`. */
export async function sentinelView(sentinels: readonly HostPort[], masterName: string, password: string | undefined, ms: number): Promise<SentinelView> {
  for (const s of sentinels) {
    const info = pairs(await askSentinel(s, password, ['master', masterName], ms));
    if (info.size === 0) continue;
    const view: SentinelView = { masterName, answeredBy: `${s.host}:${s.port}` };
    if (info.has('ip')) view.master = `${info.get('ip')}:${info.get('port')}`;
    if (info.has('quorum')) view.quorum = Number(info.get('quorum'));
    if (info.has('num-other-sentinels')) view.knownSentinels = Number(info.get('num-other-sentinels')) + 1;
    if (info.has('num-slaves')) view.knownReplicas = Number(info.get('num-slaves'));
    if (info.has('flags')) view.flags = info.get('flags') as string;
    return view;
  }
  return { masterName, error: 'no sentinel answered' };
}

/**
 * Keeps `onMaster` told of the master the sentinels name: once at start, on every `+switch-master`
 * one of them publishes, and every 2 s besides (a subscription lost while a sentinel was down
 * misses announcements). Only a master a sentinel names is ever reported.
 */
export class SentinelFollower {
  private readonly subscribers: Redis[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly sentinels: readonly HostPort[],
    private readonly masterName: string,
    private readonly password: string | undefined,
    private readonly onMaster: (master: HostPort) => Promise<void>,
    private readonly log: Logger,
  ) {}

  start(): void {
    for (const s of this.sentinels) {
      const sub = new Redis({ host: s.host, port: s.port, password: this.password, retryStrategy: reconnectDelay, maxRetriesPerRequest: null, connectionName: 'plexus-sentinel-follower' });
      sub.on('error', (err: Error) => this.log.debug({ err, sentinel: `${s.host}:${s.port}` }, 'sentinel subscription error'));
      sub.subscribe('+switch-master').catch(() => undefined);
      sub.on('message', (_channel: string, message: string) => {
        // "<name> <old ip> <old port> <new ip> <new port>"
        const [name, , , host, port] = message.split(' ');
        if (name === this.masterName && host !== undefined && port !== undefined) void this.report({ host, port: Number(port) });
      });
      this.subscribers.push(sub);
    }
    this.timer = setInterval(() => void this.check(), RECHECK_MS);
    this.timer.unref();
  }

  /** Asks the sentinels now; resolves after `onMaster` ran for their answer. */
  check(): Promise<void> {
    this.checking ??= (async () => {
      const master = await currentMaster(this.sentinels, this.masterName, this.password);
      if (master !== undefined) await this.report(master);
    })().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const s of this.subscribers.splice(0)) s.disconnect();
    await this.checking?.catch(() => undefined);
  }

  private async report(master: HostPort): Promise<void> {
    if (this.stopped) return;
    try {
      await this.onMaster(master);
    } catch (err) {
      this.log.warn({ err, master: `${master.host}:${master.port}` }, 'could not follow the master the sentinels name');
    }
  }
}

/** `host:port` strings of the config as addresses. */
export function addresses(list: readonly string[]): HostPort[] {
  return list.map(splitHostPort);
}
