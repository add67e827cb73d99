import { join } from 'node:path';
import type { Libp2p } from 'libp2p';
import type { ResolvedConfig } from './config/load.js';
import { type Identity, NODE_KEY_FILE, libp2pPrivateKey, loadOrCreateIdentity } from './identity.js';
import type { Logger } from './logger.js';
import { ensureDataDir } from './data-dir.js';
import { ConnectionGuard } from './p2p/connection-guard.js';
import { createP2pNode } from './p2p/libp2p.js';
import { peerDialer } from './p2p/peers.js';
import { PluginHost } from './plugin-host.js';
import { PlexusError } from './errors.js';
import { AdminServer, adminSocketPath } from './admin.js';
import { ReplayWindow } from './rpc/replay-window.js';
import { RpcServer } from './rpc/server.js';
import { NodeMetrics } from './metrics.js';
import type { NodeInspector } from './plugin.js';

/**
 * A running plexus node: identity, libp2p, RPC server and the configured plugins.
 * libp2p starts before the plugins so that a plugin may dial peers in its `start`.
 */
export class PlexusNode {
  private libp2p: Libp2p | undefined;
  private host: PluginHost | undefined;
  private rpc: RpcServer | undefined;
  private guard: ConnectionGuard | undefined;
  identity: Identity | undefined;
  /** Set by whoever runs the node (`runNode`): what a plugin's `ctx.requestShutdown` triggers. */
  onShutdownRequest: ((reason: string) => void) | undefined;
  private admin: AdminServer | undefined;
  private readonly startedAt = Date.now();
  /** The node's Prometheus registry: the core's, the RPC server's and every plugin's metrics. */
  readonly metrics = new NodeMetrics();

  constructor(
    readonly config: ResolvedConfig,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const { config, log } = this;
    await ensureDataDir(config.dataDir);
    const identity = await loadOrCreateIdentity(config.identityFile);
    this.identity = identity;
    if (identity.created) log.info({ path: identity.path }, 'created node identity');
    const rpcConfig = config.node.rpc;
    const replayWindow = await ReplayWindow.open(config.dataDir, { maxClockSkewMs: rpcConfig.maxClockSkewMs, fresh: identity.created });
    if (replayWindow.notBefore > Date.now()) {
      log.warn({ notBefore: replayWindow.notBefore }, 'no replay record in the data dir: signed requests are refused until notBefore, as an earlier run may have accepted them');
    }
    const p2p = config.node.p2p;
    const guard = new ConnectionGuard(p2p);
    const libp2p = await createP2pNode({ listen: config.node.listen, privateKey: await libp2pPrivateKey(identity), limits: p2p, guard });
    guard.attach(libp2p);
    this.libp2p = libp2p;
    this.guard = guard;
    const rpc = new RpcServer(
      libp2p,
      {
        ...rpcConfig,
        rateLimit: { perSecond: rpcConfig.rateLimit.perSecond, burst: rpcConfig.rateLimit.burst },
        hostRateLimit: { perSecond: rpcConfig.rateLimit.perHostPerSecond, burst: rpcConfig.rateLimit.perHostBurst },
        replayWindow,
        metrics: this.metrics.core(),
      },
      log.child({ scope: 'rpc' }),
    );
    this.rpc = rpc;
    this.host = new PluginHost(config.plugins, {
      log,
      node: { name: config.node.name, peerId: libp2p.peerId.toString(), publicKeyHex: identity.publicKeyHex, explorers: config.node.explorer, listen: this.multiaddrs() },
      dataDir: config.dataDir,
      configDir: config.dir,
      rpcFor: (plugin, pluginLog) => ({
        serve: (protocol, methods) => rpc.serve(protocol, methods, pluginLog, plugin),
        unserve: (protocol) => rpc.unserve(protocol),
      }),
      peers: peerDialer(libp2p, identity.keyPair, config.node.explorer),
      requestShutdown: (reason) => this.onShutdownRequest?.(reason),
      metrics: this.metrics,
      inspect: this.inspector(rpc),
    });
    try {
      await this.host.start();
    } catch (err) {
      guard.stop();
      await Promise.resolve(libp2p.stop()).catch(() => undefined);
      throw err;
    }
    this.admin = new AdminServer(adminSocketPath(config.dataDir), () => this.status(), (plugin, action, params) => {
      if (this.host === undefined) return Promise.reject(new PlexusError('ERR_UNAVAILABLE', 'the node is not running'));
      return this.host.action(plugin, action, params);
    });
    try {
      await this.admin.start();
    } catch (err) {
      log.warn({ err }, 'admin socket unavailable: `plexus status` will not reach this node');
      this.admin = undefined;
    }
    log.info(
      { peerId: libp2p.peerId.toString(), listen: this.multiaddrs(), plugins: config.plugins.map((p) => p.definition.name) },
      'node started',
    );
  }

  private inspector(rpc: RpcServer): NodeInspector {
    return {
      status: () => this.status(),
      plugins: () => this.host?.pluginStates() ?? [],
      metrics: () => this.metrics.render(),
      readMethods: () => rpc.readMethods(),
      callRead: (protocol, method, params) => rpc.callRead(protocol, method, params),
    };
  }

  multiaddrs(): string[] {
    return this.libp2p?.getMultiaddrs().map((m) => m.toString()) ?? [];
  }

  get peerId(): string | undefined {
    return this.libp2p?.peerId.toString();
  }

  get rpcStats(): RpcServer['stats'] | undefined {
    return this.rpc?.stats;
  }

  /** What `plexus status` prints. */
  async status(): Promise<Record<string, unknown>> {
    const mem = process.memoryUsage();
    return {
      node: {
        name: this.config.node.name,
        peerId: this.peerId,
        listen: this.multiaddrs(),
        uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
        rssBytes: mem.rss,
        // Where the RSS goes: V8's heap (live objects, and what it keeps reserved) and memory held
        // outside it (Buffers and other native allocations).
        heapUsedBytes: mem.heapUsed,
        heapTotalBytes: mem.heapTotal,
        externalBytes: mem.external,
        connections: this.libp2p?.getConnections().length ?? 0,
      },
      rpc: this.rpc?.stats,
      p2p: this.guard === undefined ? undefined : { pendingInbound: this.guard.pendingCount, ...this.guard.stats },
      plugins: (await this.host?.status()) ?? {},
    };
  }

  async stop(): Promise<void> {
    await this.admin?.stop();
    await this.host?.stop();
    this.guard?.stop();
    await this.libp2p?.stop();
    await this.rpc?.close();
    this.log.info('node stopped');
  }
}
