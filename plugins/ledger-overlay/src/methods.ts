import { randomUUID } from 'node:crypto';
import { PlexusError, defineMethod, z, type LeaseRequest, type LeaseResult, type RpcMethods } from '@plexus/core';

/** `/plexus/ledger-overlay/1` (a plugin serves under its own name): served by a host's `ledger-overlay`, called by `plexus lease`. */
export { LEASE_PROTOCOL } from './protocol.js';

/** Longest lease one request asks for (a year); the host may allow less (`hosting.maxLeaseSeconds`). */
export const MAX_REQUEST_SECONDS = 365 * 24 * 3600;
/** Largest tenant config, as JSON. */
export const MAX_CONFIG_BYTES = 64 * 1024;

const leaseId = z.string().regex(/^[a-z0-9-]{1,64}$/, 'expected a lease id as printed by lease acquire');
const duration = z.number().int().min(1).max(MAX_REQUEST_SECONDS);

/** The methods, forwarding to the host's handler (`undefined`: no host yet, ERR_UNAVAILABLE). */
export function leaseMethods(handler: () => ((r: LeaseRequest) => Promise<LeaseResult>) | undefined): RpcMethods {
  const forward = async (request: LeaseRequest): Promise<LeaseResult | Omit<Extract<LeaseResult, { kind: 'acquire' }>, 'details'>> => {
    const h = handler();
    if (h === undefined) throw new PlexusError('ERR_UNAVAILABLE', 'this node takes no leases (no hosting plugin serves the ledger)');
    const result = await h(request);
    if (result.kind !== 'acquire') return result;
    // The details go back only sealed to the tenant: the clear copy is for sources that seal themselves.
    const { details: _clear, ...sealed } = result;
    return sealed;
  };
  const tenantOf = (signer: string | undefined): string => {
    if (signer === undefined) throw new PlexusError('ERR_AUTH_REQUIRED', 'lease requests must be signed by the tenant');
    return signer;
  };
  return {
    lease_acquire: defineMethod({
      mutating: true,
      params: z.strictObject({
        image: z.string().min(1).max(256).regex(/^[a-z0-9][a-z0-9._/:@-]*$/, 'expected an image reference such as evernode/sashimono:hp.latest'),
        config: z
          .record(z.string(), z.unknown())
          .default(() => ({}))
          .refine((c) => JSON.stringify(c).length <= MAX_CONFIG_BYTES, `the config is larger than ${MAX_CONFIG_BYTES} bytes of JSON`),
        contract_id: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).optional(),
        duration_seconds: duration,
      }),
      handler: (p, call) =>
        forward({
          kind: 'acquire',
          tenant: tenantOf(call.signer),
          image: p.image,
          config: p.config,
          ...(p.contract_id === undefined ? {} : { contractId: p.contract_id }),
          durationSeconds: p.duration_seconds,
          requestId: randomUUID(),
        }),
    }),
    lease_extend: defineMethod({
      mutating: true,
      params: z.strictObject({ lease_id: leaseId, duration_seconds: duration }),
      handler: (p, call) => forward({ kind: 'extend', tenant: tenantOf(call.signer), leaseId: p.lease_id, durationSeconds: p.duration_seconds, requestId: randomUUID() }),
    }),
    lease_terminate: defineMethod({
      mutating: true,
      params: z.strictObject({ lease_id: leaseId }),
      handler: (p, call) => forward({ kind: 'terminate', tenant: tenantOf(call.signer), leaseId: p.lease_id, requestId: randomUUID() }),
    }),
  };
}
