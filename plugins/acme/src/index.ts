import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as acme from 'acme-client';
import { PlexusError, definePlugin, masterOnly, type PluginContext, type PluginInstance } from '@plexus/core';
import { Challenges } from './challenges.js';
import { AcmeConfigSchema, type AcmeConfig } from './config.js';
import { ensureDir, readOptional, writeSecretFile } from './files.js';
import { Issuer, trustAcmeServer } from './issuer.js';
import { ACME_PROTOCOL, acmeMethods, sweepRequests } from './methods.js';
import { Renewer } from './renewer.js';

export { AcmeConfigSchema, ACME_DEFAULTS, CHALLENGES, certId, isCertName, type AcmeConfig, type ChallengeType } from './config.js';
export { ACME_ERRORS } from './errors.js';
export { ACME_PROTOCOL, csrNames, type CertIssueResult } from './methods.js';
export { nextAttemptAt, renewalDueAt, type CertDates, type ScheduleConfig } from './schedule.js';
export { dnsChallengeName } from './challenges.js';
export type { CertificateView } from './renewer.js';

interface Running {
  renewer: Renewer;
  serving: boolean;
}

/** The running plugin: renews the configured certificates and, with `serveIssue`, serves `cert_issue`. */
export class AcmeService implements PluginInstance {
  private running: Running | undefined;

  constructor(private readonly ctx: PluginContext<AcmeConfig>) {}

  async start(): Promise<void> {
    if (this.running !== undefined) return;
    const { ctx } = this;
    const cfg = ctx.config;
    const caPath = cfg.caCertFile === undefined ? undefined : resolve(ctx.configDir, cfg.caCertFile);
    trustAcmeServer(caPath === undefined ? undefined : await readFile(caPath, 'utf8'));
    await ensureDir(ctx.dataDir);
    const accountKey = await this.accountKey();
    const gateway = ctx.optionalCapability('gateway');
    const store = ctx.optionalCapability('store');
    if (cfg.serveIssue && gateway === undefined) {
      throw new PlexusError('ERR_CONFIG_INVALID', 'plugins.acme.serveIssue needs the gateway plugin on this node (it checks who owns the names)');
    }
    const challenges = new Challenges({
      config: cfg,
      log: ctx.log,
      gateway,
      store,
      nodeKey: ctx.node.publicKeyHex,
      remoteGateway: () => (cfg.gateway === undefined ? ctx.peers.explorer({ timeoutMs: 10_000 }) : ctx.peers.connect(cfg.gateway, { timeoutMs: 10_000 })),
    });
    const issuer = new Issuer(cfg.directory, join(ctx.dataDir, 'account.json'), accountKey, cfg.email, challenges, ctx.log);
    await sweepRequests(ctx.dataDir, issuer, ctx.log);
    const renewer = new Renewer(cfg, ctx.dataDir, issuer, ctx.node.publicKeyHex, ctx.log);
    if (cfg.serveIssue) {
      // cert_issue writes challenge records into the store: in a sentinel group only the master
      // takes it (a standby answers ERR_NOT_MASTER naming the master), like the gateway's writes.
      const methods = acmeMethods({ issuer, gateway: () => gateway!, dataDir: ctx.dataDir, log: ctx.log });
      await ctx.rpc.serve(ACME_PROTOCOL, store === undefined ? methods : masterOnly(methods, store));
    }
    await renewer.start();
    this.running = { renewer, serving: cfg.serveIssue };
    ctx.log.info({ directory: cfg.directory, certificates: cfg.certificates.length, serveIssue: cfg.serveIssue }, 'acme: started');
  }

  async stop(): Promise<void> {
    const r = this.running;
    if (r === undefined) return;
    this.running = undefined;
    r.renewer.stop();
    if (r.serving) await this.ctx.rpc.unserve(ACME_PROTOCOL);
  }

  async status(): Promise<Record<string, unknown>> {
    if (this.running === undefined) return { running: false };
    return { directory: this.ctx.config.directory, serveIssue: this.running.serving, certificates: this.running.renewer.list() };
  }

  adminActions(): Record<string, (params: unknown) => Promise<unknown>> {
    return {
      list: async () => ({ certificates: this.renewer().list() }),
      renew: async (params) => {
        const name = (params as { name?: unknown } | undefined)?.name;
        if (typeof name !== 'string') throw new PlexusError('ERR_PARAMS_INVALID', 'renew needs { name }');
        return this.renewer().renewNow(name.toLowerCase());
      },
    };
  }

  private renewer(): Renewer {
    if (this.running === undefined) throw new PlexusError('ERR_UNAVAILABLE', 'the acme plugin is not running');
    return this.running.renewer;
  }

  /** The ACME account key, made on first start (ECDSA P-256, 0600); the CA knows the account by it. */
  private async accountKey(): Promise<string> {
    const path = join(this.ctx.dataDir, 'account.key');
    const existing = await readOptional(path);
    if (existing !== undefined) return existing;
    const key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    await writeSecretFile(path, key);
    return key;
  }
}

/**
 * TLS certificates from an ACME CA through acme-client: DNS-01 through the gateway and plexus's own
 * DNS (wildcards, NATed machines), HTTP-01 through the routers; renewal with backoff and a hook.
 */
export const plugin = definePlugin<AcmeConfig>({
  name: 'acme',
  version: '0.1.0',
  description: 'TLS certificates over ACME: DNS-01 through the gateway and plexus DNS, HTTP-01 through the routers, renewal with hooks',
  provides: [],
  requires: [],
  uses: ['store', 'gateway'],
  configSchema: AcmeConfigSchema,
  create: (ctx) => new AcmeService(ctx),
});

export default plugin;
