import type { z } from 'zod';
import type { CapabilityMap, CapabilityName } from './capabilities.js';
import type { Logger } from './logger.js';
import type { PluginMetrics } from './metrics.js';
import type { RpcClient } from './rpc/client.js';
import type { RpcCaller } from './rpc/failover.js';
import type { RpcRegistrar } from './rpc/types.js';

/**
 * What a plugin is: plain data plus a factory. The core reads `provides`/`requires` to order
 * start-up and validates the plugin's config block with `configSchema` before anything starts.
 * docs/writing-a-plugin.md walks through one end to end.
 */
export interface PluginDefinition<C = unknown> {
  /** Name used under `plugins:` in the config and in `/plexus/<name>/<major>` protocols. */
  readonly name: string;
  readonly version: string;
  /** One line for `plexus plugins` and error messages. */
  readonly description: string;
  /** Capabilities this plugin offers to others (e.g. `store`); `capabilities()` supplies each. */
  readonly provides: readonly string[];
  /** Capabilities that must be provided by another configured plugin. */
  readonly requires: readonly string[];
  /**
   * Capabilities used when another configured plugin provides them, and done without otherwise
   * (the wireguard plugin moves the store onto the mesh on nodes that run one). The plugin starts
   * after their providers; `ctx.optionalCapability()` hands them out.
   */
  readonly uses?: readonly string[];
  /** Strict schema of the plugin's config block, with its defaults. */
  readonly configSchema: z.ZodType<C>;
  /** Builds the instance. Must do no I/O: sockets, files and children are opened in `start`. */
  create(ctx: PluginContext<C>): PluginInstance;
}

/**
 * A running plugin. Every plugin of this repository implements it as a class named for what it
 * runs (`Store`, `PhonebookService`, `DnsService`), constructed from its context.
 */
export interface PluginInstance {
  /** Opens sockets/children. Called once; a second call must be a no-op. */
  start(): Promise<void>;
  /** Releases everything; safe after a partial or failed start, safe to call twice. */
  stop(): Promise<void>;
  /**
   * The objects behind the capabilities named in `provides`, called once `start` resolved.
   * The core refuses to go on when one of them is missing.
   */
  capabilities?(): Partial<CapabilityMap>;
  /** What `plexus status` shows for this plugin (JSON-serialisable). */
  status?(): Promise<Record<string, unknown>>;
  /**
   * Operator actions on the local admin socket (`POST /plugins/<plugin>/<action>`, JSON params):
   * what a local CLI command such as `plexus host drain` calls. Only users who can read the data
   * dir reach them. Throw a PlexusError to refuse.
   */
  adminActions?(): Record<string, (params: unknown) => Promise<unknown>>;
}

/** The narrow set of core services a plugin sees. Tests hand a plugin exactly these (`@plexus/core/testing`). */
export interface PluginContext<C = unknown> {
  readonly name: string;
  readonly config: C;
  /** `<node.dataDir>/<plugin name>`, created (0700) before `start`. */
  readonly dataDir: string;
  /** Directory of the config file, for resolving relative paths in the block. */
  readonly configDir: string;
  readonly log: Logger;
  readonly node: NodeInfo;
  /** Serves this plugin's RPC methods. */
  readonly rpc: RpcRegistrar;
  /** Calls other nodes' plugins, signed with this node's key (client-side plugins). */
  readonly peers: PeerDialer;
  /** The started provider of a capability this plugin `requires`. Throws for anything else. */
  capability<K extends CapabilityName>(name: K): CapabilityMap[K];
  /** The started provider of a capability this plugin `uses`, or undefined when no configured plugin provides it. */
  optionalCapability<K extends CapabilityName>(name: K): CapabilityMap[K] | undefined;
  /** Asks the node to stop, as SIGTERM would (a drained host, for one). Returns at once. */
  requestShutdown(reason: string): void;
  /** Creates this plugin's Prometheus metrics in the node's registry, named `plexus_<plugin>_...`. */
  readonly metrics: PluginMetrics;
  /**
   * The node seen from inside: its status, its plugins' states, every plugin's metrics and the
   * read-only RPC methods it serves. For plugins that report on the node (the api plugin).
   */
  readonly inspect: NodeInspector;
}

/** What a plugin may learn about the node it runs in (see `PluginContext.inspect`). */
export interface NodeInspector {
  /** What `plexus status` shows. */
  status(): Promise<Record<string, unknown>>;
  /** Every configured plugin in start order, with where its lifecycle is. */
  plugins(): PluginState[];
  /** All metrics of the node (every plugin's, the RPC server's, the process's) in Prometheus text format. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** The read-only (`mutating: false`) RPC methods served now, with their params schemas. */
  readMethods(): ServedMethod[];
  /**
   * Runs a served read-only method in this process as the RPC server would run an unsigned call:
   * params validated (ERR_PARAMS_INVALID naming the field), then the handler. ERR_METHOD_UNKNOWN
   * when nothing serves it, ERR_FORBIDDEN for a mutating method.
   */
  callRead(protocol: string, method: string, params: unknown): Promise<unknown>;
}

export interface PluginState {
  name: string;
  state: 'created' | 'starting' | 'started' | 'failed' | 'stopped';
}

export interface ServedMethod {
  plugin: string;
  protocol: string;
  method: string;
  /** The method's params schema, the one the RPC server validates with. */
  params: z.ZodType;
}

export interface NodeInfo {
  readonly name: string;
  readonly peerId: string;
  /** Hex of the node's Ed25519 public key (64 chars). */
  readonly publicKeyHex: string;
  /** Multiaddrs of the explorer(s) from `node.explorer`, in the configured order; empty when none. */
  readonly explorers: readonly string[];
  /** This node's own multiaddrs with `/p2p/<peer id>`, as listening at start (what other nodes dial). */
  readonly listen?: readonly string[];
}

/** What `PeerDialer.explorer` gives: calls, and `close` when done. */
export interface ExplorerClient extends RpcCaller {
  close(): Promise<void>;
}

/** RPC clients over the node's own libp2p host; mutating calls are signed with the node's key. */
export interface PeerDialer {
  /** A client for the node at `target` (a multiaddr ending in /p2p/<id>). The caller closes it. */
  connect(target: string, options?: { timeoutMs?: number }): Promise<RpcClient>;
  /**
   * A client for the explorers (`node.explorer`): connected to the first that answers, tried in
   * order. A call refused with ERR_NOT_MASTER goes on to the master the error names, and one whose
   * explorer stopped answering to the next, for up to 5 s more (or `timeoutMs`, if shorter), each
   * attempt signed afresh for the explorer it goes to. ERR_CONFIG_INVALID when none is configured,
   * ERR_CONNECT when none answers. The caller closes it.
   */
  explorer(options?: { timeoutMs?: number }): Promise<ExplorerClient>;
}

/** Identity helper so plugin files get type inference without importing zod types themselves. */
export function definePlugin<C>(def: PluginDefinition<C>): PluginDefinition<C> {
  return def;
}
