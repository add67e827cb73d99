import { PlexusError, definePlugin, formatHostPort as fmt, parseHostPort, type CapabilityMap, type HostPort, type PluginContext, type PluginInstance } from '@plexus/core';
import { DnsConfigSchema, type DnsConfig } from './config.js';
import { DnsEngine, sumStatus, type EngineStatus } from './engine.js';
import { DnsMetrics } from './metrics.js';
import type { TcpLimits } from './server.js';
import { redisSettings, WorkerHandle, type WorkerInit } from './workers.js';

export { DnsConfigSchema, DNS_DEFAULTS, WILDCARD_RULES, type DnsConfig, type WildcardRules } from './config.js';
export { parseRecords, effectiveTtl, madeUpSoa, chunk255, type NodeRecords, type Rr, type Soa } from './records.js';
export { lookup, resolveName, findZone, QTYPE, type LookupResult } from './lookup.js';
export { buildZone, buildView, RawNodes, type Zone, type ZoneView, type NodeTable } from './zone.js';
export { ZoneState } from './zone-state.js';
export { renderCorefile, corefileFromConfig, type CorefileInput, type CorefileOptions } from './corefile.js';
export { ZoneCache, CHANGE_STREAM } from './zone-cache.js';
export type { DnsCounters } from './responder.js';

/** The running service behind the `dns` plugin; exposed for tests (bound addresses, counters). */
export class DnsService implements PluginInstance {
  private engine: DnsEngine | undefined;
  private workers: WorkerHandle[] = [];

  constructor(private readonly ctx: PluginContext<DnsConfig>) {}

  async start(): Promise<void> {
    if (this.engine !== undefined) return;
    const cfg = this.ctx.config;
    const store = this.ctx.capability('store');
    const threads = cfg.workers;
    // The limits hold for the port as a whole: each thread gets its share.
    const share = (n: number): number => Math.max(1, Math.floor(n / threads));
    const tcp: TcpLimits = { maxConnections: share(cfg.tcp.maxConnections), maxPerIp: share(cfg.tcp.maxPerIp), queryMs: cfg.tcp.queryTimeoutMs, idleMs: cfg.tcp.idleTimeoutMs };
    const metrics = new DnsMetrics(this.ctx.metrics);
    try {
      this.engine = await DnsEngine.start({
        config: cfg,
        store,
        log: this.ctx.log,
        metrics,
        listen: cfg.listen.map((l) => parseHostPort(l, true, true)!),
        reusePort: threads > 1,
        tcp,
        syncWaitMs: cfg.syncWaitMs,
      });
      // The workers bind the ports the main thread got (which resolves port 0 in tests).
      const listen = this.engine.server.addresses().udp;
      const init: WorkerInit = { config: cfg, redis: redisSettings(store.redis.options), replicaOfNetwork: store.replicaOfNetwork, listen, tcp };
      for (let i = 1; i < threads; i++) this.workers.push(await WorkerHandle.start(init, this.ctx, metrics, i));
      this.ctx.log.info({ listen: this.addresses().udp.map(fmt), zones: cfg.zones, wildcards: cfg.wildcards, threads, ...(await this.engine.cache.status()) }, 'dns serving');
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    const { engine, workers } = this;
    this.engine = undefined;
    this.workers = [];
    await Promise.all(workers.map((w) => w.stop()));
    await engine?.stop();
  }

  /** Where the sockets are bound (useful with port 0). */
  addresses(): { udp: HostPort[]; tcp: HostPort[] } {
    return this.engine?.server.addresses() ?? { udp: [], tcp: [] };
  }

  capabilities(): Partial<CapabilityMap> {
    if (this.engine === undefined) return {};
    return { dns: { zones: this.ctx.config.zones, addresses: () => this.addresses() } };
  }

  /** `plexus dns reset-peaks`: every thread's event-loop delay and longest apply count from now on. */
  adminActions(): Record<string, (params: unknown) => Promise<unknown>> {
    return {
      'reset-peaks': async () => {
        const engine = this.engine;
        if (engine === undefined) throw new PlexusError('ERR_UNAVAILABLE', 'dns is not serving');
        engine.resetPeaks();
        for (const w of this.workers) w.resetPeaks();
        return { peaksSince: (await engine.status()).peaksSince, threads: 1 + this.workers.length };
      },
    };
  }

  /** Counters summed over the threads (see `sumStatus`); `threads` lists each thread's query count. */
  async status(): Promise<Record<string, unknown>> {
    const engine = this.engine;
    if (engine === undefined) return { listen: [], wildcards: this.ctx.config.wildcards, cache: {} };
    const all = [await engine.status(), ...(await Promise.all(this.workers.map((w) => w.status())))];
    const present = all.filter((s): s is EngineStatus => s !== undefined);
    const s = sumStatus(present);
    return {
      listen: this.addresses().udp.map(fmt),
      wildcards: this.ctx.config.wildcards,
      ...s.counters,
      cachedAnswers: s.cachedAnswers,
      cache: s.cache,
      eventLoopDelayMs: s.eventLoopDelayMs,
      peaksSince: s.peaksSince,
      tcpRefused: s.tcpRefused,
      ...(s.udpReceiveBuffer === undefined ? {} : { udpReceiveBuffer: s.udpReceiveBuffer }),
      threads: all.map((t) => (t === undefined ? { missing: true } : { queries: t.counters.queries, ready: t.cache.ready, lastStreamId: t.cache.lastStreamId })),
    };
  }
}

/** Authoritative DNS for the gateway zones, answered from memory, kept in sync with the store. */
export const plugin = definePlugin<DnsConfig>({
  name: 'dns',
  version: '0.1.0',
  description: 'authoritative DNS for the gateway zones from the store, kept in memory and refreshed on change',
  provides: ['dns'],
  requires: ['store'],
  configSchema: DnsConfigSchema,
  create: (ctx) => new DnsService(ctx),
});

export default plugin;
