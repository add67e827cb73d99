import { join } from 'node:path';
import { HOSTS_PROTOCOL, PlexusError, definePlugin, z, type HostReport, type PluginContext, type PluginInstance } from '@plexus/core';
import { HostingConfigSchema, shareOf, type HostingConfig } from './config.js';
import { Host, type LeaseRecord } from './host.js';

export { HostingConfigSchema, HOSTING_DEFAULTS, shareOf, type HostingConfig } from './config.js';
export { HOSTING_ERRORS } from './errors.js';
export { Host, type LeaseRecord, type HostCounters } from './host.js';
export { DockerHost, HOST_LABEL, LEASE_LABEL, type ContainerSpec } from './docker.js';
export { USER_PREFIX } from './users.js';

/** One instance as `plexus instances list` shows it. */
export interface InstanceRow {
  name: string;
  leaseId: string;
  tenant: string;
  image: string;
  contractId: string;
  state: LeaseRecord['state'];
  peerPort: number;
  userPort: number;
  createdAt: string;
  expiresAt: string;
  pubkey: string;
  user?: string;
}

const row = (l: LeaseRecord): InstanceRow => ({
  name: l.name,
  leaseId: l.leaseId,
  tenant: l.tenant,
  image: l.image,
  contractId: l.contractId,
  state: l.state,
  peerPort: l.peerPort,
  userPort: l.userPort,
  createdAt: new Date(l.createdAt).toISOString(),
  expiresAt: new Date(l.expiresAt).toISOString(),
  pubkey: l.pubkey,
  ...(l.user === undefined ? {} : { user: l.user }),
});

/** A drain waits at most this long by default. */
const DEFAULT_DRAIN_SECONDS = 3600;

/**
 * The hosting plugin: takes lease requests from the node's lease source (`ledger`), runs one
 * container per lease, reports its capacity to the explorer, and reconciles at start.
 */
export class HostingService implements PluginInstance {
  private host: Host | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private reportPending: NodeJS.Timeout | undefined;
  private lastReport: { at: string; ok: boolean; error?: string } | undefined;
  private drainWaiters: (() => void)[] = [];

  constructor(private readonly ctx: PluginContext<HostingConfig>) {}

  async start(): Promise<void> {
    if (this.host !== undefined) return;
    const store = this.ctx.capability('store');
    if (store.role !== 'master') throw new PlexusError('ERR_UNAVAILABLE', 'hosting keeps its leases in the store: it needs a master (writable) store, not a replica');
    const host = new Host(this.ctx.config, store, this.ctx.node.peerId, join(this.ctx.dataDir, 'instances'), this.ctx.log);
    await host.start();
    host.onChange = () => {
      this.scheduleReport();
      if (host.size === 0) for (const w of this.drainWaiters.splice(0)) w();
    };
    this.host = host;
    this.ctx.capability('ledger').serve((r) => host.handle(r));
    this.ctx.capability('ledger').capacity?.({ instances: this.ctx.config.capacity.instances, available: true });
    this.scheduleReport(0);
    this.reportTimer = setInterval(() => this.scheduleReport(0), this.ctx.config.reportEveryMs);
    this.reportTimer.unref();
    const share = shareOf(this.ctx.config);
    this.ctx.log.info({ instances: this.ctx.config.capacity.instances, share, running: host.size, publicHost: this.ctx.config.publicHost, docker: this.ctx.config.docker.socket }, 'hosting ready');
  }

  async stop(): Promise<void> {
    clearInterval(this.reportTimer);
    clearTimeout(this.reportPending);
    const host = this.host;
    this.host = undefined;
    await host?.stop();
  }

  async status(): Promise<Record<string, unknown>> {
    const h = this.host;
    if (h === undefined) return { hosting: false };
    const cap = this.ctx.config.capacity;
    return {
      hosting: true,
      draining: h.draining,
      capacity: cap,
      share: shareOf(this.ctx.config),
      instances: h.size,
      free: cap.instances - h.size,
      leaseSource: this.ctx.capability('ledger').source,
      counters: structuredClone(h.counters),
      explorerReport: this.lastReport ?? null,
      running: h.list().map((l) => ({ name: l.name, leaseId: l.leaseId, image: l.image, userPort: l.userPort, peerPort: l.peerPort, state: l.state, expiresAt: new Date(l.expiresAt).toISOString() })),
    };
  }

  adminActions(): Record<string, (params: unknown) => Promise<unknown>> {
    return {
      list: async () => ({ instances: this.running().list().map(row) }),
      inspect: async (params) => {
        const { name } = z.strictObject({ name: z.string().min(1).max(128) }).parse(params);
        const h = this.running();
        const lease = h.get(name);
        if (lease === undefined) throw new PlexusError('ERR_NOT_FOUND', `no instance ${name} on this host`);
        const c = await h.docker.inspect(lease.name);
        return {
          ...row(lease),
          config: lease.config,
          container:
            c === undefined
              ? null
              : {
                  id: c.Id,
                  status: c.State.Status,
                  startedAt: c.State.StartedAt,
                  memoryBytes: c.HostConfig.Memory,
                  nanoCpus: c.HostConfig.NanoCpus,
                  readonlyRootfs: c.HostConfig.ReadonlyRootfs,
                  ports: c.HostConfig.PortBindings,
                  mounts: c.Mounts?.map((m) => ({ source: m.Source, destination: m.Destination, rw: m.RW })),
                },
          share: shareOf(this.ctx.config),
          disk: this.ctx.config.disk,
        };
      },
      drain: async (params) => {
        const { deadlineSeconds } = z.strictObject({ deadlineSeconds: z.number().int().min(0).max(30 * 86_400).default(DEFAULT_DRAIN_SECONDS) }).parse(params ?? {});
        const h = this.running();
        h.draining = true;
        this.ctx.capability('ledger').capacity?.({ instances: this.ctx.config.capacity.instances, available: false });
        this.scheduleReport(0);
        this.ctx.log.info({ instances: h.size, deadlineSeconds }, 'draining: no new leases; waiting for the instances to end');
        const started = Date.now();
        if (h.size > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, deadlineSeconds * 1000);
            this.drainWaiters.push(() => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
        const left = h.list().map((l) => l.name);
        // After the answer is on its way: the node stops as on SIGTERM; instances still running
        // keep running under Docker and are reconciled when the node starts again.
        setTimeout(() => this.ctx.requestShutdown(left.length === 0 ? 'drained' : `drain deadline: ${left.length} instance(s) left running`), 100).unref();
        return { drained: left.length === 0, waitedSeconds: Math.round((Date.now() - started) / 1000), instancesLeft: left };
      },
    };
  }

  private running(): Host {
    if (this.host === undefined) throw new PlexusError('ERR_UNAVAILABLE', 'hosting is not running');
    return this.host;
  }

  /** Reports to the explorer soon (changes come in bursts: one report after the last). */
  private scheduleReport(delayMs = 500): void {
    if (this.ctx.node.explorers.length === 0 || this.host === undefined) return;
    clearTimeout(this.reportPending);
    this.reportPending = setTimeout(() => void this.report(), delayMs);
    this.reportPending.unref();
  }

  private async report(): Promise<void> {
    const h = this.host;
    if (h === undefined) return;
    const cfg = this.ctx.config;
    // The explorer lists only addresses that name this node (`/p2p/<own peer id>`); an announced
    // address written without it gets it here.
    const own = `/p2p/${this.ctx.node.peerId}`;
    const multiaddrs = (cfg.announce ?? [...(this.ctx.node.listen ?? [])]).map((m) => (m.endsWith(own) ? m : `${m}${own}`));
    if (multiaddrs.length === 0) return;
    const report: HostReport = {
      multiaddrs: multiaddrs.slice(0, 16),
      public_host: cfg.publicHost,
      lease_source: this.ctx.capability('ledger').source,
      capacity: { instances: cfg.capacity.instances, cpus: cfg.capacity.cpus, memory_mb: cfg.capacity.memoryMb, disk_mb: cfg.capacity.diskMb },
      free_instances: cfg.capacity.instances - h.size,
      available: !h.draining,
      images: cfg.images.slice(0, 64),
    };
    const at = new Date().toISOString();
    try {
      const c = await this.ctx.peers.explorer();
      try {
        await c.call(HOSTS_PROTOCOL, 'host_report', report, { signed: true });
      } finally {
        await c.close();
      }
      if (this.lastReport?.ok !== true) this.ctx.log.info({ free: report.free_instances, available: report.available }, 'reported to the explorer');
      this.lastReport = { at, ok: true };
    } catch (err) {
      if (this.lastReport?.ok !== false) this.ctx.log.warn({ err: (err as Error).message }, 'hosting: the explorer did not take the host report; retried with the next change or interval');
      this.lastReport = { at, ok: false, error: (err as Error).message };
    }
  }
}

export const plugin = definePlugin<HostingConfig>({
  name: 'hosting',
  version: '0.1.0',
  description: 'contract hosting: leased instances as Docker containers with their own ports and quotas',
  provides: [],
  requires: ['store', 'ledger'],
  configSchema: HostingConfigSchema,
  create: (ctx) => new HostingService(ctx),
});

export default plugin;
