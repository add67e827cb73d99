import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlexusError } from '../errors.js';
import type { CapabilityMap, CapabilityName } from '../capabilities.js';
import { type Logger, silentLogger } from '../logger.js';
import type { NodeInfo, NodeInspector, PeerDialer, PluginContext, PluginDefinition, PluginInstance } from '../plugin.js';
import { parseParams, type RpcCall, type RpcMethods, type RpcRegistrar } from '../rpc/types.js';
import { NodeMetrics } from '../metrics.js';

/** What a test may set on a fake context; everything else gets a harmless default. */
export interface FakeContextOptions {
  /** Default: the plugin's name. */
  name?: string;
  /** Default: a new temp dir (the test removes it, or the OS does). */
  dataDir?: string;
  /** Default: `dataDir`. */
  configDir?: string;
  /** Default: a silent logger. */
  log?: Logger;
  node?: Partial<NodeInfo>;
  /** Capabilities handed to `ctx.capability()`; asking for another one throws like the core does. */
  capabilities?: Partial<CapabilityMap>;
  /** Default: a dialer that refuses (no network in a unit test). */
  peers?: PeerDialer;
  /** Also serve the plugin's methods here (e.g. a real `RpcServer`), besides recording them. */
  rpc?: RpcRegistrar;
  /**
   * The registry `ctx.metrics` creates metrics in; pass one to several fake contexts to render
   * them together. Default: a new one without process metrics.
   */
  metrics?: NodeMetrics;
  /** What `ctx.inspect` answers. Default: this plugin's own metrics and served read methods, no status. */
  inspect?: NodeInspector;
}

/** A plugin context for unit tests, plus what the plugin did with it. */
export interface FakeContext<C> extends PluginContext<C> {
  /** Protocols the plugin serves through `ctx.rpc`, with their methods. */
  readonly served: Map<string, RpcMethods>;
  /**
   * Calls a served method as the RPC server would after the envelope checks: params validated
   * (ERR_PARAMS_INVALID naming the field), then the handler with `signer` as the verified key.
   */
  call<T = unknown>(protocol: string, method: string, params: unknown, options?: { signer?: string; peer?: string }): Promise<T>;
  /** Reasons passed to `requestShutdown`, in order (a fake context never stops anything). */
  readonly shutdownRequests: string[];
}

/**
 * The context the core would hand `definition.create`, for tests: the config block is validated
 * with the plugin's own schema (defaults applied), capabilities are what the test passes.
 */
export function fakeContext<C>(definition: PluginDefinition<C>, rawConfig: unknown, options: FakeContextOptions = {}): FakeContext<C> {
  const name = options.name ?? definition.name;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), `plexus-${name}-`));
  const served = new Map<string, RpcMethods>();
  const shutdownRequests: string[] = [];
  const log = options.log ?? silentLogger();
  const metrics = options.metrics ?? new NodeMetrics({ processMetrics: false });
  const refuse = (): Promise<never> => Promise.reject(new PlexusError('ERR_CONNECT', 'a fake context has no network; pass options.peers'));
  return {
    name,
    config: parseConfigBlock(definition, rawConfig),
    dataDir,
    configDir: options.configDir ?? dataDir,
    log,
    node: { name: 'test-node', peerId: '12D3KooWTestNode', publicKeyHex: '00'.repeat(32), explorers: [], ...options.node },
    rpc: {
      async serve(protocol, methods) {
        if (served.has(protocol)) throw new PlexusError('ERR_INTERNAL', `${protocol} is served twice`);
        served.set(protocol, methods);
        await options.rpc?.serve(protocol, methods);
      },
      async unserve(protocol) {
        served.delete(protocol);
        await options.rpc?.unserve(protocol);
      },
    },
    peers: options.peers ?? { connect: refuse, explorer: refuse },
    metrics: metrics.forPlugin(name),
    inspect: options.inspect ?? servedInspector(served, metrics, log),
    shutdownRequests,
    requestShutdown(reason: string) {
      shutdownRequests.push(reason);
    },
    capability<K extends CapabilityName>(cap: K): CapabilityMap[K] {
      if (!definition.requires.includes(cap)) throw new PlexusError('ERR_INTERNAL', `plugin '${name}' asked for '${cap}' without declaring it in requires`);
      const value = options.capabilities?.[cap];
      if (value === undefined) throw new PlexusError('ERR_INTERNAL', `capability '${cap}' is not available in this test (pass options.capabilities)`);
      return value as CapabilityMap[K];
    },
    optionalCapability<K extends CapabilityName>(cap: K): CapabilityMap[K] | undefined {
      if (!(definition.uses ?? []).includes(cap)) throw new PlexusError('ERR_INTERNAL', `plugin '${name}' asked for optional '${cap}' without declaring it in uses`);
      return options.capabilities?.[cap] as CapabilityMap[K] | undefined;
    },
    served,
    async call<T>(protocol: string, method: string, params: unknown, opts: { signer?: string; peer?: string } = {}): Promise<T> {
      const m = served.get(protocol)?.[method];
      if (m === undefined) throw new PlexusError('ERR_METHOD_UNKNOWN', `unknown method '${method}' on ${protocol}`);
      if (m.mutating && opts.signer === undefined) throw new PlexusError('ERR_AUTH_REQUIRED', `${method} must be signed (pass options.signer)`);
      const call: RpcCall = { peer: opts.peer ?? '12D3KooWTestPeer', signer: m.mutating ? opts.signer : undefined, method, log };
      return (await m.handler(parseParams(m, params ?? {}), call)) as T;
    },
  };
}

/** Creates the plugin on a fake context and starts it; `stop` is registered with `after`. */
export async function startPlugin<C>(
  definition: PluginDefinition<C>,
  rawConfig: unknown,
  options: FakeContextOptions & { after?: (fn: () => Promise<void>) => void } = {},
): Promise<{ ctx: FakeContext<C>; instance: PluginInstance }> {
  const ctx = fakeContext(definition, rawConfig, options);
  const instance = definition.create(ctx);
  options.after?.(() => instance.stop());
  await instance.start();
  return { ctx, instance };
}

/** A config block validated like the core does; a failure names every bad key. */
function parseConfigBlock<C>(definition: PluginDefinition<C>, raw: unknown): C {
  const parsed = definition.configSchema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `plugins.${definition.name}.${i.path.join('.')}: ${i.message}`);
  throw new Error(`invalid test config:\n  ${issues.join('\n  ')}`);
}

/**
 * An inspector over the methods recorded in `served` (one fake context's, or several merged by a
 * test) and a metrics registry: what a test of a plugin that reads the node (the api) needs.
 */
export function servedInspector(served: ReadonlyMap<string, RpcMethods>, metrics: NodeMetrics, log: Logger = silentLogger(), status: () => Promise<Record<string, unknown>> = async () => ({})): NodeInspector {
  return {
    status,
    plugins: () => [],
    metrics: () => metrics.render(),
    readMethods: () =>
      [...served].flatMap(([protocol, methods]) =>
        Object.entries(methods)
          .filter(([, m]) => !m.mutating)
          .map(([method, m]) => ({ plugin: protocol.split('/')[2] ?? protocol, protocol, method, params: m.params })),
      ),
    async callRead(protocol, method, params) {
      const m = served.get(protocol)?.[method];
      if (m === undefined) throw new PlexusError('ERR_METHOD_UNKNOWN', `unknown method '${method}' on ${protocol}`);
      if (m.mutating) throw new PlexusError('ERR_FORBIDDEN', `${method} changes data: only a signed RPC call may run it`);
      return m.handler(parseParams(m, params ?? {}), { peer: 'local', signer: undefined, method, log });
    },
  };
}
