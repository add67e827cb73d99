import { PlexusError, definePlugin, publicKeyHexSchema, type PluginContext, type PluginDefinition, type PluginInstance } from '@plexus/core';
import { WireguardConfigSchema, networkNameSchema, type WireguardConfig } from './config.js';
import { WIREGUARD_ERRORS } from './errors.js';
import { LocalLink, RemoteLink } from './link.js';
import { NetworkMember, type NetworkStatus } from './member.js';
import { MAX_WAIT_MS, WIREGUARD_PROTOCOL, registryMethods } from './methods.js';
import { Registry } from './registry.js';

/** RPC timeout of a member's calls: longer than a long poll. */
const CALL_TIMEOUT_MS = MAX_WAIT_MS + 5_000;

/** What `plexus wg status --json` prints. */
export interface WireguardStatus {
  networks: NetworkStatus[];
  /** On the registry node: each network it allocates, with its members. */
  registry?: { network: string; cidr: string; topology: unknown; version: number; members: { name: string; address: string; endpoint: string | null; signer: string; key: string }[] }[];
}

/**
 * The running plugin: the registry on the explorer (when `registry` is configured) and one
 * `NetworkMember` per network this node joins.
 */
export class WireguardService implements PluginInstance {
  private registry: Registry | undefined;
  private members: NetworkMember[] = [];
  private started = false;

  constructor(private readonly ctx: PluginContext<WireguardConfig>) {}

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const c = this.ctx.config;
    try {
      const store = this.ctx.optionalCapability('store');
      if (Object.keys(c.registry).length > 0) {
        if (store === undefined || store.role !== 'master') {
          throw new PlexusError('ERR_CONFIG_INVALID', 'wireguard.registry needs the store master on this node (plugins.store in managed or external mode)');
        }
        this.registry = new Registry(store.redis, c.registry, this.ctx.node.publicKeyHex, this.ctx.log);
        await this.ctx.rpc.serve(WIREGUARD_PROTOCOL, registryMethods(this.registry));
      }
      for (const [name, cfg] of Object.entries(c.networks)) {
        // A network this node allocates itself is joined in-process; every other one over RPC.
        const link = this.registry !== undefined && name in c.registry ? new LocalLink(this.registry, this.ctx.node.publicKeyHex) : new RemoteLink(this.ctx.peers, CALL_TIMEOUT_MS);
        const member = new NetworkMember(name, cfg, { dataDir: this.ctx.dataDir, nodeName: this.ctx.node.name, selfKey: this.ctx.node.publicKeyHex, log: this.ctx.log, store, config: c }, link);
        this.members.push(member);
        await member.start();
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.registry?.wakeAll();
    const members = this.members;
    this.members = [];
    await Promise.all(members.map((m) => m.stop().catch((err: unknown) => this.ctx.log.error({ network: m.network, err }, 'failed to remove the interface'))));
    if (this.registry !== undefined) {
      this.registry = undefined;
      await this.ctx.rpc.unserve(WIREGUARD_PROTOCOL);
    }
  }

  async status(): Promise<Record<string, unknown>> {
    return (await this.detail()) as unknown as Record<string, unknown>;
  }

  private async detail(): Promise<WireguardStatus> {
    const out: WireguardStatus = { networks: await Promise.all(this.members.map((m) => m.status())) };
    const registry = this.registry;
    if (registry !== undefined) {
      out.registry = await Promise.all(
        registry.networkNames().map(async (network) => {
          const view = await registry.members(network, registry.registryKey, undefined, 0);
          return {
            network,
            cidr: view.cidr,
            topology: view.topology,
            version: view.version,
            members: view.members.map((m) => ({ name: m.name, address: m.address, endpoint: m.endpoint ?? null, signer: m.signer, key: m.key })),
          };
        }),
      );
    }
    return out;
  }

  adminActions(): Record<string, (params: unknown) => Promise<unknown>> {
    const member = (params: unknown): NetworkMember => {
      const network = networkNameSchema.safeParse((params as { network?: unknown } | null)?.network);
      if (!network.success) throw new PlexusError('ERR_USAGE', '--network expects a network name');
      const m = this.members.find((x) => x.network === network.data);
      if (m === undefined) throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_NETWORK_UNKNOWN, `this node is not a member of ${network.data}`);
      return m;
    };
    return {
      status: () => this.detail(),
      'rotate-key': (params) => member(params).rotateKey(),
      leave: (params) => member(params).leave(),
      remove: (params) => this.operatorRemove(params, true),
      readmit: (params) => this.operatorRemove(params, false),
    };
  }

  /** `plexus wg remove|readmit` on the explorer: by node name, node key or WireGuard key. */
  private async operatorRemove(params: unknown, remove: boolean): Promise<unknown> {
    const registry = this.registry;
    if (registry === undefined) throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_NETWORK_UNKNOWN, 'this node runs no wireguard registry (wireguard.registry)');
    const p = (params ?? {}) as { network?: unknown; member?: unknown };
    const network = networkNameSchema.safeParse(p.network);
    if (!network.success) throw new PlexusError('ERR_USAGE', '--network expects a network name');
    if (typeof p.member !== 'string' || p.member === '') throw new PlexusError('ERR_USAGE', '--member expects a node name, node key or WireGuard key');
    const records = await registry.records(network.data);
    const found = records.find((m) => m.name === p.member || m.signer === p.member || m.key === p.member);
    const signer = found?.signer ?? (publicKeyHexSchema.safeParse(p.member).success ? (p.member as string) : undefined);
    if (signer === undefined) throw new PlexusError('ERR_NOT_FOUND', `no member ${p.member} in ${network.data} (readmit by node key)`);
    if (remove) return { network: network.data, signer, ...(await registry.remove(network.data, signer, true)) };
    return { network: network.data, signer, ...(await registry.readmit(network.data, signer)) };
  }
}

/**
 * The `wireguard` plugin: private WireGuard networks configured from the registry on the explorer.
 * Uses the store when there is one: the registry keeps memberships in it, and a network marked
 * `store: true` carries the store's replication.
 */
export const plugin: PluginDefinition<WireguardConfig> = definePlugin<WireguardConfig>({
  name: 'wireguard',
  version: '0.1.0',
  description: 'WireGuard private networks that configure themselves from the registry (wg + wireguard-go)',
  provides: [],
  requires: [],
  uses: ['store'],
  configSchema: WireguardConfigSchema,
  create: (ctx) => new WireguardService(ctx),
});

export default plugin;

export { WireguardConfigSchema, type WireguardConfig } from './config.js';
export { WIREGUARD_PROTOCOL } from './methods.js';
export { WIREGUARD_ERRORS } from './errors.js';
export { parseDump, type InterfaceDump, type PeerDump } from './dump.js';
export { desiredPeers, peerChanges, type PeerSpec } from './peers.js';
export type { NetworkStatus } from './member.js';
