import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { PlexusError, definePlugin, type PluginContext, type PluginInstance } from '@plexus/core';
import { ApiConfigSchema, type ApiConfig } from './config.js';
import { EventHub } from './events.js';
import type { ApiDeps } from './routes.js';
import { buildServer, listenTarget } from './server.js';

export { ApiConfigSchema, API_DEFAULTS, isLoopback, type ApiConfig } from './config.js';
export { API_ERRORS } from './errors.js';
export { ROUTES } from './routes.js';
export { openApiDocument } from './openapi.js';
export { tokenMatches } from './server.js';

const VERSION = '0.1.0';

/** The running api: one fastify server, the event hub over the store, the dashboard's files. */
export class ApiService implements PluginInstance {
  private app: FastifyInstance | undefined;
  private events: EventHub | undefined;
  private address: { host: string; port: number } | undefined;

  constructor(private readonly ctx: PluginContext<ApiConfig>) {}

  async start(): Promise<void> {
    if (this.app !== undefined) return;
    const { config, log } = this.ctx;
    try {
      const token = await this.token();
      const store = this.ctx.optionalCapability('store');
      const gateway = this.ctx.optionalCapability('gateway');
      const dns = this.ctx.optionalCapability('dns');
      const deps: ApiDeps = { config, inspect: this.ctx.inspect, store, gateway, dns };
      if (store !== undefined) {
        const zones = [...new Set([...(gateway?.zones ?? []), ...(dns?.zones ?? [])])];
        this.events = new EventHub({ ...config.events, zones, log });
        await this.events.start(store);
      }
      const app = await buildServer({ deps, events: this.events, metrics: this.ctx.metrics, version: VERSION, token, log });
      this.app = app;
      const target = listenTarget(config.listen);
      await app.listen({ host: target.host, port: target.port }).catch((cause: unknown) => {
        throw new PlexusError('ERR_LISTEN', `api: cannot listen on ${config.listen}: ${(cause as Error).message}`, { cause });
      });
      const bound = app.server.address();
      this.address = typeof bound === 'object' && bound !== null ? { host: bound.address, port: bound.port } : target;
      log.info({ url: this.url(), events: this.events !== undefined, token: token !== undefined }, 'api serving');
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    const { app, events } = this;
    this.app = undefined;
    this.events = undefined;
    this.address = undefined;
    // Event streams first: an open stream would keep close() waiting.
    await events?.stop();
    await app?.close();
  }

  /** Base URL of the server (the dashboard), once started. */
  url(): string | undefined {
    const a = this.address;
    if (a === undefined) return undefined;
    return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/`;
  }

  async status(): Promise<Record<string, unknown>> {
    return { url: this.url(), eventClients: this.events?.clientCount ?? 0, eventsSent: this.events?.sent ?? 0, zoneRecords: this.events?.zoneStats };
  }

  private async token(): Promise<string | undefined> {
    const { token, tokenFile } = this.ctx.config;
    if (tokenFile === undefined) return token;
    const path = isAbsolute(tokenFile) ? tokenFile : join(this.ctx.configDir, tokenFile);
    const text = (await readFile(path, 'utf8').catch((cause: unknown) => {
      throw new PlexusError('ERR_CONFIG_INVALID', `plugins.api.tokenFile: cannot read ${path}: ${(cause as Error).message}`, { cause });
    })).split('\n')[0]!.trim();
    if (text.length < 16) throw new PlexusError('ERR_CONFIG_INVALID', `plugins.api.tokenFile: the token in ${path} is shorter than 16 characters`);
    return text;
  }
}

/** The operator surface: HTTP API with OpenAPI, /metrics, /events, health, and the dashboard. */
export const plugin = definePlugin<ApiConfig>({
  name: 'api',
  version: VERSION,
  description: 'HTTP API with OpenAPI, Prometheus /metrics, live /events and the operator dashboard',
  provides: [],
  requires: [],
  uses: ['store', 'gateway', 'dns'],
  configSchema: ApiConfigSchema,
  create: (ctx) => new ApiService(ctx),
});

export default plugin;
