import type { z } from 'zod';
import { PlexusError } from '../errors.js';
import type { Logger } from '../logger.js';

/** One method a plugin serves over its protocol. Build it with `defineMethod` so `params` types the handler. */
export interface RpcMethod<P = unknown, R = unknown> {
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
  /**
   * Awaits `event` (a long poll's change, say) without counting this call toward
   * `rpc.maxPendingRequests` meanwhile: a parked call costs no work, and a thousand of them must
   * not make the node refuse others with ERR_BUSY. Absent when the call did not come over the wire.
   */
  readonly idle?: <T>(event: Promise<T>) => Promise<T>;
}

/**
 * A method whose handler receives exactly what its schema outputs: no `any` reaches a handler,
 * and a field the schema does not have does not compile.
 *
 *     get: defineMethod({ mutating: false, params: z.strictObject({ name: z.string() }), handler: async (p) => lookup(p.name) }),
 */
export function defineMethod<S extends z.ZodType, R>(def: {
  params: S;
  mutating: boolean;
  handler: (params: z.output<S>, call: RpcCall) => Promise<R>;
}): RpcMethod<z.output<S>, R> {
  return { params: def.params as z.ZodType<z.output<S>>, mutating: def.mutating, handler: def.handler };
}

/** Validates `params` against a method's schema: its output, or ERR_PARAMS_INVALID naming the first bad field. */
export function parseParams<P>(method: RpcMethod<P>, params: unknown): P {
  const parsed = method.params.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') || '(params)';
  throw new PlexusError('ERR_PARAMS_INVALID', `${path}: ${issue?.message ?? 'invalid'}`, { data: { path } });
}

/** A plugin's methods by name. Handlers see `unknown` params unless built with `defineMethod`. */
export type RpcMethods = Record<string, RpcMethod<unknown>>;

export interface RpcRegistrar {
  /**
   * Serves `methods` on `protocol`, which must be `/plexus/<this plugin>/<major>` (make it with
   * `protocolId`, export it, and let the plugin's CLI import that one constant).
   */
  serve(protocol: string, methods: RpcMethods): Promise<void>;
  /** Stops serving a protocol; new streams are refused, calls in progress finish. */
  unserve(protocol: string): Promise<void>;
}

/** `/plexus/<plugin>/<major>`: the libp2p protocol a plugin's RPC methods are served on. */
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
