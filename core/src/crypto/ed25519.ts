import { createPrivateKey, createPublicKey, sign, verify, randomBytes, type KeyObject } from 'node:crypto';

/**
 * Ed25519 over node:crypto (OpenSSL). Signatures are byte-identical to tweetnacl/PyNaCl
 * (`nacl.sign.detached`), since Ed25519 is deterministic; a unit test checks that.
 * node:crypto verifies roughly 85x faster than tweetnacl, which matters on the RPC hot path.
 */

// DER prefixes that wrap a raw 32-byte seed (PKCS#8) and a raw 32-byte public key (SPKI).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** An Ed25519 public key in hex. */
export const HEX64 = /^[0-9a-f]{64}$/;
/** An Ed25519 signature in hex. */
export const HEX128 = /^[0-9a-f]{128}$/;

export interface Ed25519KeyPair {
  /** 32-byte private seed. */
  readonly seed: Uint8Array;
  /** 32-byte public key. */
  readonly publicKey: Uint8Array;
  readonly privateKeyObject: KeyObject;
}

export function keyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (seed.length !== 32) throw new RangeError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
  const privateKeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKeyObject).export({ format: 'der', type: 'spki' });
  return { seed: Uint8Array.from(seed), publicKey: Uint8Array.from(spki.subarray(SPKI_PREFIX.length)), privateKeyObject };
}

export function generateKeyPair(): Ed25519KeyPair {
  return keyPairFromSeed(randomBytes(32));
}

export function signDetached(message: Uint8Array, key: Ed25519KeyPair): Uint8Array {
  return new Uint8Array(sign(null, message, key.privateKeyObject));
}

// Public keys are parsed once and cached: verifying the same caller repeatedly is the common case.
const publicKeyCache = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE_MAX = 10_000;

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const cacheKey = Buffer.from(publicKey).toString('hex');
  let key = publicKeyCache.get(cacheKey);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_MAX) publicKeyCache.clear();
    publicKeyCache.set(cacheKey, key);
  }
  return key;
}

/** False for any malformed input instead of throwing: callers map false to ERR_SIGNATURE_INVALID. */
export function verifyDetached(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

export function isPublicKeyHex(value: unknown): value is string {
  return typeof value === 'string' && HEX64.test(value);
}

export function isSignatureHex(value: unknown): value is string {
  return typeof value === 'string' && HEX128.test(value);
}

/** Verifies hex-encoded inputs as the phonebook receives them; malformed hex is simply invalid. */
export function verifyHex(message: Uint8Array, signatureHex: string, publicKeyHex: string): boolean {
  if (!isSignatureHex(signatureHex) || !isPublicKeyHex(publicKeyHex)) return false;
  return verifyDetached(message, Buffer.from(signatureHex, 'hex'), Buffer.from(publicKeyHex, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
