import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PluginContext, type StoreCapability } from '@plexus/core';
import { fakeContext, startPlugin } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';
import { DnsConfigSchema, DnsService, plugin, type DnsConfig } from '../src/index.js';
import type { RedisServer } from './redis.js';

const run = promisify(execFile);

/**
 * The real store plugin on `redis` (mode external), so the dns plugin watches the store exactly
 * as on a node; stopped when the test (or file) ends.
 */
export async function startStore(t: Cleanup, redis: RedisServer, dataDir: string): Promise<StoreCapability> {
  const url = `redis://127.0.0.1:${redis.port}`;
  const { instance } = await startPlugin(storePlugin, { mode: 'external', url }, { dataDir, after: (fn) => t.after(fn) });
  const store = instance.capabilities?.().store;
  if (store === undefined) throw new Error('the store plugin provided no store');
  return store;
}

/** The context the core would hand the plugin. */
export function makeContext(config: DnsConfig, store: StoreCapability, dir: string): PluginContext<DnsConfig> {
  return fakeContext(plugin, config, { dataDir: dir, capabilities: { store } });
}

export interface RunningDns {
  service: DnsService;
  port: number;
}

/** Where clean-up is registered: a test's `t`, or `{ after }` from node:test for a whole file. */
export interface Cleanup {
  after(fn: () => unknown): void;
}

/**
 * Clean-ups for resources a whole file shares (node:test's `after` called inside `before` would
 * run at the end of that hook): register with `after`, then call `run` from the file's `after`.
 */
export function fileCleanup(): Cleanup & { run(): Promise<void> } {
  const fns: (() => unknown)[] = [];
  return {
    after: (fn) => void fns.push(fn),
    async run() {
      for (const fn of fns.reverse()) await fn();
    },
  };
}

/** Starts the plugin on a free loopback port against `redis`; stopped when the test (or file) ends, even on failure. */
export async function startDns(t: Cleanup, redis: RedisServer, raw: Record<string, unknown>): Promise<RunningDns> {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-dns-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const config = DnsConfigSchema.parse({ listen: ['127.0.0.1:0'], ...raw });
  const store = await startStore(t, redis, dir);
  const service = new DnsService(makeContext(config, store, dir));
  t.after(() => service.stop());
  await service.start();
  return { service, port: service.addresses().udp[0]!.port };
}

/** Runs the real `dig` against our server; fails with a hint when dig is missing. */
export async function dig(port: number, args: string[]): Promise<string> {
  try {
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args], { timeout: 10_000 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string };
    if (e.code === 'ENOENT') throw new Error('dig is missing: apt-get install -y dnsutils');
    // dig exits 9 on "no servers could be reached": the output still tells the test what happened.
    if (typeof e.stdout === 'string' && e.stdout !== '') return e.stdout;
    throw err;
  }
}

/** `dig +short` lines, sorted so record order does not matter. */
export async function short(port: number, name: string, type: string, ...extra: string[]): Promise<string[]> {
  const out = await dig(port, [name, type, '+short', ...extra]);
  return out.split('\n').filter((l) => l !== '').sort();
}

export interface DigHeader {
  status: string;
  flags: string[];
  answer: number;
  authority: number;
  additional: number;
}

/** Status, flags and section counts from `dig +noall +comments`. */
export async function header(port: number, name: string, type: string, ...extra: string[]): Promise<DigHeader> {
  const out = await dig(port, [name, type, '+noall', '+comments', ...extra]);
  const status = /status: (\w+)/.exec(out)?.[1] ?? 'none';
  const flagLine = /;; flags: ([^;]*);/.exec(out);
  const count = (s: string): number => Number(new RegExp(`${s}: (\\d+)`).exec(out)?.[1] ?? -1);
  return { status, flags: (flagLine?.[1] ?? '').trim().split(/\s+/), answer: count('ANSWER'), authority: count('AUTHORITY'), additional: count('ADDITIONAL') };
}

/** Records of one section, as dig prints them (`name ttl IN type data`), whitespace collapsed. */
export async function section(port: number, name: string, type: string, which: 'answer' | 'authority' | 'additional', ...extra: string[]): Promise<string[]> {
  const out = await dig(port, [name, type, '+noall', `+${which}`, ...extra]);
  return out.split('\n').filter((l) => l !== '' && !l.startsWith(';')).map((l) => l.split(/\s+/).join(' '));
}
