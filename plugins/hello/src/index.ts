import { definePlugin, type CapabilityMap, type PluginContext, type PluginInstance, type StoreCapability } from '@plexus/core';
import { HelloConfigSchema, type HelloConfig } from './config.js';
import { GREETINGS_KEY, HELLO_PROTOCOL, helloMethods } from './methods.js';

export { HelloConfigSchema, HELLO_DEFAULTS, type HelloConfig } from './config.js';
export { HELLO_PROTOCOL, GREETINGS_KEY, helloMethods, type GreetResult } from './methods.js';
export { HELLO_ERRORS } from './errors.js';

/**
 * What `hello` offers other plugins: a plugin that lists `hello` in `requires` gets this from
 * `ctx.capability('hello')`. Read-only, like the core's own capability contracts.
 */
export interface HelloCapability {
  /** The configured greeting (`plugins.hello.greeting`). */
  readonly greeting: string;
  /** Greetings signed by `signer` (64 hex public key) on this node's store; 0 if none. */
  greetingsBy(signer: string): Promise<number>;
}

// Adds `hello` to the core's capability map, so `ctx.capability('hello')` is typed without a cast
// wherever this package's types are loaded, and `capabilities()` below may supply it.
declare module '@plexus/core' {
  interface CapabilityMap {
    hello: HelloCapability;
  }
}

interface Running {
  redis: StoreCapability['redis'];
  hello: HelloCapability;
}

/** The running hello plugin: serves `greet` on `/plexus/hello/1`; `hello` for other plugins. */
export class HelloService implements PluginInstance {
  // Everything start() acquired, or undefined: one field, so "started?" has one answer.
  private running: Running | undefined;

  /** Keeps the context only: the core builds every instance before starting any (no I/O here). */
  constructor(private readonly ctx: PluginContext<HelloConfig>) {}

  async start(): Promise<void> {
    if (this.running !== undefined) return;
    // Typed by CapabilityMap: StoreCapability, no cast. The core started `store` before us.
    const { redis } = this.ctx.capability('store');
    await this.ctx.rpc.serve(HELLO_PROTOCOL, helloMethods(redis, this.ctx.config));
    // Recorded only once serving succeeded: after a failed start, stop() has nothing to undo.
    this.running = {
      redis,
      hello: {
        greeting: this.ctx.config.greeting,
        greetingsBy: async (signer) => Number((await redis.hget(GREETINGS_KEY, signer)) ?? 0),
      },
    };
    this.ctx.log.info({ protocol: HELLO_PROTOCOL, blocked: this.ctx.config.blocked.length }, 'hello serving');
  }

  async stop(): Promise<void> {
    if (this.running === undefined) return;
    // Cleared first: a second stop() running concurrently finds nothing left to do.
    this.running = undefined;
    // The store's connection belongs to the store plugin, which the core stops after us.
    await this.ctx.rpc.unserve(HELLO_PROTOCOL);
  }

  capabilities(): Partial<CapabilityMap> {
    return this.running === undefined ? {} : { hello: this.running.hello };
  }

  async status(): Promise<Record<string, unknown>> {
    if (this.running === undefined) return { serving: false };
    return { serving: true, protocol: HELLO_PROTOCOL, greeting: this.ctx.config.greeting, greeters: await this.running.redis.hlen(GREETINGS_KEY) };
  }
}

/** The hello plugin: the example of docs/writing-a-plugin.md. Plain data plus a factory. */
export const plugin = definePlugin<HelloConfig>({
  name: 'hello',
  version: '0.1.0',
  description: 'example plugin: a signed greeting counted per key in the store',
  provides: ['hello'],
  requires: ['store'],
  configSchema: HelloConfigSchema,
  create: (ctx) => new HelloService(ctx),
});

export default plugin;
