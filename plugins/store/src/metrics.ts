import type { PluginMetrics } from '@plexus/core';
import type { StoreStatusReport } from './status.js';

/** A scrape reads every store gauge at once: one status() answers them all for this long. */
const SHARE_MS = 250;

/**
 * The store's Prometheus metrics (`plexus_store_*`), computed at scrape time from `status()`:
 * role, link state and lag of a replica, a master's replicas with their offset lag, key count.
 * A store that does not answer reads `up 0` and leaves the rest unset, never a failed scrape.
 */
export function registerStoreMetrics(metrics: PluginMetrics, status: () => Promise<StoreStatusReport>): void {
  let cached: { at: number; report: Promise<StoreStatusReport | undefined> } | undefined;
  const read = (): Promise<StoreStatusReport | undefined> => {
    if (cached === undefined || Date.now() - cached.at > SHARE_MS) cached = { at: Date.now(), report: status().catch(() => undefined) };
    return cached.report;
  };
  metrics.gauge({
    name: 'up',
    help: '1 while the store answers',
    async collect() {
      this.set((await read()) === undefined ? 0 : 1);
    },
  });
  metrics.gauge({
    name: 'role',
    help: "The store's role: 1 on the series of its role (master or replica)",
    labelNames: ['role'],
    async collect() {
      const r = await read();
      this.reset();
      if (r !== undefined) this.set({ role: r.role }, 1);
    },
  });
  metrics.gauge({
    name: 'keys',
    help: 'Keys in the store (DBSIZE)',
    async collect() {
      const r = await read();
      this.reset();
      if (r !== undefined) this.set(r.keys);
    },
  });
  metrics.gauge({
    name: 'master_link_up',
    help: "Replica: 1 while the link to its master is up (redis says so and the master answers), else 0",
    async collect() {
      const r = await read();
      this.reset();
      if (r?.role === 'replica') this.set(r.masterLink === 'up' ? 1 : 0);
    },
  });
  metrics.gauge({
    name: 'replication_lag_bytes',
    help: "Replica: bytes of the master's replication stream not applied here yet",
    async collect() {
      const r = await read();
      this.reset();
      if (r?.role === 'replica' && r.lagBytes !== undefined) this.set(r.lagBytes);
    },
  });
  metrics.gauge({
    name: 'connected_replicas',
    help: 'Master: replicas connected now',
    async collect() {
      const r = await read();
      this.reset();
      if (r?.role === 'master') this.set(r.connectedReplicas ?? 0);
    },
  });
  metrics.gauge({
    name: 'replica_lag_bytes',
    help: "Master: how far each replica's acknowledged offset is behind the master's",
    labelNames: ['replica', 'state'],
    async collect() {
      const r = await read();
      this.reset();
      for (const replica of r?.replicas ?? []) this.set({ replica: replica.addr, state: replica.state }, replica.lagBytes);
    },
  });
}
