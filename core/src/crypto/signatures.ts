import { type EnvelopeInput, rpcSigningBytes } from './canonical.js';

export type { EnvelopeInput } from './canonical.js';
import { type Ed25519KeyPair, signDetached, toHex, verifyHex } from './ed25519.js';

/**
 * Every signature plexus makes or checks, in one place:
 *
 * - the RPC envelope (`auth` of a mutating request): Ed25519 over `rpcSigningBytes`, which binds
 *   protocol, server PeerId, method, timestamp, nonce and canonical params (see README, "RPC
 *   protocol"); freshness and replay are checked around it in `rpc/auth.ts`;
 * - the ThreeFold payload signatures the original clients send inside the params (COMPAT §4):
 *   `record_register` and `update_public_key` over `payload_build(...)`, and the gateway's expose
 *   calls over the UTF-8 name.
 *
 * Signatures are 128 lowercase hex chars, keys 64; byte-identical to tweetnacl/PyNaCl. A verifier
 * returns false for malformed input instead of throwing; callers map false to ERR_SIGNATURE_INVALID.
 */

export function signEnvelope(input: EnvelopeInput, key: Ed25519KeyPair): string {
  return toHex(signDetached(rpcSigningBytes(input), key));
}

export function verifyEnvelope(input: EnvelopeInput, signatureHex: string, publicKeyHex: string): boolean {
  return verifyHex(rpcSigningBytes(input), signatureHex, publicKeyHex);
}

/**
 * `payload_build` of the ThreeFold phonebook: the fields concatenated with no separator, strings as
 * UTF-8, numbers as decimal text. Byte-compatible with the original jumpscale actor, so its
 * clients' signatures verify here.
 */
export function payloadBuild(...fields: (string | number)[]): Uint8Array {
  return new TextEncoder().encode(fields.map((f) => (typeof f === 'number' ? decimal(f) : f)).join(''));
}

function decimal(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`payload_build: ${n} is not an integer`);
  return n.toString(10);
}

/** The fields `record_register` signs. */
export interface RecordFields {
  tid: number;
  name: string;
  email: string;
  ipaddr: string;
  description: string;
  pubkey: string;
}

/** What `record_register` signs: payload_build(tid, name, email, ipaddr, description, pubkey). */
export function recordPayload(r: RecordFields): Uint8Array {
  return payloadBuild(r.tid, r.name, r.email, r.ipaddr, r.description, r.pubkey);
}

/** What `update_public_key` signs, with the old key: payload_build(tid, new_pubkey). */
export function updateKeyPayload(tid: number, newPubkey: string): Uint8Array {
  return payloadBuild(tid, newPubkey);
}

export function signRecord(r: RecordFields, key: Ed25519KeyPair): string {
  return toHex(signDetached(recordPayload(r), key));
}

/** `sender_signature_hex` of `record_register`, by the record's own `pubkey`. */
export function verifyRecordSignature(r: RecordFields, signatureHex: string): boolean {
  return verifyHex(recordPayload(r), signatureHex, r.pubkey);
}

export function signKeyUpdate(tid: number, newPubkey: string, oldKey: Ed25519KeyPair): string {
  return toHex(signDetached(updateKeyPayload(tid, newPubkey), oldKey));
}

/** `signature` of `update_public_key`, by the currently registered key. */
export function verifyKeyUpdateSignature(tid: number, newPubkey: string, signatureHex: string, currentPubkeyHex: string): boolean {
  return verifyHex(updateKeyPayload(tid, newPubkey), signatureHex, currentPubkeyHex);
}

/** The gateway expose calls' proof: `payload_sign(threebot_name)`, Ed25519 over the UTF-8 name. */
export function signName(name: string, key: Ed25519KeyPair): string {
  return toHex(signDetached(Buffer.from(name, 'utf8'), key));
}

export function verifyNameSignature(name: string, signatureHex: string, publicKeyHex: string): boolean {
  return verifyHex(Buffer.from(name, 'utf8'), signatureHex, publicKeyHex);
}
