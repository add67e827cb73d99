import { randomBytes } from 'node:crypto';
import { PlexusError } from '../errors.js';
import { rpcSigningBytes } from '../crypto/canonical.js';
import { type Ed25519KeyPair, isPublicKeyHex, isSignatureHex, toHex, verifyHex } from '../crypto/ed25519.js';
import { signEnvelope } from '../crypto/signatures.js';
import type { RpcAuth } from './types.js';

const NONCE_HEX = /^[0-9a-f]{32}$/;

export interface SignInput {
  protocol: string;
  /** PeerId of the server the request is meant for. */
  audience: string;
  method: string;
  params: unknown;
}

export function signRequest(input: SignInput, key: Ed25519KeyPair, now = Date.now()): RpcAuth {
  const nonce = randomBytes(16).toString('hex');
  return { pubkey: toHex(key.publicKey), ts: now, nonce, sig: signEnvelope({ ...input, ts: now, nonce }, key) };
}

export interface AuthPolicy {
  /** Largest accepted age (server clock - request ts), in ms; nonces are remembered this long. */
  maxSkewMs: number;
  /**
   * Largest accepted lead (request ts - server clock), in ms. Default `maxSkewMs`. A request signed
   * ahead of time stays fresh for lead + age, so the lead is kept small (`rpc.maxForwardSkewMs`).
   */
  maxForwardSkewMs?: number;
  /**
   * Requests signed before this instant are stale: nonces seen before a restart are not
   * remembered, so a restarted server refuses every ts an earlier run may have accepted
   * (see ReplayWindow).
   */
  notBefore: number;
}

/** An auth block whose shape was checked: what the signature covers, and the signature itself. */
export interface ParsedAuth {
  /** The bytes the signature must cover (rpcSigningBytes of the request and this auth block). */
  message: Uint8Array;
  pubkey: string;
  ts: number;
  nonce: string;
  sig: string;
}

/**
 * Checks the shape of an auth block and builds the bytes its signature must cover; the signature
 * itself is checked by the caller (in this thread or in a VerifyPool), then `admitRequestAuth`.
 */
export function parseRequestAuth(input: SignInput, auth: unknown): ParsedAuth {
  if (auth === undefined || auth === null) throw new PlexusError('ERR_AUTH_REQUIRED', `${input.method} must be signed`);
  const a = auth as Partial<RpcAuth>;
  if (typeof a !== 'object' || !isPublicKeyHex(a.pubkey) || !Number.isSafeInteger(a.ts) || typeof a.nonce !== 'string' || !NONCE_HEX.test(a.nonce) || !isSignatureHex(a.sig)) {
    throw new PlexusError('ERR_SIGNATURE_INVALID', 'auth must be {pubkey: 64 hex, ts: integer ms, nonce: 32 hex, sig: 128 hex}');
  }
  const ts = a.ts as number;
  return { message: rpcSigningBytes({ ...input, ts, nonce: a.nonce }), pubkey: a.pubkey, ts, nonce: a.nonce, sig: a.sig };
}

/**
 * The checks after the signature verified: freshness, then the nonce. The nonce is recorded only
 * here, so a forger cannot burn someone else's nonces. Returns the signer's public key hex.
 */
export function admitRequestAuth(a: ParsedAuth, policy: AuthPolicy, replay: ReplayCache, now = Date.now()): string {
  const { ts } = a;
  const maxForwardSkewMs = policy.maxForwardSkewMs ?? policy.maxSkewMs;
  if (now - ts > policy.maxSkewMs || ts - now > maxForwardSkewMs || ts < policy.notBefore) {
    const why = ts < policy.notBefore && now - ts <= policy.maxSkewMs ? `signed before this node's restart window (${policy.notBefore})` : 'outside the allowed window';
    throw new PlexusError('ERR_TIMESTAMP_STALE', `request timestamp ${ts} is ${why} (server time ${now}, ${policy.maxSkewMs} ms back, ${maxForwardSkewMs} ms ahead)`, {
      data: { serverTime: now, maxSkewMs: policy.maxSkewMs, maxForwardSkewMs, notBefore: policy.notBefore },
    });
  }
  if (!replay.remember(`${a.pubkey}:${a.nonce}`, ts + policy.maxSkewMs, now)) {
    throw new PlexusError('ERR_REPLAY', 'nonce already used by this key');
  }
  return a.pubkey;
}

/** The refusal of a signature that does not verify. */
export function signatureInvalid(): PlexusError {
  return new PlexusError('ERR_SIGNATURE_INVALID', 'signature does not verify');
}

/**
 * Checks an auth block in this thread: shape, signature, freshness, then the nonce (see
 * `parseRequestAuth` and `admitRequestAuth`; the RPC server verifies in a VerifyPool instead).
 * Returns the signer's public key hex.
 */
export function verifyRequestAuth(input: SignInput, auth: unknown, policy: AuthPolicy, replay: ReplayCache, now = Date.now()): string {
  const a = parseRequestAuth(input, auth);
  if (!verifyHex(a.message, a.sig, a.pubkey)) throw signatureInvalid();
  return admitRequestAuth(a, policy, replay, now);
}

/**
 * Remembers nonces until their request could no longer pass the freshness check, so memory is
 * bounded by (request rate x 2 x skew). Expiry is swept lazily in insertion order.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  /** False when the key was already seen and has not expired. */
  remember(key: string, expiresAt: number, now = Date.now()): boolean {
    this.sweep(now);
    const prev = this.seen.get(key);
    if (prev !== undefined && prev >= now) return false;
    this.seen.set(key, expiresAt);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    // Entries are inserted with roughly increasing expiry; stop at the first live one.
    for (const [key, exp] of this.seen) {
      if (exp >= now) break;
      this.seen.delete(key);
    }
  }
}

export interface RateLimit {
  /** Sustained requests per second per key (a peer, or a remote address); 0 disables. */
  perSecond: number;
  /** Requests a peer may send at once after being idle. */
  burst: number;
}

/** Token bucket per key (peer id or host); idle buckets are dropped so the map does not grow without bound. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = 0;

  constructor(private readonly limit: RateLimit) {}

  take(peer: string, now = Date.now()): boolean {
    if (this.limit.perSecond <= 0) return true;
    let b = this.buckets.get(peer);
    if (b === undefined) {
      b = { tokens: this.limit.burst, at: now };
      this.buckets.set(peer, b);
    } else {
      b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond);
      b.at = now;
    }
    if (now - this.lastSweep > 60_000) this.sweep(now);
    // Float refill can land a hair under a whole token exactly on time.
    if (b.tokens < 1 - 1e-9) return false;
    b.tokens = Math.max(0, b.tokens - 1);
    return true;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    const refill = (this.limit.burst / this.limit.perSecond) * 1000;
    for (const [peer, b] of this.buckets) if (now - b.at > refill) this.buckets.delete(peer);
  }
}
