import {
  DEFAULT_HTTP_PORT,
  DEFAULT_TLS_PORT,
  PlexusError,
  RECORD_TYPES,
  type RecordType,
  type RpcCall,
  type RpcMethods,
  type StoreCapability,
  defineMethod,
  masterOnly,
  canonicalIp,
  domainNameSchema,
  ipSchema,
  phonebookNameSchema,
  portSchema,
  recordNameSchema,
  signatureHexSchema,
  z,
} from '@plexus/core';
import type { Gateway } from './gateway.js';
import { isTxtText, MAX_TXT_BYTES, secretParam } from './validation.js';

/** Addresses per call: one record set stays well inside a 512-byte DNS answer. */
const MAX_IPS = 16;

// `record_ip` is a string or a list of strings, as the original `_records_get` accepted.
const recordIps = z.union([ipSchema, z.array(ipSchema).min(1).max(MAX_IPS)]).transform((v) => (Array.isArray(v) ? v : [v]));

/** `name` relative to `domain` (default: the gateway's threebot domain), as in the original actor. */
const where = { name: recordNameSchema, domain: domainNameSchema.optional() };

/**
 * Not in the original actor: `true` drops what conflicts with the new records under RFC 1034
 * §3.6.2 (a CNAME and other data on one name) instead of refusing with ERR_CNAME_CONFLICT.
 */
const replace = z.boolean().default(false);
const register = { ...where, replace };

function family(ips: readonly string[], want: 4 | 6, type: string): void {
  const bad = ips.find((ip) => canonicalIp(ip)?.family !== want);
  if (bad !== undefined) {
    throw new PlexusError('ERR_PARAMS_INVALID', `record_ip: '${bad}' is not an IPv${want} address, which ${type} records hold`, { data: { path: 'record_ip' } });
  }
}

function mutation<S extends z.ZodType>(params: S, handler: (p: z.output<S>, call: RpcCall) => Promise<unknown>): RpcMethods[string] {
  return defineMethod({ mutating: true, params, handler });
}

/** The gateway's protocol; the CLI and other plugins' clients use this constant. */
export { GATEWAY_PROTOCOL } from './protocol.js';

/**
 * The gateway's RPC methods (`/plexus/gateway/1`), named and parametrised like the ThreeFold
 * gateway actor. Every change travels in a signed envelope and must be signed by the key the
 * phonebook holds for the name that owns the DNS name (README: "Who may change what"); the
 * expose methods also carry the original signature over the name. With `store`, changes are gated
 * by `masterOnly` (sentinel groups: refused on a standby, acknowledged after WAIT).
 */
export function gatewayMethods(gateway: Gateway, store?: StoreCapability): RpcMethods {
  const methods: RpcMethods = {
    domain_register_a: mutation(z.strictObject({ ...register, record_ip: recordIps }), async (p, call) => {
      family(p.record_ip, 4, 'A');
      return logged(call, await gateway.register(call, p.name, p.domain, 'a', p.record_ip, p.replace));
    }),
    domain_register_aaaa: mutation(z.strictObject({ ...register, record_ip: recordIps }), async (p, call) => {
      family(p.record_ip, 6, 'AAAA');
      return logged(call, await gateway.register(call, p.name, p.domain, 'aaaa', p.record_ip, p.replace));
    }),
    domain_register_cname: mutation(z.strictObject({ ...register, host: domainNameSchema }), async (p, call) =>
      logged(call, await gateway.register(call, p.name, p.domain, 'cname', [p.host], p.replace)),
    ),
    domain_register_txt: mutation(
      z.strictObject({ ...register, text: z.string().refine(isTxtText, `expected 1..${MAX_TXT_BYTES} UTF-8 bytes without control characters`) }),
      async (p, call) => logged(call, await gateway.register(call, p.name, p.domain, 'txt', [p.text], p.replace)),
    ),
    domain_delete: mutation(
      z
        .strictObject({ ...where, type: z.enum(RECORD_TYPES as [RecordType, ...RecordType[]]).optional(), value: z.string().min(1).max(MAX_TXT_BYTES * 4).optional() })
        .refine((p) => p.value === undefined || p.type !== undefined, { message: 'value needs a type', path: ['value'] }),
      async (p, call) => {
        const result = await gateway.remove(call, p.name, p.domain, p.type, p.value);
        call.log.info({ fqdn: result.fqdn, type: p.type, removed: result.removed }, 'domain_delete');
        return result;
      },
    ),
    tcpservice_ip_register: mutation(
      z.strictObject({ domain: domainNameSchema, privateip: ipSchema, tlsport: portSchema.default(DEFAULT_TLS_PORT), httpport: portSchema.default(DEFAULT_HTTP_PORT) }),
      async (p, call) => logged(call, await gateway.registerTcp(call, p.domain, { addr: p.privateip, tlsport: p.tlsport, httpport: p.httpport, clientsecret: '' })),
    ),
    tcpservice_client_register: mutation(z.strictObject({ domain: domainNameSchema, client_secret: secretParam }), async (p, call) =>
      logged(call, await gateway.registerTcp(call, p.domain, { addr: '', tlsport: DEFAULT_TLS_PORT, httpport: DEFAULT_HTTP_PORT, clientsecret: p.client_secret })),
    ),
    domain_tcpservice_ip_expose: mutation(z.strictObject({ threebot_name: phonebookNameSchema, privateip: ipSchema, signature: signatureHexSchema, replace }), async (p, call) =>
      logged(call, await gateway.exposeIp(call, p.threebot_name, p.privateip, p.signature, p.replace)),
    ),
    domain_tcpservice_client_expose: mutation(z.strictObject({ threebot_name: phonebookNameSchema, client_secret: secretParam, signature: signatureHexSchema, replace }), async (p, call) =>
      logged(call, await gateway.exposeClient(call, p.threebot_name, p.client_secret, p.signature, p.replace)),
    ),
    list: defineMethod({
      mutating: false,
      params: z.strictObject({ name: phonebookNameSchema }),
      handler: async (p) => gateway.list(p.name),
    }),
  };
  // In a sentinel group only the master takes changes, each acknowledged once replicated.
  return store === undefined ? methods : masterOnly(methods, store);
}

/** One info line per change (never the secret), then the result unchanged. */
function logged<R extends { fqdn: string }>(call: RpcCall, result: R): R {
  call.log.info({ fqdn: result.fqdn }, call.method);
  return result;
}
