import { definePlugin, type PhonebookCapability, type StoreCapability } from '@plexus/core';
import { GatewayConfigSchema, type GatewayConfig } from './config.js';
import { Gateway } from './gateway.js';
import { gatewayMethods } from './methods.js';
import { GatewayStore } from './store.js';
import { seedApexRecords } from './apex.js';

export { GatewayConfigSchema, type GatewayConfig } from './config.js';
export { Gateway, type ListedEntry, type RegisterResult } from './gateway.js';
export { gatewayMethods } from './methods.js';
export { GatewayStore, type Target, type Change } from './store.js';
export { resolveTarget, resolveFqdn, placesOf, ownerCandidates } from './domains.js';
export const GATEWAY_PROTOCOL = '/plexus/gateway/1';

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
  create(ctx) {
    let gateway: Gateway | undefined;
    let protocol: string | undefined;
    return {
      async start() {
        if (gateway !== undefined) return;
        const store = ctx.capability<StoreCapability>('store');
        const phonebook = ctx.capability<PhonebookCapability>('phonebook');
        // A replica would refuse every write with READONLY; say so at start instead of per call.
        if (store.role !== 'master') ctx.log.warn({ role: store.role }, 'gateway runs on a replica store: every registration will fail');
        gateway = new Gateway(new GatewayStore(store.redis, ctx.config), phonebook, ctx.config);
        if (store.role === 'master') {
          try {
            const seeded = await seedApexRecords(store.redis, ctx.config);
            if (seeded > 0) ctx.log.info({ zones: ctx.config.zones, publicIps: ctx.config.publicIps }, 'zone apex records point at this gateway');
          } catch (err) {
            // A hand-edited apex that is not valid JSON must not keep the gateway from serving.
            ctx.log.warn({ err }, 'could not point the zone apex records at publicIps');
          }
        }
        protocol = await ctx.rpc.serve(gatewayMethods(gateway));
        ctx.log.info({ protocol, zones: ctx.config.zones, threebotDomain: ctx.config.threebotDomain, ...(await gateway.counts()) }, 'gateway serving');
      },
      async stop() {
        if (protocol !== undefined) await ctx.rpc.unserve(protocol);
        gateway = undefined;
        protocol = undefined;
      },
      // Nobody consumes the `gateway` capability yet; it is declared so roles can require it.
      capability() {
        return undefined;
      },
      async status() {
        const counts = gateway === undefined ? {} : await gateway.counts();
        return { zones: ctx.config.zones, threebotDomain: ctx.config.threebotDomain, publicIps: ctx.config.publicIps, ...counts };
      },
    };
  },
});

export default plugin;
