import {
  PlexusError,
  type RpcMethods,
  defineMethod,
  isPhonebookName,
  publicKeyHexSchema,
  signatureHexSchema,
  verifyKeyUpdateSignature,
  verifyRecordSignature,
  z,
} from '@plexus/core';
import type { PhonebookConfig } from './config.js';
import type { PhonebookRegistry } from './registry.js';
import { description, email, ipaddr, tid } from './validation.js';
import { PHONEBOOK_ERRORS } from './errors.js';

function checkName(name: string): void {
  if (!isPhonebookName(name)) throw new PlexusError(PHONEBOOK_ERRORS.ERR_NAME_INVALID, `'${name.slice(0, 64)}' is not a valid name (lowercase DNS labels joined by dots)`);
}

/** The phonebook's protocol; the CLI and other plugins' clients use this constant. */
export { PHONEBOOK_PROTOCOL } from './protocol.js';

/**
 * The phonebook's RPC methods (COMPAT.md §4). Every mutation travels in a signed RPC envelope;
 * on top of that `record_register` and `update_public_key` carry the original payload signatures,
 * so ownership is proven by the registered key, whoever relays the call.
 */
export function phonebookMethods(registry: PhonebookRegistry, config: PhonebookConfig): RpcMethods {
  return {
    name_register: defineMethod({
      mutating: true,
      params: z.strictObject({ name: z.string(), email, pubkey: publicKeyHexSchema, wallet_name: z.string().max(128).default('') }),
      async handler(p, call) {
        checkName(p.name);
        // Proof of possession: only the holder of `pubkey` can claim a name for it.
        if (call.signer !== p.pubkey) throw new PlexusError(PHONEBOOK_ERRORS.ERR_PUBKEY_MISMATCH, 'name_register must be signed by the key being registered');
        const { record, created } = await registry.register(p);
        call.log.info({ tid: record.tid, name: record.name, created }, 'name_register');
        return record;
      },
    }),
    record_register: defineMethod({
      mutating: true,
      params: z.strictObject({ tid, name: z.string(), email, ipaddr, description, pubkey: publicKeyHexSchema, sender_signature_hex: signatureHexSchema }),
      async handler(p, call) {
        checkName(p.name);
        if (!verifyRecordSignature(p, p.sender_signature_hex)) {
          throw new PlexusError('ERR_SIGNATURE_INVALID', 'sender_signature_hex does not verify over payload_build(tid, name, email, ipaddr, description, pubkey)');
        }
        const record = await registry.update(p);
        call.log.info({ tid: record.tid }, 'record_register');
        return record;
      },
    }),
    update_public_key: defineMethod({
      mutating: true,
      params: z.strictObject({ tid, new_pubkey: publicKeyHexSchema, signature: signatureHexSchema }),
      async handler(p, call) {
        const current = await registry.byTid(p.tid);
        if (current === undefined) throw new PlexusError('ERR_NOT_FOUND', `no record with tid ${p.tid}`);
        if (!verifyKeyUpdateSignature(p.tid, p.new_pubkey, p.signature, current.pubkey)) {
          throw new PlexusError('ERR_SIGNATURE_INVALID', 'signature does not verify with the currently registered key over payload_build(tid, new_pubkey)');
        }
        const record = await registry.replaceKey(p.tid, current.pubkey, p.new_pubkey);
        call.log.info({ tid: record.tid }, 'update_public_key');
        return record;
      },
    }),
    get: defineMethod({
      mutating: false,
      params: z.union([z.strictObject({ name: z.string().max(253) }), z.strictObject({ tid })]),
      async handler(p) {
        const record = 'name' in p ? await registry.byName(p.name) : await registry.byTid(p.tid);
        if (record === undefined) throw new PlexusError('ERR_NOT_FOUND', 'name' in p ? `no record named '${p.name.slice(0, 64)}'` : `no record with tid ${p.tid}`);
        return record;
      },
    }),
    list: defineMethod({
      mutating: false,
      params: z.strictObject({ cursor: z.number().int().min(0).default(0), limit: z.number().int().min(1).optional() }),
      async handler(p) {
        const limit = Math.min(p.limit ?? config.defaultPageSize, config.maxPageSize);
        return registry.list(p.cursor, limit);
      },
    }),
    // Names registered below another key's name (before the phonebook refused them, or left by
    // update_public_key of only the upper name): paged like `list`, `limit` records examined.
    check_ownership: defineMethod({
      mutating: false,
      params: z.strictObject({ cursor: z.number().int().min(0).default(0), limit: z.number().int().min(1).optional() }),
      async handler(p) {
        const limit = Math.min(p.limit ?? config.defaultPageSize, config.maxPageSize);
        return registry.conflicts(p.cursor, limit);
      },
    }),
  };
}
