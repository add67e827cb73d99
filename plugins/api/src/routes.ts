import {
  PlexusError,
  TCPROUTER_KEY_PATTERN,
  decodeService,
  domainNameSchema,
  fqdnOfTcprouterKey,
  normalizeName,
  parseField,
  protocolId,
  zoneKey,
  z,
  type DnsCapability,
  type GatewayCapability,
  type NodeInspector,
  type StoreCapability,
} from '@plexus/core';
import type { ApiConfig } from './config.js';

/**
 * The API's routes. Those backed by another plugin's read-only RPC method (`rpc`) run that very
 * method in process (`inspect.callRead`) and take their parameters from its params schema, so
 * the HTTP API, its OpenAPI document and the RPC share one definition; a node that does not serve
 * the method leaves the route out of the document and answers it 404 ERR_API_NOT_SERVED. The
 * others read the store or the node directly, with their query schemas here.
 */

/** What route handlers reach: the node and the optional capabilities present on it. */
export interface ApiDeps {
  config: ApiConfig;
  inspect: NodeInspector;
  store: StoreCapability | undefined;
  gateway: GatewayCapability | undefined;
  dns: DnsCapability | undefined;
}

/** Every list answers `{items, next}`; `next` is the opaque cursor of the following page, null at the end. */
export const pageQuery = z.strictObject({
  /** Where the page starts: the `next` of the previous page. Default: the beginning. */
  cursor: z.string().max(64).regex(/^[0-9]+$/, 'expected the next of a previous page').optional(),
  /** Items per page, at most plugins.api.maxPageSize. */
  limit: z.coerce.number().int().min(1).optional(),
});

interface BaseRoute {
  /** OpenAPI path template (`/api/v1/names/{name}`). */
  path: string;
  summary: string;
  tag: string;
  /** Readable without the token (the data is public anyway: DNS, the registry). */
  public: boolean;
}

/** A route that runs another plugin's read-only RPC method. */
export interface RpcRoute extends BaseRoute {
  kind: 'rpc';
  protocol: string;
  method: string;
  /**
   * `native`: the method pages itself (`cursor`/`limit` params, `{<items>, next}` result);
   * `offset`: the api pages the method's `items` array; `none`: one object.
   */
  paging: 'native' | 'offset' | 'none';
  /** Field of the result holding the list (paged routes). */
  items?: string;
  /** Properties of the method's params taken from the query string (the path's are named in `path`). */
  query: string[];
}

/** A route answered by the api itself. */
export interface OwnRoute extends BaseRoute {
  kind: 'own';
  /** Query schema (path parameters included, by name). */
  params: z.ZodObject;
  /** Whether the node has what the route needs. */
  available(deps: ApiDeps): boolean;
  /** Schema of the answer, for the document. */
  response: z.ZodType;
  handler(params: Record<string, unknown>, deps: ApiDeps): Promise<unknown>;
}

export type ApiRoute = RpcRoute | OwnRoute;

const PHONEBOOK = protocolId('phonebook', 1);
const GATEWAY = protocolId('gateway', 1);
const HOSTS = protocolId('hosts', 1);

const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next: z.string().nullable() });

const zoneParam = z.strictObject({ zone: domainNameSchema, ...pageQuery.shape });

const recordEntry = z.object({ name: z.string(), records: z.record(z.string(), z.unknown()).nullable(), error: z.string().optional() });
const routeEntry = z.object({ domain: z.string(), addr: z.string(), tlsport: z.number(), httpport: z.number(), tunnel: z.boolean(), error: z.string().optional() });
const dnsNode = z.object({
  addr: z.string(),
  role: z.enum(['master', 'replica']),
  state: z.string(),
  lagBytes: z.number().nullable(),
});

export const ROUTES: readonly ApiRoute[] = [
  { kind: 'rpc', path: '/api/v1/names', summary: 'Registered names, in tid order', tag: 'names', public: true, protocol: PHONEBOOK, method: 'list', paging: 'native', items: 'records', query: ['cursor', 'limit'] },
  { kind: 'rpc', path: '/api/v1/names/{name}', summary: "A name's phonebook record", tag: 'names', public: true, protocol: PHONEBOOK, method: 'get', paging: 'none', query: [] },
  { kind: 'rpc', path: '/api/v1/names/{name}/domains', summary: "A name's DNS entries and TCP routes", tag: 'names', public: true, protocol: GATEWAY, method: 'list', paging: 'offset', items: 'entries', query: [] },
  { kind: 'rpc', path: '/api/v1/hosts', summary: 'Hosts and their capacity', tag: 'hosts', public: true, protocol: HOSTS, method: 'hosts_list', paging: 'offset', items: 'hosts', query: ['available_only'] },
  {
    kind: 'own',
    path: '/api/v1/zones',
    summary: 'Zones the gateway manages and the DNS plugin answers',
    tag: 'dns',
    public: true,
    params: pageQuery,
    response: page(z.object({ zone: z.string(), gateway: z.boolean(), dns: z.boolean() })),
    available: (d) => d.gateway !== undefined || d.dns !== undefined,
    async handler(p, d) {
      const zones = [...new Set([...(d.gateway?.zones ?? []), ...(d.dns?.zones ?? [])])].sort();
      return offsetPage(
        zones.map((zone) => ({ zone, gateway: d.gateway?.zones.includes(zone) ?? false, dns: d.dns?.zones.includes(zone) ?? false })),
        p,
        d.config,
      );
    },
  },
  {
    kind: 'own',
    path: '/api/v1/zones/{zone}/records',
    summary: "A zone's records as DNS answers them (the zone hash, CoreDNS redis format)",
    tag: 'dns',
    public: true,
    params: zoneParam,
    response: page(recordEntry),
    available: (d) => d.store !== undefined,
    async handler(p, d) {
      const { limit, cursor } = pageOf(p, d.config);
      const [next, flat] = await d.store!.redis.hscan(zoneKey(normalizeName(p.zone as string)), cursor, 'COUNT', limit);
      const items = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        try {
          items.push({ name: flat[i]!, records: parseField(flat[i + 1]!) as Record<string, unknown> });
        } catch {
          items.push({ name: flat[i]!, records: null, error: 'not a JSON object' });
        }
      }
      return { items, next: next === '0' ? null : next };
    },
  },
  {
    kind: 'own',
    path: '/api/v1/routes',
    summary: 'TCP router routes (tcprouter format); tunnel secrets are never shown',
    tag: 'routes',
    public: true,
    params: pageQuery,
    response: page(routeEntry),
    available: (d) => d.store !== undefined,
    async handler(p, d) {
      const { limit, cursor } = pageOf(p, d.config);
      const { keys, next } = await scanPage(d.store!, cursor, limit, TCPROUTER_KEY_PATTERN);
      const values = keys.length === 0 ? [] : await d.store!.redis.mget(keys);
      const items = keys.flatMap((key, i) => {
        const raw = values[i];
        if (raw === null || raw === undefined) return [];
        const domain = fqdnOfTcprouterKey(key) ?? key;
        try {
          const { service } = decodeService(raw);
          return [{ domain, addr: service.addr, tlsport: service.tlsport, httpport: service.httpport, tunnel: service.clientsecret !== '' }];
        } catch (err) {
          return [{ domain, addr: '', tlsport: 0, httpport: 0, tunnel: false, error: (err as Error).message.slice(0, 200) }];
        }
      });
      return { items, next };
    },
  },
  {
    kind: 'own',
    path: '/api/v1/dns-nodes',
    summary: "The store's replicas (DNS nodes) with their replication lag; on a replica, its own link",
    tag: 'dns',
    public: false,
    params: pageQuery,
    response: page(dnsNode),
    available: (d) => d.store !== undefined,
    async handler(p, d) {
      const s = (await d.store!.status()) as Awaited<ReturnType<StoreCapability['status']>> & { replicas?: { addr: string; state: string; lagBytes: number }[] };
      const nodes =
        s.role === 'master'
          ? (s.replicas ?? []).map((r) => ({ addr: r.addr, role: 'replica' as const, state: r.state, lagBytes: r.lagBytes }))
          : [{ addr: s.address, role: 'replica' as const, state: s.masterLink === 'up' ? 'online' : 'link down', lagBytes: s.lagBytes ?? null }];
      return offsetPage(nodes, p, d.config);
    },
  },
  {
    kind: 'own',
    path: '/api/v1/status',
    summary: 'What `plexus status` shows: node, RPC counters, every plugin',
    tag: 'node',
    public: false,
    params: z.strictObject({}),
    response: z.object({ node: z.record(z.string(), z.unknown()), plugins: z.record(z.string(), z.unknown()) }).loose(),
    available: () => true,
    handler: async (_p, d) => d.inspect.status(),
  },
];

/** Limit and cursor of a page request, with the configured default and ceiling. */
export function pageOf(p: Record<string, unknown>, config: ApiConfig): { limit: number; cursor: string } {
  const limit = Math.min((p.limit as number | undefined) ?? config.defaultPageSize, config.maxPageSize);
  return { limit, cursor: (p.cursor as string | undefined) ?? '0' };
}

/** A page of an array held in memory; the cursor is the offset. */
export function offsetPage<T>(all: readonly T[], p: Record<string, unknown>, config: ApiConfig): { items: T[]; next: string | null } {
  const { limit, cursor } = pageOf(p, config);
  const from = Number(cursor);
  const items = all.slice(from, from + limit);
  return { items, next: from + limit < all.length ? String(from + limit) : null };
}

/** SCAN rounds on, up to `limit` keys (SCAN may answer none per round in a large keyspace), at most 64 rounds. */
async function scanPage(store: StoreCapability, cursor: string, limit: number, pattern: string): Promise<{ keys: string[]; next: string | null }> {
  const keys: string[] = [];
  let at = cursor;
  for (let round = 0; round < 64 && keys.length < limit; round++) {
    const [next, found] = await store.redis.scan(at, 'MATCH', pattern, 'COUNT', Math.max(limit, 1000), 'TYPE', 'string');
    keys.push(...found);
    at = next;
    if (at === '0') break;
  }
  return { keys, next: at === '0' ? null : at };
}

/** The document's and the router's view of which routes this node answers. */
export function servedRoutes(deps: ApiDeps): ApiRoute[] {
  const methods = new Set(deps.inspect.readMethods().map((m) => `${m.protocol} ${m.method}`));
  return ROUTES.filter((r) => (r.kind === 'rpc' ? methods.has(`${r.protocol} ${r.method}`) : r.available(deps)));
}

/** The params schema of an RPC route's method, or undefined when nothing serves it now. */
export function methodSchema(route: RpcRoute, inspect: NodeInspector): z.ZodType | undefined {
  return inspect.readMethods().find((m) => m.protocol === route.protocol && m.method === route.method)?.params;
}

/** Path parameter names of a template. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
}

/** Runs an RPC route: params from the path and the query (typed by the method's JSON schema), then the method. */
export async function runRpcRoute(route: RpcRoute, path: Record<string, string>, query: Record<string, unknown>, deps: ApiDeps, types: Record<string, string | undefined>): Promise<unknown> {
  const params: Record<string, unknown> = { ...path };
  for (const key of route.query) if (query[key] !== undefined) params[key] = coerce(query[key], types[key]);
  if (route.paging === 'native') {
    const limit = params.limit === undefined ? deps.config.defaultPageSize : Math.min(Number(params.limit), deps.config.maxPageSize);
    params.limit = Number.isFinite(limit) ? limit : params.limit;
  }
  if (route.paging === 'offset') {
    const extra = pageQuery.safeParse({ cursor: query.cursor, limit: query.limit });
    if (!extra.success) throw paramsError(extra.error);
    const result = (await deps.inspect.callRead(route.protocol, route.method, params)) as Record<string, unknown>;
    const list = (result[route.items!] as unknown[] | undefined) ?? [];
    const { [route.items!]: _list, ...rest } = result;
    return { ...rest, ...offsetPage(list, extra.data, deps.config) };
  }
  const result = (await deps.inspect.callRead(route.protocol, route.method, params)) as Record<string, unknown>;
  if (route.paging === 'none') return result;
  return { items: result[route.items!] ?? [], next: result.next === null || result.next === undefined ? null : String(result.next) };
}

/** A query value typed as the schema wants it (query strings are text); left as is when it does not parse. */
function coerce(value: unknown, type: string | undefined): unknown {
  if (typeof value !== 'string') return value;
  if ((type === 'integer' || type === 'number') && /^-?[0-9]+(\.[0-9]+)?$/.test(value)) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

/** ERR_PARAMS_INVALID naming the first bad field, as the RPC server answers. */
export function paramsError(error: z.ZodError): PlexusError {
  const issue = error.issues[0];
  const path = issue?.path.join('.') || '(params)';
  return new PlexusError('ERR_PARAMS_INVALID', `${path}: ${issue?.message ?? 'invalid'}`, { data: { path } });
}
