import nacl from 'tweetnacl';
import { PlexusError, ed25519PublicToX25519, ed25519SeedToX25519 } from '@plexus/core';
import { blake2b } from './blake2b.js';

/**
 * libsodium's anonymous sealed box (`crypto_box_seal`), which Evernode uses for acquire memos and
 * acquire-success replies: `ephemeral X25519 pk (32) || crypto_box(m)`, with the nonce
 * `BLAKE2b-24(ephemeral pk || recipient pk)`. Evernode seals to an Ed25519 key written as 33 bytes
 * (`ED` + key, an account's MessageKey) and converts it to X25519 like libsodium does.
 */

const SEAL_OVERHEAD = 32 + nacl.box.overheadLength;

/** Accepts `ED` + 64 hex (Evernode / XRPL form) or 64 hex; returns the 32 raw key bytes. */
export function ed25519KeyBytes(key: string): Uint8Array {
  const hex = key.length === 66 && /^ed/i.test(key) ? key.slice(2) : key;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new PlexusError('ERR_PARAMS_INVALID', 'an Ed25519 public key is 64 hex characters, optionally prefixed with ED');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function sealNonce(ephemeralPk: Uint8Array, recipientPk: Uint8Array): Uint8Array {
  const input = new Uint8Array(64);
  input.set(ephemeralPk, 0);
  input.set(recipientPk, 32);
  return blake2b(input, nacl.box.nonceLength);
}

/** `crypto_box_seal(message, x25519(recipient))` for an Ed25519 recipient key. */
export function sealAnonymous(recipientEd25519: string, message: Uint8Array): Uint8Array {
  const recipient = ed25519PublicToX25519(ed25519KeyBytes(recipientEd25519));
  const eph = nacl.box.keyPair();
  const box = nacl.box(message, sealNonce(eph.publicKey, recipient), recipient, eph.secretKey);
  const out = new Uint8Array(32 + box.length);
  out.set(eph.publicKey, 0);
  out.set(box, 32);
  return out;
}

/** `crypto_box_seal_open` with the recipient's Ed25519 seed. @throws ERR_DECRYPT */
export function openAnonymous(sealed: Uint8Array, seed: Uint8Array): Uint8Array {
  if (sealed.length < SEAL_OVERHEAD) throw new PlexusError('ERR_DECRYPT', 'a sealed box is at least 48 bytes');
  const secret = ed25519SeedToX25519(seed);
  const publicKey = nacl.scalarMult.base(secret);
  const eph = sealed.subarray(0, 32);
  const opened = nacl.box.open(sealed.subarray(32), sealNonce(eph, publicKey), eph, secret);
  if (opened === null) throw new PlexusError('ERR_DECRYPT', 'the sealed box does not open with this key');
  return opened;
}
