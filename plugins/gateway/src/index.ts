import { definePlugin, type CapabilityMap, type PluginContext, type PluginInstance } from '@plexus/core';
import { seedApexRecords } from './apex.js';
import { GatewayConfigSchema, type GatewayConfig } from './config.js';
import { Gateway } from './gateway.js';
import { GATEWAY_PROTOCOL, gatewayMethods } from './methods.js';
import { GatewayStore } from './store.js';

export { GatewayConfigSchema, type GatewayConfig } from './config.js';
export { Gateway, type ListedEntry, type RegisterResult } from './gateway.js';
export { GATEWAY_PROTOCOL, gatewayMethods } from './methods.js';
export { GatewayStore, planOf, type Target, type Change, type Step, type WritePlan } from './store.js';
export { resolveTarget, resolveFqdn, placesOf, ownerCandidates } from './domains.js';
export { place, type Placement, type Guard } from './placement.js';
export { addRecords } from './cname.js';
export { GATEWAY_ERRORS } from './errors.js';
export { seedApexRecords } from './apex.js';

/** The running gateway: serves `/plexus/gateway/1`; `gateway` tells other plugins what it manages. */
export class GatewayService implements PluginInstance {
  private gateway: Gateway | undefined;

  constructor(private readonly ctx: PluginContext<GatewayConfig>) {}

  async start(): Promise<void> {
    if (this.gateway !== undefined) return;
    const { ctx } = this;
    const store = ctx.capability('store');
    // A replica would refuse every write with READONLY; say so at start instead of per call. A
    // standby of a sentinel group is different: it takes changes once promoted.
    if (store.role !== 'master' && store.writable === undefined) ctx.log.warn({ role: store.role }, 'gateway runs on a replica store: every registration will fail');
    const gateway = new Gateway(new GatewayStore(store.redis, ctx.config), ctx.capability('phonebook'), ctx.config);
    if (store.role === 'master') {
      try {
        const seeded = await seedApexRecords(store.redis, ctx.config);
        if (seeded > 0) ctx.log.info({ zones: ctx.config.zones, publicIps: ctx.config.publicIps, seeded }, 'zones without an apex now point at this gateway');
      } catch (err) {
        // Seeding is a convenience for fresh zones; it must not keep the gateway from serving.
        ctx.log.warn({ err }, 'could not give the zones without an apex the publicIps');
      }
    }
    await ctx.rpc.serve(GATEWAY_PROTOCOL, gatewayMethods(gateway, store));
    this.gateway = gateway;
    ctx.log.info({ protocol: GATEWAY_PROTOCOL, zones: ctx.config.zones, threebotDomain: ctx.config.threebotDomain, ...(await gateway.counts()) }, 'gateway serving');
  }

  async stop(): Promise<void> {
    if (this.gateway === undefined) return;
    this.gateway = undefined;
    await this.ctx.rpc.unserve(GATEWAY_PROTOCOL);
  }

  capabilities(): Partial<CapabilityMap> {
    const { zones, threebotDomain, publicIps } = this.ctx.config;
    const g = this.gateway;
    if (g === undefined) return {};
    return { gateway: { zones, threebotDomain, publicIps, authorizeSigner: (signer, fqdn) => g.authorizeSigner(signer, fqdn), txtFor: (signer, fqdn, op, text) => g.txtFor(signer, fqdn, op, text) } };
  }

  async status(): Promise<Record<string, unknown>> {
    const counts = this.gateway === undefined ? {} : await this.gateway.counts();
    return { zones: this.ctx.config.zones, threebotDomain: this.ctx.config.threebotDomain, publicIps: this.ctx.config.publicIps, ...counts };
  }
}

/**
 * The gateway: owner-signed DNS records and tcprouter routes for phonebook names, written to the
 * store in the formats CoreDNS's redis plugin and ThreeFold's tcprouter read (COMPAT §1, §2, §4).
 */
export const plugin = definePlugin<GatewayConfig>({
  name: 'gateway',
  version: '0.1.0',
  description: 'gateway registrations: DNS records (CoreDNS redis format) and tcprouter services, owner-signed',
  provides: ['gateway'],
  requires: ['store', 'phonebook'],
  configSchema: GatewayConfigSchema,
  create: (ctx) => new GatewayService(ctx),
});

export default plugin;
