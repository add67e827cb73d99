/**
 * tcprouter routes in Redis (COMPAT §2), as ThreeFold's tcprouter reads them through valkeyrie:
 *
 *   key   /tcprouter/service/<fqdn lowercased>
 *   value {"Key": "<key>", "Value": "<standard base64 of the inner JSON>"}   (+ "LastIndex", ignored)
 *   inner {"addr": "10.2.0.5", "tlsport": 443, "httpport": 80, "clientsecret": ""}
 *
 * We write byte-for-byte what the original Python writer (`json.dumps`, `", "` and `": "`
 * separators, this key order) wrote, so dumps of an old and a new master compare equal. We read
 * like Go's encoding/json: key names match case-insensitively, a later duplicate wins, unknown
 * keys (`LastIndex`, `user`) are ignored, a value of the wrong type is an error.
 */

export const TCPROUTER_PREFIX = '/tcprouter/service/';

/** Default ports of a registered service, as in the original `tcpservice_register`. */
export const DEFAULT_TLS_PORT = 443;
export const DEFAULT_HTTP_PORT = 80;

/** One route: to `addr` (an IP) on the given ports, or to the tunnel client holding `clientsecret`. */
export interface TcpService {
  addr: string;
  tlsport: number;
  httpport: number;
  clientsecret: string;
}

/** The value cannot be read the way tcprouter reads it. */
export class TcprouterDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TcprouterDecodeError';
  }
}

/** `/tcprouter/service/<fqdn>`, lowercased because the router lowercases SNI and Host first. */
export function tcprouterKey(fqdn: string): string {
  return `${TCPROUTER_PREFIX}${fqdn.toLowerCase()}`;
}

/** The inner JSON, exactly as Python's `json.dumps` of the original record dict. */
export function encodeInner(service: TcpService): string {
  return `{"addr": ${JSON.stringify(service.addr)}, "tlsport": ${service.tlsport}, "httpport": ${service.httpport}, "clientsecret": ${JSON.stringify(service.clientsecret)}}`;
}

/** The whole Redis value for `fqdn`. */
export function encodeService(fqdn: string, service: TcpService): string {
  const key = tcprouterKey(fqdn);
  const value = Buffer.from(encodeInner(service), 'utf8').toString('base64');
  return `{"Key": ${JSON.stringify(key)}, "Value": ${JSON.stringify(value)}}`;
}

/** An object's fields by lowercased name, for Go's case-insensitive match: the last key that folds to a name wins. */
function folded(obj: Record<string, unknown>): Map<string, unknown> {
  const fields = new Map<string, unknown>();
  for (const k in obj) fields.set(k.toLowerCase(), obj[k]);
  return fields;
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TcprouterDecodeError(`${what} is not JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TcprouterDecodeError(`${what} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

// Go's base64.StdEncoding: standard alphabet, padded, length a multiple of 4.
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function port(value: unknown, name: string): number {
  // JSON null leaves Go's int at 0; a fraction or a string is an UnmarshalTypeError.
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TcprouterDecodeError(`${name} must be an integer`);
  return value;
}

function text(value: unknown, name: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new TcprouterDecodeError(`${name} must be a string`);
  return value;
}

/** Reads a value written by us, by the Python tooling or by Go's valkeyrie (with `LastIndex`). */
export function decodeService(raw: string): { key: string; service: TcpService } {
  const outer = folded(parseObject(raw, 'value'));
  const key = text(outer.get('key'), 'Key');
  const value = outer.get('value');
  if (typeof value !== 'string') throw new TcprouterDecodeError('Value must be a base64 string');
  if (!STD_BASE64.test(value)) throw new TcprouterDecodeError('Value is not standard padded base64');
  const inner = folded(parseObject(Buffer.from(value, 'base64').toString('utf8'), 'decoded Value'));
  return {
    key,
    service: {
      addr: text(inner.get('addr'), 'addr'),
      tlsport: port(inner.get('tlsport'), 'tlsport'),
      httpport: port(inner.get('httpport'), 'httpport'),
      clientsecret: text(inner.get('clientsecret'), 'clientsecret'),
    },
  };
}

/** Glob (SCAN MATCH, PSUBSCRIBE) matching every route key. */
export const TCPROUTER_KEY_PATTERN = '/tcprouter/service/*';

/** The fqdn a route key is for, or undefined when the key is not a route key. */
export function fqdnOfTcprouterKey(key: string): string | undefined {
  return key.startsWith(TCPROUTER_PREFIX) && key.length > TCPROUTER_PREFIX.length ? key.slice(TCPROUTER_PREFIX.length) : undefined;
}
