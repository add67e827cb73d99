import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { PlexusError, type PluginContext, type PluginInstance, type StoreCapability, type StoreStatus } from '@plexus/core';
import { closeClient, openClient, waitReady, type ClientTarget } from './client.js';
import type { StoreConfig } from './config.js';
import { stopLeftoverRedis } from './orphan.js';
import { listenAddress, redisPaths, renderRedisConf } from './redis-conf.js';
import { RedisChild, resolveBinary } from './redis-process.js';
import { RedisSupervisor } from './supervisor.js';

/** How long start-up waits for redis to answer (managed) or to be reachable (external). */
const READY_TIMEOUT_MS = 10_000;

/** Host our own clients dial: a wildcard bind is reached over loopback. */
function dialHost(bind: string): string {
  const host = listenAddress(bind);
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

function formatAddress(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Parses `INFO` text into a map of its `key:value` lines. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}

/** Writes a file only its owner can read (it may hold `requirepass`), replacing it atomically. */
async function writePrivateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.chmod(0o600); // the file may have existed with looser bits
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

/** The running store: the plugin instance, and behind `capability('store')` the store itself. */
export class Store implements PluginInstance, StoreCapability {
  readonly role = 'master' as const;
  readonly address: { host: string; port: number };
  private readonly managed: boolean;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private supervisor: RedisSupervisor | undefined;
  private client: Redis | undefined;
  private target: ClientTarget | undefined;

  constructor(private readonly ctx: PluginContext<StoreConfig>) {
    const c = ctx.config;
    this.managed = c.mode === 'managed';
    if (c.mode === 'external' && c.url !== undefined) {
      const url = new URL(c.url);
      this.address = { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 6379 : Number(url.port) };
    } else {
      this.address = { host: c.bind, port: c.port };
    }
  }

  /** The shared command connection. Throws ERR_UNAVAILABLE before start and after stop. */
  get redis(): Redis {
    if (this.client === undefined) throw new PlexusError('ERR_UNAVAILABLE', 'the store is not started');
    return this.client;
  }

  /** A new connection with the same settings; the caller closes it (`quit()`). */
  duplicate(): Redis {
    if (this.target === undefined) throw new PlexusError('ERR_UNAVAILABLE', 'the store is not started');
    return openClient(this.target, this.ctx.log);
  }

  start(): Promise<void> {
    this.starting ??= this.open().catch(async (err: unknown) => {
      await this.close(); // leave nothing running behind a failed start
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting?.catch(() => undefined);
      await this.close();
      this.starting = undefined;
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  /** A narrow view for other plugins: they get the capability, not start/stop. */
  capability(name: string): StoreCapability {
    if (name !== 'store') throw new PlexusError('ERR_INTERNAL', `the store plugin provides "store", not "${name}"`);
    // `redis` is a getter so a holder always sees the live connection (and ERR_UNAVAILABLE after stop).
    const store = this;
    return {
      get redis() {
        return store.redis;
      },
      duplicate: () => store.duplicate(),
      role: store.role,
      address: store.address,
      status: () => store.status(),
    };
  }

  async status(): Promise<StoreStatus> {
    let info: Map<string, string>;
    let keys: number;
    try {
      const [replication, dbsize] = await Promise.all([this.redis.info('replication'), this.redis.dbsize()]);
      info = parseInfo(replication);
      keys = dbsize;
    } catch (cause) {
      throw new PlexusError('ERR_UNAVAILABLE', `the store at ${formatAddress(this.address)} does not answer`, { cause });
    }
    const status: StoreStatus = {
      role: info.get('role') === 'slave' ? 'replica' : 'master',
      managed: this.managed,
      address: formatAddress(this.address),
      connectedReplicas: Number(info.get('connected_slaves') ?? 0),
      keys,
    };
    if (status.role === 'replica') {
      status.masterLink = info.get('master_link_status') === 'up' ? 'up' : 'down';
      const host = info.get('master_host');
      if (host !== undefined) status.masterHost = host;
      const io = Number(info.get('master_last_io_seconds_ago'));
      if (Number.isFinite(io) && io >= 0) status.lastIoSecondsAgo = io;
    }
    return status;
  }

  private async open(): Promise<void> {
    const c = this.ctx.config;
    const password = await this.readPassword();
    if (c.mode === 'external') {
      this.target = { url: c.url, options: { password } };
      await this.connect('ERR_UNAVAILABLE');
      return;
    }
    const binary = await resolveBinary(c.redisServer, this.ctx.configDir);
    if (binary === undefined) {
      throw new PlexusError(
        'ERR_DEPENDENCY_MISSING',
        `redis-server not found ("${c.redisServer}"${c.redisServer.includes('/') ? '' : ' on PATH'}); install it with: apt-get install redis-server`,
      );
    }
    const dir = join(this.ctx.dataDir, 'redis');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const paths = redisPaths(dir);
    await writePrivateFile(paths.conf, renderRedisConf({ bind: c.bind, port: c.port, dir, fsync: c.fsync, password, maxmemory: c.maxmemory }));
    await stopLeftoverRedis(paths.pidfile, dir, this.ctx.log);
    const host = dialHost(c.bind);
    this.supervisor = new RedisSupervisor(
      () => RedisChild.start({ binary, dir, host, port: c.port, password, readyTimeoutMs: READY_TIMEOUT_MS }),
      this.ctx.log,
    );
    await this.supervisor.start();
    this.target = { options: { host, port: c.port, password } };
    await this.connect('ERR_PLUGIN_START');
  }

  private async connect(code: 'ERR_UNAVAILABLE' | 'ERR_PLUGIN_START'): Promise<void> {
    const client = openClient(this.target as ClientTarget, this.ctx.log);
    this.client = client;
    const notReady = await waitReady(client, READY_TIMEOUT_MS);
    if (notReady !== undefined) {
      throw new PlexusError(code, `the store at ${formatAddress(this.address)} is not reachable: ${notReady}`);
    }
  }

  private async readPassword(): Promise<string | undefined> {
    const { password, passwordFile } = this.ctx.config;
    if (passwordFile === undefined) return password;
    const path = resolve(this.ctx.configDir, passwordFile);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (cause) {
      throw new PlexusError('ERR_PLUGIN_START', `cannot read the store's passwordFile ${path}: ${(cause as Error).message}`, { cause });
    }
    const secret = text.replace(/\r?\n$/, '');
    if (secret === '') throw new PlexusError('ERR_PLUGIN_START', `the store's passwordFile ${path} is empty`);
    return secret;
  }

  private async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.target = undefined;
    if (client !== undefined) await closeClient(client);
    const supervisor = this.supervisor;
    this.supervisor = undefined;
    await supervisor?.stop();
  }
}
