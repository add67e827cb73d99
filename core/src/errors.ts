/**
 * Stable error codes. Tests, the CLI and RPC peers match on `code`, never on message text.
 * Core declares the codes of the core (config, transport, envelope) and a few generic ones every
 * plugin uses; a plugin declares its own next to its methods with `defineErrors`. Every code has a
 * one-line "how to fix" hint, so `plexus` can print it and docs can list it.
 */
export const CORE_ERRORS = {
  // configuration and usage (CLI exit 2)
  ERR_CONFIG_INVALID: 'Fix the config file at the key path named in the message; `plexus check-config` lists every error.',
  ERR_USAGE: 'Run the command with --help to see its flags.',
  // runtime
  ERR_DEPENDENCY_MISSING: 'Install the program named in the message (the README lists the Debian packages).',
  ERR_PLUGIN_START: 'See the cause; the plugins already started were stopped again.',
  ERR_KEY_FILE: 'The key file is unreadable or malformed; restore it from backup or remove it to create a new identity.',
  ERR_DATA_DIR: 'The data directory cannot be created or written; point node.dataDir ($PLEXUS_DATA_DIR) at a writable directory.',
  ERR_LISTEN: 'Another process holds the address, or it is not an address of this machine; stop that process or change node.listen.',
  ERR_UNAVAILABLE: 'A backing service (for example the store) is not reachable; check that it runs.',
  ERR_INTERNAL: 'A bug: report it with the log line that carries the same request id.',
  // RPC transport and envelope
  ERR_CONNECT: 'Check the multiaddr and that the remote node runs and is reachable.',
  ERR_TIMEOUT: 'The remote node did not answer in time; retry or raise --timeout.',
  ERR_FRAME_TOO_LARGE: 'Send smaller requests; the server closes the stream after an oversize frame.',
  ERR_FRAME_MALFORMED: 'The frame is not valid UTF-8 JSON.',
  ERR_FRAME_TIMEOUT: 'A frame must arrive completely within rpc.frameTimeoutMs of its first byte; the connection was closed.',
  ERR_BUFFER_LIMIT: 'Too many bytes of unfinished frames on one connection (rpc.maxBufferedBytesPerConnection); the connection was closed.',
  ERR_REQUEST_INVALID: 'A request is {id, method, params, auth?}; see "RPC protocol" in the README.',
  ERR_METHOD_UNKNOWN: 'The method is not served by this protocol; check the plugin version.',
  ERR_PARAMS_INVALID: 'The params do not match the method; the message names the field.',
  ERR_AUTH_REQUIRED: 'Mutating methods must be signed by the caller.',
  ERR_SIGNATURE_INVALID: 'The signature does not verify for the given public key and request.',
  ERR_TIMESTAMP_STALE: "The request timestamp is outside the server's allowed clock skew; sync your clock (NTP).",
  ERR_REPLAY: 'This nonce was already used; sign every request with a fresh nonce.',
  ERR_RATE_LIMITED: 'Too many requests from this peer or this address (rpc.rateLimit); slow down and retry.',
  ERR_BUSY: 'The node is answering as many requests as it takes at once (rpc.maxPendingRequests); nothing was done: retry after a short pause.',
  // generic outcomes any plugin may answer with
  ERR_NOT_FOUND: 'No such record.',
  ERR_FORBIDDEN: 'The signing key may not change this; the message names the owner.',
  // high availability (store with sentinels)
  ERR_NOT_MASTER: "This explorer's store is a standby: send the change to the master named in data.master (clients given several --explorer follow it on their own).",
  ERR_NOT_REPLICATED: 'The change reached the master but not enough standbys in time (store.sentinel.ackReplicas); it may be lost at a failover: retry, the same request is safe to repeat.',
  ERR_DECRYPT: 'A sealed message does not open with this key: it was sealed to another key (check --key) or altered on the way.',
} as const;

export type CoreErrorCode = keyof typeof CORE_ERRORS;

/** A code declared by a plugin with `defineErrors`; only that function hands these out. */
export type DeclaredErrorCode = string & { readonly __declaredErrorCode: true };

/** What `PlexusError` accepts: a core code, or a code a plugin declared. */
export type ErrorCode = CoreErrorCode | DeclaredErrorCode;

/** Shape every code has, on the wire too. */
export const ERROR_CODE_PATTERN = /^ERR_[A-Z0-9_]{1,60}$/;

interface Declared {
  owner: string;
  hint: string;
}

const declared = new Map<string, Declared>(Object.entries(CORE_ERRORS).map(([code, hint]) => [code, { owner: 'core', hint }]));

/**
 * Declares a plugin's error codes with their hints, next to its methods:
 *
 *     export const PHONEBOOK_ERRORS = defineErrors('phonebook', { ERR_NAME_TAKEN: 'Choose another name.' });
 *     throw new PlexusError(PHONEBOOK_ERRORS.ERR_NAME_TAKEN, `name '${name}' is taken`);
 *
 * Runs when the module is imported (by the node that serves, and by the CLI that prints hints).
 * A code already declared by another owner, or declared twice with different hints, is a bug in
 * one of the plugins and throws at import.
 */
export function defineErrors<const T extends Record<string, string>>(owner: string, hints: T): { readonly [K in keyof T]: K & DeclaredErrorCode } {
  const out: Record<string, string> = {};
  for (const [code, hint] of Object.entries(hints)) {
    if (!ERROR_CODE_PATTERN.test(code)) throw new TypeError(`${owner}: error code '${code}' must look like ERR_SOMETHING (A-Z, 0-9, _)`);
    const prev = declared.get(code);
    if (prev !== undefined && (prev.owner !== owner || prev.hint !== hint)) {
      throw new TypeError(`${owner}: error code ${code} is already declared by ${prev.owner}`);
    }
    declared.set(code, { owner, hint });
    out[code] = code;
  }
  return Object.freeze(out) as { readonly [K in keyof T]: K & DeclaredErrorCode };
}

/** Hint of a code declared in this process (core, or a plugin whose module is loaded). */
export function hintFor(code: string): string | undefined {
  return declared.get(code)?.hint;
}

/** Every code declared in this process with its owner and hint, sorted; for docs and `--help`. */
export function declaredErrors(): { code: string; owner: string; hint: string }[] {
  return [...declared].map(([code, d]) => ({ code, ...d })).sort((a, b) => a.code.localeCompare(b.code));
}

/** The one error type plexus code throws. `data` travels over RPC; `cause` does not. */
export class PlexusError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown> | undefined;
  /** A "how to fix" for this very case, when it says more than the code's hint. Not sent over RPC. */
  private readonly specificHint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { data?: Record<string, unknown>; cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PlexusError';
    this.code = code;
    this.data = options.data;
    this.specificHint = options.hint;
  }

  /**
   * An error answered by a remote node. Its code is kept as sent, whichever plugin declared it,
   * as long as it has the shape of a code; anything else is the remote's bug (ERR_INTERNAL).
   */
  static fromWire(error: { code?: unknown; message?: unknown; data?: unknown }): PlexusError {
    const code = typeof error.code === 'string' && ERROR_CODE_PATTERN.test(error.code) ? (error.code as ErrorCode) : 'ERR_INTERNAL';
    const message = typeof error.message === 'string' ? error.message : 'remote error without a message';
    const data = typeof error.data === 'object' && error.data !== null && !Array.isArray(error.data) ? (error.data as Record<string, unknown>) : undefined;
    return new PlexusError(code, message, data === undefined ? {} : { data });
  }

  /** The "how to fix" line: this error's own, else its code's when declared in this process. */
  get hint(): string | undefined {
    return this.specificHint ?? hintFor(this.code);
  }

  toWire(): { code: string; message: string; data?: Record<string, unknown> } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

/** Exit code a CLI uses for an error: 2 for bad usage/config, 1 for everything else. */
export function exitCodeFor(err: unknown): 1 | 2 {
  if (err instanceof PlexusError && (err.code === 'ERR_CONFIG_INVALID' || err.code === 'ERR_USAGE')) return 2;
  return 1;
}
