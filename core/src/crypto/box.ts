import { createHash, randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { PlexusError } from '../errors.js';
import type { Ed25519KeyPair } from './ed25519.js';

/**
 * Messages sealed to an Ed25519 key (a tenant's, a host's): NaCl box (X25519, XSalsa20-Poly1305,
 * tweetnacl) from a fresh ephemeral key pair to the X25519 form of the recipient's Ed25519 key.
 * The conversions are the standard ones (libsodium's crypto_sign_ed25519_pk_to_curve25519 and
 * _sk_to_curve25519), so a recipient using libsodium/PyNaCl opens what we seal.
 */

const P = (1n << 255n) - 19n;

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function powMod(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function leToBigint(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

function bigintToLe(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = v;
  for (let i = 0; i < length; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** The X25519 public key of an Ed25519 public key: u = (1 + y) / (1 - y) mod p. */
export function ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new RangeError('an Ed25519 public key has 32 bytes');
  const yBytes = Uint8Array.from(publicKey);
  yBytes[31]! &= 0x7f; // drop the sign of x
  const y = leToBigint(yBytes);
  if (y >= P || y === 1n) throw new PlexusError('ERR_PARAMS_INVALID', 'not a usable Ed25519 public key');
  const u = mod((1n + y) * powMod(1n - y, P - 2n));
  return bigintToLe(u, 32);
}

/** The X25519 secret key of an Ed25519 seed: the clamped first half of SHA-512(seed). */
export function ed25519SeedToX25519(seed: Uint8Array): Uint8Array {
  const h = createHash('sha512').update(seed).digest();
  const s = Uint8Array.from(h.subarray(0, 32));
  s[0]! &= 248;
  s[31]! &= 127;
  s[31]! |= 64;
  return s;
}

/** A sealed message, as carried in RPC results and ledger memos (hex / base64 in JSON). */
export interface SealedBox {
  scheme: 'x25519-xsalsa20poly1305';
  /** Hex of the sender's one-time X25519 public key. */
  ephemeralPublicKey: string;
  /** Hex of the 24-byte nonce. */
  nonce: string;
  /** Base64 of the box (ciphertext and Poly1305 tag). */
  box: string;
}

/** Seals `message` so that only the holder of the Ed25519 key `recipientHex` can open it. */
export function sealTo(recipientHex: string, message: Uint8Array): SealedBox {
  const recipient = ed25519PublicToX25519(Buffer.from(recipientHex, 'hex'));
  const eph = nacl.box.keyPair();
  const nonce = new Uint8Array(randomBytes(nacl.box.nonceLength));
  const box = nacl.box(message, nonce, recipient, eph.secretKey);
  return { scheme: 'x25519-xsalsa20poly1305', ephemeralPublicKey: Buffer.from(eph.publicKey).toString('hex'), nonce: Buffer.from(nonce).toString('hex'), box: Buffer.from(box).toString('base64') };
}

/** Opens a box sealed to `key`. @throws ERR_DECRYPT when it is not for this key or was altered. */
export function openSealed(sealed: SealedBox, key: Ed25519KeyPair): Uint8Array {
  const opened =
    sealed?.scheme === 'x25519-xsalsa20poly1305'
      ? nacl.box.open(new Uint8Array(Buffer.from(sealed.box, 'base64')), new Uint8Array(Buffer.from(sealed.nonce, 'hex')), new Uint8Array(Buffer.from(sealed.ephemeralPublicKey, 'hex')), ed25519SeedToX25519(key.seed))
      : null;
  if (opened === null) throw new PlexusError('ERR_DECRYPT', 'the sealed reply does not open with this key (another key, or altered on the way)');
  return opened;
}
