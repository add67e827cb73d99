import { monitorEventLoopDelay } from 'node:perf_hooks';

type IntervalHistogram = ReturnType<typeof monitorEventLoopDelay>;
import { parseHostPort, type HostPort, type Logger } from '@plexus/core';
import type { DnsConfig } from './config.js';
import { Forwarder } from './forwarder.js';
import type { DnsMetrics } from './metrics.js';
import { Responder, type DnsCounters } from './responder.js';
import { DnsServer, type TcpLimits } from './server.js';
import { ZoneCache, type ZoneStore } from './zone-cache.js';

/** The log methods the engine uses: a pino logger on the main thread, a relay to it in a worker. */
export type LogSink = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface EngineOptions {
  config: DnsConfig;
  store: ZoneStore;
  log: LogSink;
  metrics: DnsMetrics | undefined;
  /** Where to bind (the workers get the main thread's bound ports). */
  listen: readonly HostPort[];
  /** SO_REUSEPORT on every socket, so the other DNS threads can bind the same ports. */
  reusePort: boolean;
  tcp: TcpLimits;
  /** How long start waits for a replica's sync (config `syncWaitMs`; 0 in workers: the main thread waited). */
  syncWaitMs: number;
}

/** One thread's numbers, summed over threads by `sumStatus`. */
export interface EngineStatus {
  counters: DnsCounters;
  cachedAnswers: number;
  cache: Record<string, unknown>;
  eventLoopDelayMs: { p99: number; max: number };
  /** Since when the peaks (event-loop delay, `cache.longestApplyMs`) are counted: start or the last `reset-peaks`. */
  peaksSince: string;
  tcpRefused: DnsServer['tcpRefused'];
  /** SO_RCVBUF asked for and in effect (bytes for data); absent with `udpReceiveBufferBytes: 0`. */
  udpReceiveBuffer?: { requested: number; effective: number };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * The delay histogram's timer period. Node records the whole interval between two of its ticks,
 * so an idle loop reads ~10 ms: the delay is what exceeds the period (a 30 ms block reads 40).
 */
const LOOP_RESOLUTION_MS = 10;
const lateBy = (ns: number): number => round(Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS));

/**
 * One complete DNS server: its own view of the zones (ZoneCache, following the store), its answer
 * cache, its sockets. The main thread runs one, and each extra worker thread (config `workers`)
 * another on the same ports.
 */
export class DnsEngine {
  private constructor(
    readonly cache: ZoneCache,
    readonly responder: Responder,
    readonly server: DnsServer,
    private readonly forwarder: Forwarder | undefined,
    private readonly loopDelay: IntervalHistogram,
  ) {}

  private peaksSince = new Date();

  static async start(o: EngineOptions): Promise<DnsEngine> {
    const cfg = o.config;
    const cache = new ZoneCache(o.store, {
      zones: cfg.zones,
      ttl: cfg.ttl,
      keyPrefix: cfg.keyPrefix,
      keySuffix: cfg.keySuffix,
      resyncMs: cfg.resyncIntervalMs,
      checkMs: cfg.countCheckIntervalMs,
      // The lookup rules travel with the view the cache builds (case of fields, indexes), so the
      // responder and lookup always answer with the rules the data was indexed for.
      wildcards: cfg.wildcards,
      changeStream: cfg.changeStream,
      log: o.log as Logger,
    });
    // Event-loop delay while serving: a stall here is a stall of every answer of this thread.
    const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    loopDelay.enable();
    let forwarder: Forwarder | undefined;
    try {
      await cache.start(o.syncWaitMs);
      const upstreams = cfg.forwarders.map((f) => parseHostPort(f, true)!);
      forwarder = upstreams.length > 0 ? new Forwarder(upstreams, cfg.forwardTimeoutMs) : undefined;
      const responder = new Responder(() => cache.view, { maxUdpPayload: cfg.maxUdpPayload, forwarding: upstreams.length > 0, cacheSize: cfg.answerCacheSize });
      cache.onChange = (change) => responder.invalidate(change);
      const server = new DnsServer({ listen: o.listen, responder, forwarder, log: o.log as Logger, tcp: o.tcp, metrics: o.metrics, reusePort: o.reusePort, udpReceiveBufferBytes: cfg.udpReceiveBufferBytes });
      await server.start();
      return new DnsEngine(cache, responder, server, forwarder, loopDelay);
    } catch (err) {
      forwarder?.close();
      await cache.stop();
      loopDelay.disable();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.server.stop();
    this.forwarder?.close();
    await this.cache.stop();
    this.loopDelay.disable();
  }

  /** Starts the event-loop delay histogram and the longest apply again, e.g. after a bulk import. */
  resetPeaks(): void {
    this.loopDelay.reset();
    this.cache.resetPeaks();
    this.peaksSince = new Date();
  }

  async status(): Promise<EngineStatus> {
    const c = this.responder.counters;
    return {
      counters: { ...c, rcodes: { ...c.rcodes } },
      cachedAnswers: this.responder.cachedAnswers,
      cache: await this.cache.status(),
      eventLoopDelayMs: { p99: lateBy(this.loopDelay.percentile(99)), max: lateBy(this.loopDelay.max) },
      peaksSince: this.peaksSince.toISOString(),
      tcpRefused: { ...this.server.tcpRefused },
      ...(this.server.udpReceiveBuffer === undefined ? {} : { udpReceiveBuffer: { ...this.server.udpReceiveBuffer } }),
    };
  }
}

/**
 * The threads' numbers as one server's: counters and cached answers summed, event-loop delay the
 * worst, the view (`cache`) the main thread's, with `ready` true only when every thread's is.
 */
export function sumStatus(all: readonly EngineStatus[]): EngineStatus {
  const [first, ...rest] = all as [EngineStatus, ...EngineStatus[]];
  const out: EngineStatus = structuredClone(first);
  for (const s of rest) {
    for (const [k, v] of Object.entries(s.counters)) {
      if (k === 'rcodes') continue;
      (out.counters as unknown as Record<string, number>)[k]! += v as number;
    }
    for (const [r, n] of Object.entries(s.counters.rcodes)) out.counters.rcodes[r] = (out.counters.rcodes[r] ?? 0) + n;
    out.cachedAnswers += s.cachedAnswers;
    out.eventLoopDelayMs = { p99: Math.max(out.eventLoopDelayMs.p99, s.eventLoopDelayMs.p99), max: Math.max(out.eventLoopDelayMs.max, s.eventLoopDelayMs.max) };
    for (const k of Object.keys(out.tcpRefused) as (keyof EngineStatus['tcpRefused'])[]) out.tcpRefused[k] += s.tcpRefused[k];
    if (s.cache.ready === false) out.cache.ready = false;
  }
  return out;
}
