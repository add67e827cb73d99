import { definePlugin, z, type CapabilityMap, type LeaseRequest, type LeaseResult, type PluginContext, type PluginInstance } from '@plexus/core';
import { LEASE_PROTOCOL, leaseMethods } from './methods.js';

export { LEASE_PROTOCOL, MAX_CONFIG_BYTES, MAX_REQUEST_SECONDS, leaseMethods } from './methods.js';

/** `plugins.ledger-overlay`: nothing to configure (payment is out of scope for this source). */
export const LedgerOverlayConfigSchema = z.strictObject({});
export type LedgerOverlayConfig = z.output<typeof LedgerOverlayConfigSchema>;

/**
 * The embedded lease source: tenants call `lease_acquire`, `lease_extend` and `lease_terminate`
 * on the host over libp2p, each signed by the tenant's key (the core checks signature, freshness
 * and replay before the request reaches the host). The signer is the tenant.
 */
export class LedgerOverlay implements PluginInstance {
  private handler: ((r: LeaseRequest) => Promise<LeaseResult>) | undefined;
  private served = false;
  private readonly counts = { acquire: 0, extend: 0, terminate: 0 };

  constructor(private readonly ctx: PluginContext<LedgerOverlayConfig>) {}

  async start(): Promise<void> {
    if (this.served) return;
    await this.ctx.rpc.serve(LEASE_PROTOCOL, leaseMethods(() => this.handler));
    this.served = true;
  }

  async stop(): Promise<void> {
    if (!this.served) return;
    this.served = false;
    await this.ctx.rpc.unserve(LEASE_PROTOCOL);
  }

  capabilities(): Partial<CapabilityMap> {
    return {
      ledger: {
        source: 'overlay',
        serve: (handler) => {
          this.handler = async (r) => {
            this.counts[r.kind]++;
            return handler(r);
          };
        },
      },
    };
  }

  async status(): Promise<Record<string, unknown>> {
    return { source: 'overlay', protocol: LEASE_PROTOCOL, hostAttached: this.handler !== undefined, requests: { ...this.counts } };
  }
}

export const plugin = definePlugin<LedgerOverlayConfig>({
  name: 'ledger-overlay',
  version: '0.1.0',
  description: 'lease source over the overlay: signed lease_acquire/extend/terminate RPCs from tenants',
  provides: ['ledger'],
  requires: [],
  configSchema: LedgerOverlayConfigSchema,
  create: (ctx) => new LedgerOverlay(ctx),
});

export default plugin;
