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
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'ERR_METHOD_UNKNOWN', message: `${req.method} ${req.url}` } }));
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

/** GET a path from a node's admin socket. */
export async function adminGet(socketPath: string, path: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { error?: { message: string } };
          if (res.statusCode !== 200) reject(new PlexusError('ERR_INTERNAL', parsed.error?.message ?? `HTTP ${res.statusCode}`));
          else resolve(parsed);
        } catch {
          reject(new PlexusError('ERR_INTERNAL', 'the admin socket answered with something that is not JSON'));
        }
      });
    });
    req.on('timeout', () => req.destroy(new PlexusError('ERR_TIMEOUT', `no answer from ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof PlexusError) reject(err);
      else if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new PlexusError('ERR_CONNECT', `the node is not running (no admin socket at ${socketPath})`));
      else reject(new PlexusError('ERR_CONNECT', `${socketPath}: ${err.message}`));
    });
    req.end();
  });
}
