import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PlexusError, definePlugin, parseHostPort, type PluginContext, type PluginInstance } from '@plexus/core';
import { TunnelConfigSchema, type TunnelConfig } from './config.js';
import { TUNNEL_ERRORS } from './errors.js';
import { TunnelLink } from './link.js';

export { TunnelConfigSchema, TUNNEL_DEFAULTS, type TunnelConfig } from './config.js';
export { TUNNEL_ERRORS } from './errors.js';
export { TunnelLink, type LinkState } from './link.js';

/**
 * The tunnel client: one yamux session to each configured router, all kept up at once, each
 * redialled with capped backoff when it ends; the connections the routers relay for this secret
 * go to the local services.
 */
export class TunnelService implements PluginInstance {
  private links: TunnelLink[] = [];

  /** Keeps the context only: the core builds every instance before starting any (no I/O here). */
  constructor(private readonly ctx: PluginContext<TunnelConfig>) {}

  async start(): Promise<void> {
    const cfg = this.ctx.config;
    const secret = await this.secret(cfg);
    const local = parseHostPort(cfg.local, false)!;
    const localTls = cfg.localTls === undefined ? undefined : parseHostPort(cfg.localTls, false)!;
    this.links = cfg.remotes.map((r) => new TunnelLink(parseHostPort(r, false)!, secret, { local, localTls }, cfg, this.ctx.log.child({ router: r })));
    for (const l of this.links) l.start();
    this.ctx.log.info({ routers: cfg.remotes, local: cfg.local, localTls: cfg.localTls ?? cfg.local }, 'tunnel client dialling its routers');
  }

  async stop(): Promise<void> {
    for (const l of this.links) l.stop();
    this.links = [];
  }

  async status(): Promise<Record<string, unknown>> {
    const cfg = this.ctx.config;
    const remotes = this.links.map((l) => l.status());
    return { local: cfg.local, localTls: cfg.localTls ?? cfg.local, up: this.links.filter((l) => l.state === 'up').length, remotes };
  }

  /** secret, else secretFile (relative to the config file), else $PLEXUS_TUNNEL_SECRET. */
  private async secret(cfg: TunnelConfig): Promise<Buffer> {
    if (cfg.secret !== undefined) return Buffer.from(cfg.secret, 'utf8');
    if (cfg.secretFile !== undefined) {
      const file = resolve(this.ctx.configDir, cfg.secretFile);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new PlexusError(TUNNEL_ERRORS.ERR_TUNNEL_SECRET, `plugins.tunnel.secretFile ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
      const s = text.replace(/\r?\n$/, '');
      if (s === '') throw new PlexusError(TUNNEL_ERRORS.ERR_TUNNEL_SECRET, `plugins.tunnel.secretFile ${file} is empty`);
      return Buffer.from(s, 'utf8');
    }
    const env = process.env.PLEXUS_TUNNEL_SECRET;
    if (env) return Buffer.from(env, 'utf8');
    throw new PlexusError(TUNNEL_ERRORS.ERR_TUNNEL_SECRET, 'no tunnel secret: plugins.tunnel.secret, secretFile or $PLEXUS_TUNNEL_SECRET');
  }
}

/** The `trc` equivalent: serves names exposed with a client secret from local services, through the routers. */
export const plugin = definePlugin<TunnelConfig>({
  name: 'tunnel',
  version: '0.1.0',
  description: 'tunnel client: yamux sessions to the routers\' clients ports, connections relayed to local services',
  provides: [],
  requires: [],
  configSchema: TunnelConfigSchema,
  create: (ctx) => new TunnelService(ctx),
});

export default plugin;
