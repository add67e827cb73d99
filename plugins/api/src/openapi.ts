import { z } from '@plexus/core';
import { type ApiDeps, type ApiRoute, methodSchema, pageQuery, pathParams, servedRoutes } from './routes.js';

/**
 * The OpenAPI 3.1 document of what this node serves, built from the same zod schemas the RPC
 * methods and the api's own routes validate with (`z.toJSONSchema`), so it cannot drift from
 * them. Routes whose plugin is absent on this node are left out.
 */

type Json = Record<string, unknown>;

/** JSON schema of a zod schema as the caller sends it (input side: defaults optional, no transforms). */
export function jsonSchemaOf(schema: z.ZodType): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  return rest;
}

/** Properties of an object schema, merged over the branches of a union (`get` takes `{name}` or `{tid}`). */
export function propertiesOf(schema: Json): Record<string, Json> {
  const own = (schema.properties as Record<string, Json> | undefined) ?? {};
  const branches = [...((schema.anyOf as Json[] | undefined) ?? []), ...((schema.oneOf as Json[] | undefined) ?? [])];
  return Object.assign({}, ...branches.map(propertiesOf), own) as Record<string, Json>;
}

const typesCache = new WeakMap<z.ZodType, Record<string, string | undefined>>();

/** Top-level JSON type of each property (what the query-string coercion needs); computed once per schema. */
export function propertyTypes(schema: z.ZodType): Record<string, string | undefined> {
  let types = typesCache.get(schema);
  if (types === undefined) {
    types = Object.fromEntries(Object.entries(propertiesOf(jsonSchemaOf(schema))).map(([k, v]) => [k, typeof v.type === 'string' ? v.type : undefined]));
    typesCache.set(schema, types);
  }
  return types;
}

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', pattern: '^ERR_[A-Z0-9_]+$' }, message: { type: 'string' }, data: { type: 'object' } },
    },
  },
} as const;

const errorResponse = (description: string): Json => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

/** The parameters and 200-answer schema of one route. */
function operation(route: ApiRoute, deps: ApiDeps): Json {
  const inPath = new Set(pathParams(route.path));
  let props: Record<string, Json>;
  let queryNames: string[];
  let response: Json;
  if (route.kind === 'rpc') {
    const schema = jsonSchemaOf(methodSchema(route, deps.inspect)!);
    props = propertiesOf(schema);
    queryNames = [...route.query];
    if (route.paging === 'offset') {
      props = { ...props, ...propertiesOf(jsonSchemaOf(pageQuery)) };
      queryNames.push('cursor', 'limit');
    }
    if (route.paging === 'native') props = { ...props, cursor: { type: 'string', pattern: '^[0-9]+$' } };
    const item = { type: 'object', description: `as the ${route.protocol} method \`${route.method}\` answers` };
    response = route.paging === 'none' ? item : { type: 'object', required: ['items', 'next'], properties: { items: { type: 'array', items: item }, next: { type: ['string', 'null'] } } };
  } else {
    props = propertiesOf(jsonSchemaOf(route.params));
    queryNames = Object.keys(props).filter((k) => !inPath.has(k));
    response = jsonSchemaOf(route.response);
  }
  const parameters = [
    ...[...inPath].map((name) => ({ name, in: 'path', required: true, schema: props[name] ?? { type: 'string' } })),
    ...queryNames.map((name) => ({ name, in: 'query', required: false, schema: props[name] ?? { type: 'string' } })),
  ];
  const responses: Json = {
    '200': { description: 'OK', content: { 'application/json': { schema: response } } },
    '400': errorResponse('ERR_PARAMS_INVALID: a parameter does not match its schema (data.path names it)'),
  };
  if (inPath.size > 0) responses['404'] = errorResponse('ERR_NOT_FOUND');
  if (!route.public) responses['401'] = errorResponse('ERR_API_TOKEN_REQUIRED');
  responses['503'] = errorResponse('ERR_UNAVAILABLE: the store does not answer');
  return {
    summary: route.summary,
    tags: [route.tag],
    operationId: route.path.replace(/^\/api\/v1\//, '').replace(/[{}]/g, '').replace(/[/-]/g, '_'),
    parameters,
    responses,
    ...(route.public ? { security: [] } : {}),
  };
}

/** The whole document for what this node serves now. */
export function openApiDocument(deps: ApiDeps, version: string): Json {
  const paths: Json = {};
  for (const route of servedRoutes(deps)) paths[route.path] = { get: operation(route, deps) };
  const text = (description: string, type: string): Json => ({ description, content: { [type]: { schema: { type: 'string' } } } });
  const publicGet = (summary: string, responses: Json): Json => ({ get: { summary, tags: ['operations'], security: [], responses } });
  paths['/healthz'] = publicGet('The process answers', { '200': { description: 'alive', content: { 'application/json': { schema: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } } } } } });
  const readiness = { type: 'object', required: ['ready', 'plugins'], properties: { ready: { type: 'boolean' }, plugins: { type: 'array' }, store: { type: 'object' } } };
  paths['/readyz'] = publicGet('Every plugin started and the store link up', {
    '200': { description: 'ready', content: { 'application/json': { schema: readiness } } },
    '503': { description: 'not ready (the body says why)', content: { 'application/json': { schema: readiness } } },
  });
  paths['/events'] = publicGet('Registrations and record changes as they happen (Server-Sent Events; Last-Event-ID resumes)', {
    '200': text('event stream: `name`, `record` and `route` events, JSON data', 'text/event-stream'),
    '503': errorResponse('ERR_API_TOO_MANY_CLIENTS'),
  });
  paths['/metrics'] = {
    get: { summary: 'Prometheus metrics of every plugin, the RPC server and the process', tags: ['operations'], responses: { '200': text('Prometheus text format 0.0.4', 'text/plain'), '401': errorResponse('ERR_API_TOKEN_REQUIRED') } },
  };
  paths['/openapi.json'] = publicGet('This document', { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } });
  return {
    openapi: '3.1.0',
    info: { title: 'plexus node API', version, description: 'Read-only operator API of a plexus node. Lists answer {items, next}; pass next as cursor for the following page.' },
    servers: [{ url: '/' }],
    components: { schemas: { Error: errorSchema }, securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
    security: [{ token: [] }],
    paths,
  };
}
