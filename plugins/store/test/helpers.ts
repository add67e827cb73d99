import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { silentLogger, type Logger, type PluginContext, type PluginInstance, type StoreCapability } from '@plexus/core';
import { fakeContext } from '@plexus/core/testing';
import { plugin, storeConfigSchema, type StoreConfig } from '../src/index.js';

/** A port nobody listens on right now (bound on 0, then released). */
import { freePort } from '@plexus/core';
export { freePort };

/**
 * A temp dir removed when the test ends, pass or fail. Retried: a redis-server still flushing its
 * AOF while the test ends can add a file between rm's listing and its rmdir (ENOTEMPTY), and a
 * throwing hook would skip the hooks that stop the stores, leaving the test file hanging.
 */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-store-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  return dir;
}

/** The context the core would hand the plugin (the store requires nothing); `raw` is validated like the core does. */
export function makeContext(raw: Record<string, unknown>, dataDir: string, configDir = dataDir, log: Logger = silentLogger()): PluginContext<StoreConfig> {
  return fakeContext(plugin, raw, { dataDir, configDir, log });
}

export interface Running {
  instance: PluginInstance;
  store: StoreCapability;
}

/**
 * Creates a store from a raw config block (validated like the core does), starts it and stops it when
 * the test ends, even on failure.
 */
export async function startStore(t: TestContext, raw: Record<string, unknown>, dataDir: string, configDir?: string, log?: Logger): Promise<Running> {
  const instance = createStore(t, raw, dataDir, configDir, log);
  await instance.start();
  return { instance, store: instance.capabilities?.().store as StoreCapability };
}

/** Like `startStore` without starting: for tests that expect start to fail. */
export function createStore(t: TestContext, raw: Record<string, unknown>, dataDir: string, configDir?: string, log?: Logger): PluginInstance {
  const instance = plugin.create(makeContext(raw, dataDir, configDir, log));
  t.after(() => instance.stop());
  return instance;
}

/** Process id of the redis-server behind a client. */
export async function serverPid(redis: Redis): Promise<number> {
  const info = await redis.info('server');
  return Number(/^process_id:(\d+)/m.exec(info)?.[1]);
}

/**
 * After `before` was killed: waits until the supervisor's new redis-server answers on `redis` and
 * the client is ready again. The new pid alone is not enough: during ioredis's ready check a
 * command flagged loading-safe (INFO) is answered while others (CONFIG, GET) are refused at once.
 * @returns the new pid
 */
export async function restartedPid(redis: Redis, before: number): Promise<number> {
  return waitFor('the supervisor to restart redis', async () => {
    const pid = await serverPid(redis);
    return pid !== before && redis.status === 'ready' ? pid : undefined;
  });
}

/** Kills `pid` if it still exists; for cleanup. */
export function killQuietly(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

/** A one-off client with no retries, closed when the test ends. */
export function rawClient(t: TestContext, port: number, password?: string): Redis {
  const client = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  t.after(() => client.disconnect());
  return client;
}

/** Sends one inline command over a bare socket (no HELLO, no AUTH) and returns the first reply line. */
export async function rawCommand(port: number, command: string): Promise<string> {
  const socket = createConnection({ host: '127.0.0.1', port });
  try {
    socket.write(`${command}\r\n`);
    let reply = '';
    for await (const chunk of socket) {
      reply += String(chunk);
      const end = reply.indexOf('\r\n');
      if (end >= 0) return reply.slice(0, end);
    }
    return reply;
  } finally {
    socket.destroy();
  }
}

/** One line a `recordingLogger` kept. */
export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/**
 * A logger that keeps what the plugin logs, for tests that assert on what an operator would read. It
 * inherits from a silent pino logger, so anything not overridden still works and prints nothing.
 */
export function recordingLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const log = Object.create(silentLogger()) as Logger;
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    const method = (first: unknown, second?: unknown): void => {
      if (typeof first === 'string') records.push({ level, msg: first, fields: {} });
      else records.push({ level, msg: typeof second === 'string' ? second : '', fields: (first ?? {}) as Record<string, unknown> });
    };
    Object.defineProperty(log, level, { value: method });
  }
  return { log, records };
}
