import type { z } from 'zod';
import type { Logger } from './logger.js';
import type { RpcRegistrar } from './rpc/types.js';

/**
 * What a plugin is: plain data plus a factory. The core reads `provides`/`requires` to order
 * start-up and validates the plugin's config block with `configSchema` before anything starts.
 */
export interface PluginDefinition<C = unknown> {
  /** Name used under `plugins:` in the config and in `/plexus/<name>/<major>` protocols. */
  readonly name: string;
  readonly version: string;
  /** One line for `plexus plugins` and error messages. */
  readonly description: string;
  /** Capabilities this plugin offers to others (e.g. `store`). */
  readonly provides: readonly string[];
  /** Capabilities that must be provided by another configured plugin. */
  readonly requires: readonly string[];
  /** Strict schema of the plugin's config block, with its defaults. */
  readonly configSchema: z.ZodType<C>;
  /** Builds the instance. Must do no I/O: sockets, files and children are opened in `start`. */
  create(ctx: PluginContext<C>): PluginInstance;
}

export interface PluginInstance {
  /** Opens sockets/children. Called once; a second call must be a no-op. */
  start(): Promise<void>;
  /** Releases everything; safe after a partial or failed start, safe to call twice. */
  stop(): Promise<void>;
  /** The object behind a capability named in `provides`; called only after `start` resolved. */
  capability?(name: string): unknown;
  /** What `plexus status` shows for this plugin (JSON-serialisable). */
  status?(): Promise<Record<string, unknown>>;
}

/** The narrow set of core services a plugin sees. Tests hand a plugin exactly these. */
export interface PluginContext<C = unknown> {
  readonly name: string;
  readonly config: C;
  /** `<node.dataDir>/<plugin name>`, created before `start`. */
  readonly dataDir: string;
  /** Directory of the config file, for resolving relative paths in the block. */
  readonly configDir: string;
  readonly log: Logger;
  readonly node: NodeInfo;
  readonly rpc: RpcRegistrar;
  /** The started provider of a capability this plugin `requires`. Throws for anything else. */
  capability<T>(name: string): T;
}

export interface NodeInfo {
  readonly name: string;
  readonly peerId: string;
  /** Hex of the node's Ed25519 public key (64 chars). */
  readonly publicKeyHex: string;
}

/** Identity helper so plugin files get type inference without importing zod types themselves. */
export function definePlugin<C>(def: PluginDefinition<C>): PluginDefinition<C> {
  return def;
}
