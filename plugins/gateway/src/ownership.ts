import { PlexusError, type PhonebookCapability, type PhonebookEntry, type RpcCall, verifyNameSignature } from '@plexus/core';

/**
 * Who may change what: the phonebook says which key owns a name, the RPC envelope says which key
 * signed the call. Only the owner's key may change the records of a name (ARCHITECTURE: gateway).
 */

/**
 * The first registered name among `candidates` (highest first: the owner of a name owns every
 * name below it, see domains.ts), or ERR_NOT_FOUND.
 */
export async function findOwner(phonebook: PhonebookCapability, candidates: readonly string[], what: string): Promise<PhonebookEntry> {
  for (const name of candidates) {
    const entry = await phonebook.byName(name);
    if (entry !== undefined) return entry;
  }
  throw new PlexusError('ERR_NOT_FOUND', `no phonebook name owns '${what}' (looked for ${candidates.map((c) => `'${c}'`).join(', ')}); register the name first`, {
    data: { candidates: [...candidates] },
  });
}

/** Throws unless the call was signed by the key registered for `owner`. */
export function requireSigner(owner: PhonebookEntry, call: RpcCall): void {
  // The RPC server only runs mutating handlers for verified envelopes; this guards direct callers.
  if (call.signer === undefined) throw new PlexusError('ERR_AUTH_REQUIRED', 'changes to gateway records must be signed');
  if (call.signer !== owner.pubkey) {
    throw new PlexusError('ERR_FORBIDDEN', `'${owner.name}' belongs to key ${owner.pubkey}, but this request was signed by ${call.signer}; only the owner's key may change its records`, {
      data: { name: owner.name, owner: owner.pubkey, signer: call.signer },
    });
  }
}

/**
 * The expose methods' own proof (COMPAT §4): Ed25519 over the UTF-8 bytes of the name by the
 * name's registered key, as the original clients made it with `payload_sign(threebot_name)`.
 */
export function requireNameSignature(owner: PhonebookEntry, name: string, signature: string): void {
  if (!verifyNameSignature(name, signature, owner.pubkey)) {
    throw new PlexusError('ERR_SIGNATURE_INVALID', `signature does not verify over '${name}' with the key registered for it`);
  }
}
