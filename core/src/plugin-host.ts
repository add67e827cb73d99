import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PlexusError } from './errors.js';
import type { Logger } from './logger.js';
import type { CapabilityMap, CapabilityName } from './capabilities.js';
import type { NodeInfo, NodeInspector, PeerDialer, PluginContext, PluginInstance, PluginState } from './plugin.js';
import { NodeMetrics } from './metrics.js';
import type { ConfiguredPlugin } from './config/load.js';
import type { RpcRegistrar } from './rpc/types.js';

interface Running {
  plugin: ConfiguredPlugin;
  instance: PluginInstance;
}

export interface PluginHostServices {
  log: Logger;
  node: NodeInfo;
  dataDir: string;
  configDir: string;
  /** Builds the registrar a plugin serves its RPC methods through. */
  rpcFor(plugin: string, log: Logger): RpcRegistrar;
  /** RPC clients to other nodes, signing with the node's key. */
  peers: PeerDialer;
  /** How long one plugin may take to stop before we move on. Default 15 s. */
  stopTimeoutMs?: number;
  /** What `ctx.requestShutdown` does (the node stops as on SIGTERM). */
  requestShutdown?(reason: string): void;
  /** The node's metrics registry; plugins get `forPlugin(name)`. Default: a registry of their own. */
  metrics?: NodeMetrics;
  /** What `ctx.inspect` answers. Default: this host's plugin states, metrics and status only. */
  inspect?: NodeInspector;
}

/**
 * Runs the configured plugins: all instances are created first (factories do no I/O), then started
 * in dependency order. If one fails to start, those already started are stopped in reverse order
 * and the failure is thrown with the plugin's name and cause.
 */
export class PluginHost {
  private started: Running[] = [];
  private state: 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' = 'idle';
  private readonly states = new Map<string, PluginState['state']>();
  private readonly metrics: NodeMetrics;

  constructor(
    private readonly plugins: ConfiguredPlugin[],
    private readonly services: PluginHostServices,
  ) {
    this.metrics = services.metrics ?? new NodeMetrics({ processMetrics: false });
    for (const p of plugins) this.states.set(p.definition.name, 'created');
  }

  /** Every configured plugin in start order with its lifecycle state (`/readyz` reads it). */
  pluginStates(): PluginState[] {
    return this.plugins.map((p) => ({ name: p.definition.name, state: this.states.get(p.definition.name) ?? 'created' }));
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.state = 'starting';
    const providers = new Map<string, Running>();
    const created: Running[] = this.plugins.map((plugin) => {
      const running: Running = { plugin, instance: undefined as unknown as PluginInstance };
      running.instance = plugin.definition.create(this.contextFor(plugin, providers));
      for (const cap of plugin.definition.provides) providers.set(cap, running);
      return running;
    });
    for (const running of created) {
      const name = running.plugin.definition.name;
      const log = this.services.log;
      try {
        await mkdir(join(this.services.dataDir, name), { recursive: true, mode: 0o700 });
        this.started.push(running);
        this.states.set(name, 'starting');
        await running.instance.start();
        checkProvided(running);
        this.states.set(name, 'started');
        log.info({ plugin: name }, 'plugin started');
      } catch (err) {
        this.states.set(name, 'failed');
        log.error({ plugin: name, err }, 'plugin failed to start; stopping the others');
        await this.stopAll();
        this.state = 'stopped';
        const cause = err instanceof Error ? err.message : String(err);
        throw new PlexusError('ERR_PLUGIN_START', `plugin '${name}' failed to start: ${cause}`, { cause: err, data: { plugin: name } });
      }
    }
    this.state = 'running';
  }

  /** Each running plugin's `status()`; a plugin whose status fails reports its error instead. */
  async status(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const { plugin, instance } of this.started) {
      const name = plugin.definition.name;
      try {
        out[name] = instance.status === undefined ? { running: true } : await instance.status();
      } catch (err) {
        out[name] = { error: err instanceof Error ? err.message : String(err) };
      }
    }
    return out;
  }

  /** Runs an admin action of a running plugin. @throws ERR_NOT_FOUND when there is no such plugin or action. */
  async action(pluginName: string, action: string, params: unknown): Promise<unknown> {
    const running = this.started.find((r) => r.plugin.definition.name === pluginName);
    const fn = running?.instance.adminActions?.()[action];
    if (running === undefined || fn === undefined || !Object.hasOwn(running.instance.adminActions!(), action)) {
      throw new PlexusError('ERR_NOT_FOUND', running === undefined ? `no running plugin '${pluginName}'` : `plugin '${pluginName}' has no action '${action}'`);
    }
    return fn(params);
  }

  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped' || this.state === 'idle') return;
    this.state = 'stopping';
    await this.stopAll();
    this.state = 'stopped';
  }

  /** Stops started plugins in reverse order; one plugin's failure does not keep others running. */
  private async stopAll(): Promise<void> {
    const timeout = this.services.stopTimeoutMs ?? 15_000;
    for (const running of this.started.reverse()) {
      const name = running.plugin.definition.name;
      try {
        if (this.states.get(name) !== 'failed') this.states.set(name, 'stopped');
        await withTimeout(running.instance.stop(), timeout, `plugin '${name}' did not stop within ${timeout} ms`);
        this.services.log.info({ plugin: name }, 'plugin stopped');
      } catch (err) {
        this.services.log.error({ plugin: name, err }, 'plugin failed to stop cleanly');
      }
    }
    this.started = [];
  }

  /** Without a node around it (tests of the host): what the host itself knows, and no RPC. */
  private ownInspector(): NodeInspector {
    return {
      status: async () => ({ plugins: await this.status() }),
      plugins: () => this.pluginStates(),
      metrics: () => this.metrics.render(),
      readMethods: () => [],
      callRead: (protocol, method) => Promise.reject(new PlexusError('ERR_METHOD_UNKNOWN', `unknown method '${method}' on ${protocol}`)),
    };
  }

  private contextFor(plugin: ConfiguredPlugin, providers: Map<string, Running>): PluginContext<unknown> {
    const def = plugin.definition;
    const log = this.services.log.child({ scope: def.name });
    return {
      name: def.name,
      config: plugin.config,
      dataDir: join(this.services.dataDir, def.name),
      configDir: this.services.configDir,
      log,
      node: this.services.node,
      rpc: this.services.rpcFor(def.name, log),
      peers: this.services.peers,
      metrics: this.metrics.forPlugin(def.name),
      inspect: this.services.inspect ?? this.ownInspector(),
      requestShutdown: (reason) => {
        log.info({ reason }, 'plugin asked the node to stop');
        if (this.services.requestShutdown === undefined) log.warn('no shutdown handler: the node keeps running');
        else this.services.requestShutdown(reason);
      },
      capability<K extends CapabilityName>(capability: K): CapabilityMap[K] {
        if (!def.requires.includes(capability)) {
          throw new PlexusError('ERR_INTERNAL', `plugin '${def.name}' asked for '${capability}' without declaring it in requires`);
        }
        const value = providers.get(capability)?.instance.capabilities?.()[capability] as CapabilityMap[K] | undefined;
        if (value === undefined) throw new PlexusError('ERR_INTERNAL', `capability '${capability}' is not available yet`);
        return value;
      },
      optionalCapability<K extends CapabilityName>(capability: K): CapabilityMap[K] | undefined {
        if (!(def.uses ?? []).includes(capability)) {
          throw new PlexusError('ERR_INTERNAL', `plugin '${def.name}' asked for optional '${capability}' without declaring it in uses`);
        }
        return providers.get(capability)?.instance.capabilities?.()[capability] as CapabilityMap[K] | undefined;
      },
    };
  }
}

/** A plugin that `provides` a capability must hand out an object for it once started. */
function checkProvided({ plugin, instance }: Running): void {
  const def = plugin.definition;
  if (def.provides.length === 0) return;
  const supplied = instance.capabilities?.() ?? {};
  const missing = def.provides.filter((c) => (supplied as Record<string, unknown>)[c] === undefined);
  if (missing.length > 0) throw new Error(`it declares provides: [${def.provides.join(', ')}] but capabilities() supplied nothing for ${missing.join(', ')}`);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
