/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order, no whitespace, arrays kept in
 * order, `undefined` members dropped. Two implementations that follow these rules produce the same
 * bytes for the same value, which is what a signature needs. Non-finite numbers and non-plain
 * values are refused rather than silently coerced.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, 0);
}

const MAX_DEPTH = 64;

function encode(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError('canonicalJson: value nested too deeply');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => encode(v === undefined ? null : v, depth + 1)).join(',')}]`;
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new TypeError('canonicalJson: only plain objects are allowed');
      const entries = Object.keys(value as object)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${encode((value as Record<string, unknown>)[k], depth + 1)}`);
      return `{${entries.join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

/** What an RPC envelope signature covers besides the signer's key. */
export interface EnvelopeInput {
  protocol: string;
  /** PeerId of the server the request is meant for. */
  audience: string;
  method: string;
  params: unknown;
  ts: number;
  nonce: string;
}

/**
 * The bytes an RPC signature covers. Binding the protocol and the server's PeerId ("audience")
 * stops a signed request for one plugin or one node from being accepted by another.
 */
export function rpcSigningBytes(input: EnvelopeInput): Uint8Array {
  const text = ['plexus-rpc/1', input.protocol, input.audience, input.method, String(input.ts), input.nonce, canonicalJson(input.params)].join('\n');
  return new TextEncoder().encode(text);
}
