import { createServer, request, type Server } from 'node:http';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PlexusError } from './errors.js';

/**
 * The local admin endpoint of a running node: HTTP over a unix socket in the data dir, so only
 * users who can read the data dir (mode 0700) can reach it and nothing listens on the network.
 * `plexus status` reads GET /status from it.
 */
export const ADMIN_SOCKET = 'admin.sock';

export function adminSocketPath(dataDir: string): string {
  return join(dataDir, ADMIN_SOCKET);
}

export class AdminServer {
  private server: Server | undefined;

  constructor(
    private readonly path: string,
    private readonly status: () => Promise<unknown>,
    private readonly action?: (plugin: string, action: string, params: unknown) => Promise<unknown>,
  ) {}

  async start(): Promise<void> {
    // A socket file left by a node killed with -9 would make listen() fail with EADDRINUSE.
    await rm(this.path, { force: true });
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/status') {
        this.status().then(
          (body) => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(body));
          },
          (err: unknown) => {
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: { code: 'ERR_INTERNAL', message: (err as Error).message } }));
          },
        );
        return;
      }
      const m = /^\/plugins\/([a-z0-9-]+)\/([a-z0-9_-]+)$/.exec(req.url ?? '');
      if (req.method === 'POST' && m !== null && this.action !== undefined) {
        const action = this.action;
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => {
          body += d;
          if (body.length > MAX_ACTION_BODY) req.destroy();
        });
        req.on('end', () => {
          let params: unknown;
          try {
            params = body === '' ? {} : JSON.parse(body);
          } catch {
            return reply(res, 400, { error: { code: 'ERR_PARAMS_INVALID', message: 'the body is not JSON' } });
          }
          action(m[1]!, m[2]!, params).then(
            (result) => reply(res, 200, result ?? {}),
            (err: unknown) => {
              const e = err instanceof PlexusError ? err : new PlexusError('ERR_INTERNAL', (err as Error).message);
              reply(res, e.code === 'ERR_NOT_FOUND' ? 404 : e.code === 'ERR_INTERNAL' ? 500 : 400, { error: { code: e.code, message: e.message, ...(e.data === undefined ? {} : { data: e.data }) } });
            },
          );
        });
        return;
      }
      reply(res, 404, { error: { code: 'ERR_METHOD_UNKNOWN', message: `${req.method} ${req.url}` } });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}

/** Largest JSON body of an admin action. */
const MAX_ACTION_BODY = 1024 * 1024;

function reply(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * Runs a plugin's admin action on a running node (`POST /plugins/<plugin>/<action>`). The
 * action's PlexusError comes back as one (code, message, data).
 */
export function adminCall(socketPath: string, plugin: string, action: string, params: unknown, timeoutMs = 30_000): Promise<unknown> {
  return adminRequest(socketPath, 'POST', `/plugins/${plugin}/${action}`, JSON.stringify(params ?? {}), timeoutMs);
}

/** GET a path from a node's admin socket. */
export function adminGet(socketPath: string, path: string, timeoutMs = 5000): Promise<unknown> {
  return adminRequest(socketPath, 'GET', path, undefined, timeoutMs);
}

/** One request to the admin socket; a non-200 answer is rejected as the PlexusError it carries. */
function adminRequest(socketPath: string, method: 'GET' | 'POST', path: string, body: string | undefined, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = request({ socketPath, path, method, timeout: timeoutMs, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: { error?: { code?: string; message?: string; data?: unknown } };
        try {
          parsed = JSON.parse(text) as typeof parsed;
        } catch {
          return reject(new PlexusError('ERR_INTERNAL', 'the admin socket answered with something that is not JSON'));
        }
        if (res.statusCode === 200) resolve(parsed);
        else reject(PlexusError.fromWire(parsed.error ?? { message: `HTTP ${res.statusCode}` }));
      });
    });
    req.on('timeout', () => req.destroy(new PlexusError('ERR_TIMEOUT', `no answer from ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof PlexusError) reject(err);
      else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new PlexusError('ERR_CONNECT', `the node is not running (no admin socket at ${socketPath})`));
      else reject(new PlexusError('ERR_CONNECT', `${socketPath}: ${err.message}`));
    });
    req.end(body);
  });
}
