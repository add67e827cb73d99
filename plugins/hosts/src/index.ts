import { HOSTS_PROTOCOL, PlexusError, defineMethod, definePlugin, hostReportSchema, z, type HostListing, type PluginContext, type PluginInstance, type RpcMethods, type StoreCapability } from '@plexus/core';

export { HOSTS_PROTOCOL } from '@plexus/core';

/** Redis hash of host reports: field = the host node's key (hex), value = HostListing JSON. */
export const HOSTS_KEY = 'hosts:registry';

export const HostsConfigSchema = z.strictObject({
  /** A host not heard from for this long is listed as stale (hosts re-report every 5 minutes). Default 900 s. */
  staleAfterSeconds: z.number().int().min(10).max(30 * 86_400).default(900),
  /** Most hosts kept; a new host beyond it is refused. Default 10,000. */
  maxHosts: z.number().int().min(1).max(1_000_000).default(10_000),
});
export type HostsConfig = z.output<typeof HostsConfigSchema>;

/** A listing with its freshness, as `hosts_list` answers. */
export type ListedHost = HostListing & { stale: boolean };

export function hostsMethods(store: StoreCapability, cfg: HostsConfig): RpcMethods {
  const redis = store.redis;
  return {
    host_report: defineMethod({
      // Signed by the host node's own key: a host can only ever write its own row.
      mutating: true,
      params: hostReportSchema,
      async handler(p, call) {
        if (call.signer === undefined) throw new PlexusError('ERR_AUTH_REQUIRED', 'host_report must be signed by the host node');
        if (store.role !== 'master') throw new PlexusError('ERR_UNAVAILABLE', 'this node holds a replica of the host list; report to the explorer');
        // Tenants dial these addresses and trust the answer as this host's: a report may only
        // point at the node that sent it, never at someone else's peer.
        const foreign = p.multiaddrs.find((m) => !m.endsWith(`/p2p/${call.peer}`));
        if (foreign !== undefined) throw new PlexusError('ERR_PARAMS_INVALID', `multiaddr ${foreign} must end with /p2p/${call.peer}, the reporting node's own peer id`);
        const known = await redis.hexists(HOSTS_KEY, call.signer);
        if (known === 0 && (await redis.hlen(HOSTS_KEY)) >= cfg.maxHosts) throw new PlexusError('ERR_RATE_LIMITED', `the host list is full (${cfg.maxHosts} hosts)`);
        const listing: HostListing = { ...p, key: call.signer, peer_id: call.peer, reported_at: new Date().toISOString() };
        await redis.hset(HOSTS_KEY, call.signer, JSON.stringify(listing));
        return { listed: true };
      },
    }),
    hosts_list: defineMethod({
      mutating: false,
      params: z.strictObject({ available_only: z.boolean().default(false) }),
      async handler(p): Promise<{ hosts: ListedHost[] }> {
        const now = Date.now();
        const hosts = Object.values(await redis.hgetall(HOSTS_KEY))
          .map((v) => {
            const h = JSON.parse(v) as HostListing;
            return { ...h, stale: now - Date.parse(h.reported_at) > cfg.staleAfterSeconds * 1000 };
          })
          .filter((h) => !p.available_only || (h.available && !h.stale && h.free_instances > 0))
          .sort((a, b) => Number(a.stale) - Number(b.stale) || b.free_instances - a.free_instances || a.key.localeCompare(b.key));
        return { hosts };
      },
    }),
  };
}

/** The explorer side of hosting: the list of hosts and what they offer. */
export class HostsService implements PluginInstance {
  private served = false;

  constructor(private readonly ctx: PluginContext<HostsConfig>) {}

  async start(): Promise<void> {
    if (this.served) return;
    await this.ctx.rpc.serve(HOSTS_PROTOCOL, hostsMethods(this.ctx.capability('store'), this.ctx.config));
    this.served = true;
  }

  async stop(): Promise<void> {
    if (!this.served) return;
    this.served = false;
    await this.ctx.rpc.unserve(HOSTS_PROTOCOL);
  }

  async status(): Promise<Record<string, unknown>> {
    return { hosts: await this.ctx.capability('store').redis.hlen(HOSTS_KEY) };
  }
}

export const plugin = definePlugin<HostsConfig>({
  name: 'hosts',
  version: '0.1.0',
  description: 'the host list: hosts report capacity and availability, tenants find them',
  provides: [],
  requires: ['store'],
  configSchema: HostsConfigSchema,
  create: (ctx) => new HostsService(ctx),
});

export default plugin;
