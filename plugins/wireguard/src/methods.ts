import { PlexusError, defineMethod, phonebookNameSchema, protocolId, z, type RpcMethods } from '@plexus/core';
import { endpointSchema, networkNameSchema } from './config.js';
import { wgKeySchema } from './records.js';
import type { Registry } from './registry.js';

/** `/plexus/wireguard/1`: members talk to the registry (explorer) on it. */
export const WIREGUARD_PROTOCOL = protocolId('wireguard', 1);

/** Longest a `members` long poll waits for a change. */
export const MAX_WAIT_MS = 20_000;

function signerOf(signer: string | undefined, method: string): string {
  if (signer === undefined) throw new PlexusError('ERR_AUTH_REQUIRED', `${method} must be signed`);
  return signer;
}

/**
 * The registry's methods. All are signed: the signer's node key is the member's identity (the
 * allocation is keyed by it), and `members` is answered to members only.
 */
export function registryMethods(registry: Registry): RpcMethods {
  return {
    join: defineMethod({
      mutating: true,
      params: z.strictObject({ network: networkNameSchema, name: phonebookNameSchema, key: wgKeySchema, endpoint: endpointSchema.optional(), listenPort: z.number().int().min(1).max(65535) }),
      handler: (p, call) => registry.join(p.network, signerOf(call.signer, 'join'), { name: p.name, key: p.key, endpoint: p.endpoint, listenPort: p.listenPort }),
    }),
    leave: defineMethod({
      mutating: true,
      params: z.strictObject({ network: networkNameSchema }),
      handler: (p, call) => registry.remove(p.network, signerOf(call.signer, 'leave'), false),
    }),
    rotate: defineMethod({
      mutating: true,
      params: z.strictObject({ network: networkNameSchema, key: wgKeySchema }),
      handler: (p, call) => registry.rotate(p.network, signerOf(call.signer, 'rotate'), p.key),
    }),
    members: defineMethod({
      mutating: true,
      params: z.strictObject({ network: networkNameSchema, since: z.number().int().min(0).optional(), waitMs: z.number().int().min(0).max(MAX_WAIT_MS).default(0) }),
      handler: (p, call) => registry.members(p.network, signerOf(call.signer, 'members'), p.since, p.waitMs, call.idle),
    }),
  };
}
