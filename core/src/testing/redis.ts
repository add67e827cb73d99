import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

import { freePort } from '../net/free-port.js';

export interface RedisServer {
  port: number;
  /** A new client; closed by `stop()`. */
  client(): Redis;
  stop(): Promise<void>;
}

export interface RedisOptions {
  /** `notify-keyspace-events` value; omitted: redis's default (off). */
  notify?: string;
  /** Prefix of the temp dir, so a leftover says which package made it. Default `plexus-redis-`. */
  tmpPrefix?: string;
  /** More `redis-server` arguments, e.g. ['--rename-command', 'CONFIG', '']. */
  args?: string[];
}

/**
 * Test support shared by the packages' test suites (imported as `@plexus/core/testing`; not part
 * of the runtime API).
 *
 * A real, throw-away redis-server on a free loopback port, without persistence. Resolves once the
 * server logs that it accepts connections; `stop()` closes the clients and kills the server.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), options.tmpPrefix ?? 'plexus-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  if (options.notify !== undefined) args.push('--notify-keyspace-events', options.notify);
  args.push(...(options.args ?? []));
  const child: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const clients: Redis[] = [];
  let exited = false;
  child.once('exit', () => (exited = true));
  const stop = async (): Promise<void> => {
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    if (!exited) {
      const gone = once(child, 'exit');
      child.kill('SIGKILL');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      child.once('error', (err) => reject(new Error(`cannot run redis-server (apt-get install -y redis-server): ${err.message}`)));
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    port,
    client() {
      const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
      clients.push(c);
      return c;
    },
    stop,
  };
}
