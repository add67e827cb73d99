import { z } from 'zod';
import { HEX128, HEX64 } from '../crypto/ed25519.js';

/** Params carrying keys and signatures, as the ThreeFold clients send them (COMPAT §4). */

/** Ed25519 public key: 64 lowercase hex chars. */
export const publicKeyHexSchema = z.string().regex(HEX64, 'expected 64 lowercase hex chars (Ed25519 public key)');
/** Ed25519 signature: 128 lowercase hex chars. */
export const signatureHexSchema = z.string().regex(HEX128, 'expected 128 lowercase hex chars (Ed25519 signature)');
