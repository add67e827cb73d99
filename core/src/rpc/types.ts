import type { z } from 'zod';
import type { Logger } from '../logger.js';

/** One method a plugin serves over its protocol. */
export interface RpcMethod<P = any, R = unknown> {
  /** Strict schema of `params`; a mismatch is answered with ERR_PARAMS_INVALID naming the field. */
  readonly params: z.ZodType<P>;
  /** Mutating calls must be signed, fresh and unreplayed; read-only calls may be unsigned. */
  readonly mutating: boolean;
  handler(params: P, call: RpcCall): Promise<R>;
}

/** What a handler knows about the call beyond its params. */
export interface RpcCall {
  /** libp2p PeerId of the connection the call came over (noise-authenticated). */
  readonly peer: string;
  /** Hex Ed25519 public key that signed the request, when it was signed and verified. */
  readonly signer: string | undefined;
  readonly method: string;
  readonly log: Logger;
}

export type RpcMethods = Record<string, RpcMethod>;

export interface RpcRegistrar {
  /** Serves `methods` on `/plexus/<plugin>/<major>`. Returns the protocol id. */
  serve(methods: RpcMethods, options?: { major?: number }): Promise<string>;
  /** Stops serving a protocol; new streams are refused, calls in progress finish. */
  unserve(protocol: string): Promise<void>;
}

export function protocolId(plugin: string, major = 1): string {
  return `/plexus/${plugin}/${major}`;
}

/** A request as it travels in a frame. */
export interface RpcRequestFrame {
  id: number | string;
  method: string;
  params: unknown;
  auth?: RpcAuth;
}

/** Signature block of a request. `sig` covers the canonical encoding (see canonical.ts). */
export interface RpcAuth {
  /** Signer's Ed25519 public key, 64 lowercase hex chars. */
  pubkey: string;
  /** Milliseconds since the Unix epoch when the caller signed. */
  ts: number;
  /** 32 lowercase hex chars, fresh per request. */
  nonce: string;
  /** 128 lowercase hex chars. */
  sig: string;
}

export type RpcResponseFrame =
  | { id: number | string | null; result: unknown }
  | { id: number | string | null; error: { code: string; message: string; data?: Record<string, unknown> } };
