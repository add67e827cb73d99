import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '@plexus/core';
import { TIMED_OUT, withDeadline } from './deadline.js';

/** Where and how to connect: a URL (external mode) and/or explicit options. */
export interface ClientTarget {
  readonly url?: string | undefined;
  readonly options: RedisOptions;
}

/** Longest pause between reconnect attempts: redis is back in use within this after it returns. */
const MAX_RECONNECT_DELAY_MS = 2_000;

/** Reconnect forever with capped exponential backoff (50 ms, 100 ms, ... 2 s). */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt - 1, 10), MAX_RECONNECT_DELAY_MS);
}

/**
 * Opens a client with the store's settings. The command and its duplicates share them, so a
 * `duplicate()` behaves exactly like the shared connection.
 */
export function openClient(target: ClientTarget, log: Logger): Redis {
  const options: RedisOptions = {
    ...target.options,
    lazyConnect: false,
    // One retry covers a command caught by a reconnect; after that it fails instead of hanging.
    maxRetriesPerRequest: 1,
    retryStrategy: reconnectDelay,
    connectionName: 'plexus-store',
  };
  const client = target.url === undefined ? new Redis(options) : new Redis(target.url, options);
  // Until the first ready, commands queue so that a fresh client (e.g. a duplicate) can be used at
  // once; afterwards nothing queues, so while redis is down commands fail fast instead of piling up.
  client.once('ready', () => {
    client.options.enableOfflineQueue = false;
  });
  let wasReady = false;
  client.on('ready', () => {
    if (wasReady) log.info('store connection is back');
    wasReady = true;
  });
  client.on('close', () => {
    if (wasReady && client.status !== 'end') log.warn('store connection lost; reconnecting');
  });
  // Without a listener ioredis prints every failed reconnect to the console.
  client.on('error', (err: Error) => log.debug({ err }, 'store connection error'));
  return client;
}

/**
 * Waits until `client` is ready (connected, authenticated, data loaded) or `ms` passed.
 * @returns undefined when ready, else why not (the last connection error, if any).
 */
export async function waitReady(client: Redis, ms: number): Promise<string | undefined> {
  if (client.status === 'ready') return undefined;
  let lastError: string | undefined;
  const onError = (err: Error): void => {
    lastError = err.message;
  };
  let onReady: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
    client.once('ready', resolve);
  });
  client.on('error', onError);
  try {
    const result = await withDeadline(ready, ms);
    return result === TIMED_OUT ? `not ready within ${ms} ms (${lastError ?? 'no answer'})` : undefined;
  } finally {
    client.off('error', onError);
    if (onReady !== undefined) client.off('ready', onReady);
  }
}

/**
 * A connection for one question: not yet connected (`connect()` it), no reconnects, no ready check
 * (which would block while an AOF loads), no offline queue, connect within `ms`. With `password`
 * ioredis sends AUTH first; without, the caller may send its own.
 */
export function oneShotClient(host: string, port: number, ms: number, password?: string): Redis {
  return new Redis({
    host,
    port,
    ...(password === undefined ? {} : { password }),
    lazyConnect: true,
    enableReadyCheck: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: ms,
    // RESP2: no HELLO at connect, which a server with a password refuses before AUTH (and ioredis then
    // closes the connection); the handshake must not send commands before our own AUTH either.
    protocol: 2,
    disableClientInfo: true,
  });
}

/** What a one-shot `INFO` query got: the text, or why there is none. */
export type InfoAnswer = { ok: true; info: string } | { ok: false; error: string; authFailed: boolean };

// Replies of a server that refuses our credentials (or wants some we did not send).
const AUTH_REFUSED = /^(WRONGPASS|NOAUTH)|invalid password|without any password configured/i;

/**
 * Runs `INFO [section]` on the redis at host:port over a fresh connection: one try, no reconnects, no
 * ready check (which would block while the AOF loads), at most `ms` in all. AUTH is sent by hand so
 * that a refused password comes back as the answer instead of as an event on the side.
 */
export async function queryInfo(host: string, port: number, password: string | undefined, section?: string, ms = 1_000): Promise<InfoAnswer> {
  const probe = oneShotClient(host, port, ms);
  // A failed connect rejects with a bare "Connection is closed."; the reason (ECONNREFUSED, ...) comes
  // as an error event.
  let socketError: string | undefined;
  probe.on('error', (err: Error) => {
    socketError ??= err.message;
  });
  const query = async (): Promise<string> => {
    await probe.connect();
    if (password !== undefined) await probe.auth(password);
    return section === undefined ? probe.info() : probe.info(section);
  };
  try {
    const info = await withDeadline(query(), ms);
    if (info === TIMED_OUT) return { ok: false, error: `no answer within ${ms} ms`, authFailed: false };
    return { ok: true, info };
  } catch (err) {
    const message = (err as Error).message;
    const error = message === 'Connection is closed.' && socketError !== undefined ? socketError : message;
    return { ok: false, error, authFailed: AUTH_REFUSED.test(error) };
  } finally {
    probe.disconnect();
  }
}

/** What a one-shot probe learnt about the server on a port. */
export interface ProbeResult {
  pid: number;
  /** Still loading its AOF: up, but not serving data yet. */
  loading: boolean;
}

/**
 * Asks the redis at host:port for its process id and loading state (`INFO`): used to tell our freshly
 * spawned child apart from any other server answering on the same port.
 */
export async function probeRedis(host: string, port: number, password: string | undefined, ms = 1_000): Promise<ProbeResult | undefined> {
  const answer = await queryInfo(host, port, password, undefined, ms);
  if (!answer.ok) return undefined;
  const pid = /^process_id:(\d+)/m.exec(answer.info)?.[1];
  return pid === undefined ? undefined : { pid: Number(pid), loading: /^loading:1/m.test(answer.info) };
}

/** Closes a client politely when it is connected, and for sure in every case. */
export async function closeClient(client: Redis, ms = 2_000): Promise<void> {
  if (client.status === 'ready') await withDeadline(client.quit().catch(() => undefined), ms);
  client.disconnect();
}
