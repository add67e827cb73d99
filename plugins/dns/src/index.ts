import { definePlugin, formatHostPort as fmt, parseHostPort, type CapabilityMap, type HostPort, type PluginContext, type PluginInstance } from '@plexus/core';
import { DnsConfigSchema, type DnsConfig } from './config.js';
import { Forwarder } from './forwarder.js';
import { Responder } from './responder.js';
import { DnsServer } from './server.js';
import { ZoneCache } from './zone-cache.js';
import { DnsMetrics } from './metrics.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const round = (ms: number): number => Math.round(ms * 10) / 10;

export { DnsConfigSchema, DNS_DEFAULTS, WILDCARD_RULES, type DnsConfig, type WildcardRules } from './config.js';
export { parseRecords, effectiveTtl, madeUpSoa, chunk255, type NodeRecords, type Rr, type Soa } from './records.js';
export { lookup, resolveName, findZone, QTYPE, type LookupResult } from './lookup.js';
export { buildZone, buildView, type Zone, type ZoneView } from './zone.js';
export { ZoneState } from './zone-state.js';
export { renderCorefile, corefileFromConfig, type CorefileInput, type CorefileOptions } from './corefile.js';
export { ZoneCache, CHANGE_STREAM } from './zone-cache.js';
export type { DnsCounters } from './responder.js';

/** The running service behind the `dns` plugin; exposed for tests (bound addresses, counters). */
export class DnsService implements PluginInstance {
  private cache: ZoneCache | undefined;
  private server: DnsServer | undefined;
  private forwarder: Forwarder | undefined;
  private responder: Responder | undefined;
  /** Event-loop delay while serving: a stall here is a stall of every answer. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor(private readonly ctx: PluginContext<DnsConfig>) {}

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const cfg = this.ctx.config;
    const store = this.ctx.capability('store');
    try {
      const cache = new ZoneCache(store, {
        zones: cfg.zones,
        ttl: cfg.ttl,
        keyPrefix: cfg.keyPrefix,
        keySuffix: cfg.keySuffix,
        resyncMs: cfg.resyncIntervalMs,
        // The lookup rules travel with the view the cache builds (case of fields, indexes), so the
        // responder and lookup always answer with the rules the data was indexed for.
        wildcards: cfg.wildcards,
        changeStream: cfg.changeStream,
        log: this.ctx.log,
      });
      this.cache = cache;
      this.loopDelay.enable();
      await cache.start(cfg.syncWaitMs);
      const upstreams = cfg.forwarders.map((f) => parseHostPort(f, true)!);
      this.forwarder = upstreams.length > 0 ? new Forwarder(upstreams, cfg.forwardTimeoutMs) : undefined;
      const responder = new Responder(() => cache.view, { maxUdpPayload: cfg.maxUdpPayload, forwarding: upstreams.length > 0, cacheSize: cfg.answerCacheSize });
      this.responder = responder;
      cache.onChange = (change) => responder.invalidate(change);
      const tcp = { maxConnections: cfg.tcp.maxConnections, maxPerIp: cfg.tcp.maxPerIp, queryMs: cfg.tcp.queryTimeoutMs, idleMs: cfg.tcp.idleTimeoutMs };
      const metrics = new DnsMetrics(this.ctx.metrics);
      this.server = new DnsServer({ listen: cfg.listen.map((l) => parseHostPort(l, true, true)!), responder, forwarder: this.forwarder, log: this.ctx.log, tcp, metrics });
      await this.server.start();
      this.ctx.log.info({ listen: this.addresses().udp.map(fmt), zones: cfg.zones, wildcards: cfg.wildcards, ...(await cache.status()) }, 'dns serving');
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    const { server, cache, forwarder } = this;
    this.server = undefined;
    this.cache = undefined;
    this.forwarder = undefined;
    await server?.stop();
    forwarder?.close();
    await cache?.stop();
    this.loopDelay.disable();
  }

  /** Where the sockets are bound (useful with port 0). */
  addresses(): { udp: HostPort[]; tcp: HostPort[] } {
    return this.server?.addresses() ?? { udp: [], tcp: [] };
  }

  capabilities(): Partial<CapabilityMap> {
    if (this.server === undefined) return {};
    return { dns: { zones: this.ctx.config.zones, addresses: () => this.addresses() } };
  }

  async status(): Promise<Record<string, unknown>> {
    const r = this.responder;
    return {
      listen: this.addresses().udp.map(fmt),
      wildcards: this.ctx.config.wildcards,
      ...(r === undefined ? {} : { ...r.counters, rcodes: { ...r.counters.rcodes }, cachedAnswers: r.cachedAnswers }),
      cache: (await this.cache?.status()) ?? {},
      eventLoopDelayMs: { p99: round(this.loopDelay.percentile(99) / 1e6), max: round(this.loopDelay.max / 1e6) },
      tcpRefused: this.server === undefined ? {} : { ...this.server.tcpRefused },
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
