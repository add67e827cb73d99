/**
 * Stable error codes. Tests, the CLI and RPC peers match on `code`, never on message text.
 * Every code has a one-line "how to fix" so `plexus` can print it and docs can list it.
 */
export const ERROR_CODES = {
  // configuration and usage (CLI exit 2)
  ERR_CONFIG_INVALID: 'Fix the config file at the key path named in the message; `plexus check-config` lists every error.',
  ERR_USAGE: 'Run the command with --help to see its flags.',
  ERR_PLUGIN_NOT_FOUND: 'Install the plugin package or fix its name under `plugins:`.',
  // runtime
  ERR_DEPENDENCY_MISSING: 'Install the program named in the message (the README lists the Debian packages).',
  ERR_PLUGIN_START: 'See the cause; the plugins already started were stopped again.',
  ERR_KEY_FILE: 'The key file is unreadable or malformed; restore it from backup or remove it to create a new identity.',
  ERR_UNAVAILABLE: 'A backing service (for example the store) is not reachable; check that it runs.',
  ERR_INTERNAL: 'A bug: report it with the log line that carries the same request id.',
  // RPC transport and envelope
  ERR_CONNECT: 'Check the multiaddr and that the remote node runs and is reachable.',
  ERR_TIMEOUT: 'The remote node did not answer in time; retry or raise --timeout.',
  ERR_FRAME_TOO_LARGE: 'Send smaller requests; the server closes the stream after an oversize frame.',
  ERR_FRAME_MALFORMED: 'The frame is not valid UTF-8 JSON.',
  ERR_REQUEST_INVALID: 'A request is {id, method, params, auth?}; see core/README.md.',
  ERR_METHOD_UNKNOWN: 'The method is not served by this protocol; check the plugin version.',
  ERR_PARAMS_INVALID: 'The params do not match the method; the message names the field.',
  ERR_AUTH_REQUIRED: 'Mutating methods must be signed by the caller.',
  ERR_SIGNATURE_INVALID: 'The signature does not verify for the given public key and request.',
  ERR_TIMESTAMP_STALE: "The request timestamp is outside the server's allowed clock skew; sync your clock (NTP).",
  ERR_REPLAY: 'This nonce was already used; sign every request with a fresh nonce.',
  ERR_RATE_LIMITED: 'Too many requests from this peer; slow down and retry.',
  // registry domain (phonebook, gateway)
  ERR_NAME_TAKEN: 'The name is registered with another public key; choose another name.',
  ERR_NAME_INVALID: 'Names are lowercase DNS labels: a-z, 0-9 and -, joined by dots.',
  ERR_NOT_FOUND: 'No such record.',
  ERR_PUBKEY_MISMATCH: 'The public key does not match the one registered for this record.',
  ERR_FORBIDDEN: 'Only the owner of the name may change it.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** The one error type plexus code throws. `data` travels over RPC; `cause` does not. */
export class PlexusError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { data?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PlexusError';
    this.code = code;
    this.data = options.data;
  }

  get hint(): string {
    return ERROR_CODES[this.code];
  }

  toWire(): { code: ErrorCode; message: string; data?: Record<string, unknown> } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

export function plexusError(code: ErrorCode, message: string, data?: Record<string, unknown>): PlexusError {
  return data === undefined ? new PlexusError(code, message) : new PlexusError(code, message, { data });
}

/** Exit code a CLI uses for an error: 2 for bad usage/config, 1 for everything else. */
export function exitCodeFor(err: unknown): 1 | 2 {
  if (err instanceof PlexusError && (err.code === 'ERR_CONFIG_INVALID' || err.code === 'ERR_USAGE' || err.code === 'ERR_PLUGIN_NOT_FOUND')) return 2;
  return 1;
}
