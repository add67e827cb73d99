import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { PlexusError, isUnavailableError, parseHostPort, type Logger, type PluginMetrics } from '@plexus/core';
import { API_ERRORS } from './errors.js';
import type { EventHub } from './events.js';
import { openApiDocument, propertyTypes } from './openapi.js';
import { type ApiDeps, type ApiRoute, methodSchema, paramsError, runRpcRoute, servedRoutes, ROUTES } from './routes.js';

/** The dashboard's files (plain HTML/CSS/JS, no build step), served from memory. */
const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));
const STATIC: Record<string, string> = { '/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css' };
const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** Paths readable without the token besides the public API routes. */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/events', '/openapi.json', ...Object.keys(STATIC)]);

export interface ApiServerOptions {
  deps: ApiDeps;
  events: EventHub | undefined;
  metrics: PluginMetrics;
  version: string;
  /** The token's bytes, when one is configured. */
  token: string | undefined;
  log: Logger;
}

/** HTTP status of an error code. */
function statusOf(code: string): number {
  if (code === 'ERR_NOT_FOUND' || code === 'ERR_METHOD_UNKNOWN' || code === API_ERRORS.ERR_API_NOT_SERVED) return 404;
  if (code === 'ERR_PARAMS_INVALID') return 400;
  if (code === API_ERRORS.ERR_API_TOKEN_REQUIRED) return 401;
  if (code === 'ERR_RATE_LIMITED') return 429;
  if (code === 'ERR_UNAVAILABLE' || code === API_ERRORS.ERR_API_TOO_MANY_CLIENTS) return 503;
  return 500;
}

function sendError(reply: FastifyReply, err: PlexusError): FastifyReply {
  return reply.code(statusOf(err.code)).type('application/json').send({ error: err.toWire() });
}

/** Constant-time comparison of a presented bearer token (digests first, so lengths never differ). */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** The fastify instance with every route, hook and limit; `listen` is the caller's. */
export async function buildServer(opts: ApiServerOptions): Promise<FastifyInstance> {
  const { deps, events, metrics, token } = opts;
  const { limits } = deps.config;
  const app = Fastify({
    logger: false,
    bodyLimit: limits.bodyLimitBytes,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Names are up to 253 characters.
    maxParamLength: 300,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  app.server.maxConnections = limits.maxConnections;
  app.server.headersTimeout = Math.min(limits.requestTimeoutMs, 60_000);
  const perIp = new Map<string, number>();
  app.server.on('connection', (socket) => {
    const ip = socket.remoteAddress ?? '?';
    const n = (perIp.get(ip) ?? 0) + 1;
    if (n > limits.maxPerIp) {
      refused.inc();
      socket.destroy();
      return;
    }
    perIp.set(ip, n);
    socket.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left <= 0) perIp.delete(ip);
      else perIp.set(ip, left);
    });
  });

  const requests = metrics.counter({ name: 'http_requests_total', help: 'HTTP requests answered, by route and status', labelNames: ['route', 'status'] });
  const latency = metrics.histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route',
    labelNames: ['route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  });
  const refused = metrics.counter({ name: 'http_connections_refused_total', help: 'Connections closed at accept: their IP held plugins.api.limits.maxPerIp' });
  app.addHook('onResponse', async (req, reply) => {
    // The route template, never the raw URL: a client cannot grow the series.
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ route, status: String(reply.statusCode) });
    latency.observe({ route }, reply.elapsedTime / 1000);
  });

  const privateRoutes = new Set([...ROUTES.filter((r) => !r.public).map((r) => fastifyPath(r.path)), '/metrics']);
  app.addHook('onRequest', async (req, reply) => {
    if (token === undefined) return;
    const route = req.routeOptions.url;
    if (route === undefined || PUBLIC_PATHS.has(route) || !privateRoutes.has(route)) return;
    const header = req.headers.authorization;
    const presented = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    if (!tokenMatches(presented, token)) return sendError(reply, new PlexusError(API_ERRORS.ERR_API_TOKEN_REQUIRED, 'this route needs the bearer token (plugins.api.token)'));
  });

  const origins = deps.config.corsOrigins;
  if (origins.length > 0) {
    app.addHook('onSend', async (req, reply) => {
      const origin = req.headers.origin;
      if (origin !== undefined && (origins.includes('*') || origins.includes(origin))) {
        reply.header('access-control-allow-origin', origins.includes('*') ? '*' : origin);
        reply.header('vary', 'Origin');
      }
    });
  }

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof PlexusError) return sendError(reply, err);
    const status = (err as { statusCode?: number }).statusCode;
    // Fastify's own refusals (body too large, bad content type) keep their 4xx status.
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).type('application/json').send({ error: new PlexusError('ERR_REQUEST_INVALID', (err as Error).message).toWire() });
    }
    if (isUnavailableError(err)) return sendError(reply, new PlexusError('ERR_UNAVAILABLE', 'the store is not reachable; retry later'));
    opts.log.error({ err }, 'api route failed');
    return sendError(reply, new PlexusError('ERR_INTERNAL', 'internal error'));
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, new PlexusError('ERR_NOT_FOUND', `no route ${req.method} ${req.url.slice(0, 200)}`)));

  for (const route of ROUTES) app.get(fastifyPath(route.path), (req) => answer(route, req, deps));

  app.get('/openapi.json', async () => openApiDocument(deps, opts.version));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = await readiness(deps);
    return reply.code(r.ready ? 200 : 503).send(r);
  });
  app.get('/metrics', async (_req, reply) => {
    const { contentType, text } = await deps.inspect.metrics();
    return reply.type(contentType).send(text);
  });
  app.get('/events', (req, reply) => {
    if (events === undefined) return sendError(reply, new PlexusError(API_ERRORS.ERR_API_NOT_SERVED, 'this node runs no store: there are no events'));
    const last = Number(req.headers['last-event-id']);
    reply.hijack();
    if (!events.attach(reply.raw, Number.isSafeInteger(last) ? last : undefined)) {
      const body = JSON.stringify({ error: new PlexusError(API_ERRORS.ERR_API_TOO_MANY_CLIENTS, 'too many /events clients').toWire() });
      reply.raw.writeHead(503, { 'content-type': 'application/json' }).end(body);
    }
  });

  const files = new Map<string, Buffer>();
  for (const [path, file] of Object.entries(STATIC)) files.set(path, await readFile(join(PUBLIC_DIR, file)));
  for (const [path, file] of Object.entries(STATIC)) {
    app.get(path, (_req, reply) =>
      reply
        .type(TYPES[file.split('.').pop()!]!)
        .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache')
        .send(files.get(path)),
    );
  }
  return app;
}

/** `/api/v1/names/{name}` → `/api/v1/names/:name`. */
function fastifyPath(path: string): string {
  return path.replace(/\{([a-z_]+)\}/g, ':$1');
}

async function answer(route: ApiRoute, req: FastifyRequest, deps: ApiDeps): Promise<unknown> {
  if (!servedRoutes(deps).includes(route)) {
    throw new PlexusError(API_ERRORS.ERR_API_NOT_SERVED, `this node does not serve ${route.path} (its plugin is not configured here)`);
  }
  const path = req.params as Record<string, string>;
  const query = req.query as Record<string, unknown>;
  if (route.kind === 'rpc') {
    const schema = methodSchema(route, deps.inspect)!;
    return runRpcRoute(route, path, query, deps, propertyTypes(schema));
  }
  const parsed = route.params.safeParse({ ...query, ...path });
  if (!parsed.success) throw paramsError(parsed.error);
  return route.handler(parsed.data as Record<string, unknown>, deps);
}

/** Ready: every plugin started, and a replica store's link to its master up. */
export async function readiness(deps: ApiDeps): Promise<{ ready: boolean; plugins: { name: string; state: string }[]; store?: { role: string; masterLink?: string } }> {
  const plugins = deps.inspect.plugins();
  let ready = plugins.every((p) => p.state === 'started');
  let store: { role: string; masterLink?: string } | undefined;
  if (deps.store !== undefined) {
    try {
      const s = await deps.store.status();
      store = { role: s.role, ...(s.masterLink === undefined ? {} : { masterLink: s.masterLink }) };
      if (s.role === 'replica' && s.masterLink !== 'up') ready = false;
    } catch {
      store = { role: deps.store.role, masterLink: 'unreachable' };
      ready = false;
    }
  }
  return { ready, plugins, ...(store === undefined ? {} : { store }) };
}

/** `host` and `port` of a listen address. */
export function listenTarget(listen: string): { host: string; port: number } {
  const hp = parseHostPort(listen, true, true)!;
  return { host: hp.host, port: hp.port };
}
