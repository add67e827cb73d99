import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PlexusError, parseHostPort, type HostPort, type ResolvedConfig } from '@plexus/core';
import type { DnsConfig, WildcardRules } from './config.js';

/**
 * A Corefile for real CoreDNS with the redis plugin that serves the same zones from the same
 * store as this plugin (COMPAT.md §1), so an operator can run either and switch back and forth.
 */

export interface CorefileInput {
  zones: readonly string[];
  listen: readonly HostPort[];
  ttl: number;
  keyPrefix: string;
  keySuffix: string;
  forwarders: readonly string[];
  /** `host:port` of the store, as CoreDNS must dial it. */
  storeAddress: string;
  storePassword?: string | undefined;
  /** The dns plugin's lookup rules; CoreDNS always has its own (`coredns`), so `rfc4592` is noted. */
  wildcards?: WildcardRules | undefined;
}

/** Caddyfile tokens with spaces, quotes, braces or a leading `#` must be quoted. */
function token(value: string): string {
  if (value !== '' && !/[\s"'{}\\]|^#/.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

/** Where a managed store keeps the password it generated for itself, inside its data dir (store plugin). */
const GENERATED_PASSWORD_FILE = 'redis.password';

/** `9.9.9.9:53` → `9.9.9.9` (CoreDNS's default port), other ports kept. */
function forwardTarget(f: string): string {
  const hp = parseHostPort(f, true);
  if (hp === undefined) return f;
  if (hp.port === 53) return hp.host;
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/**
 * The Corefile text. Pure: everything comes from `input`. One server block per listen port
 * (CoreDNS binds a block to one port: a block without a port is port 53, so collapsing ports
 * would silently move a listener), each with a `bind` line when all its addresses are specific.
 */
export function renderCorefile(input: CorefileInput): string {
  const ports = [...new Set(input.listen.map((l) => l.port))].sort((a, b) => a - b);
  const lines: string[] =
    input.wildcards === 'rfc4592' ? ['# plugins.dns.wildcards is rfc4592: CoreDNS answers names without a field of their own by its own rules (wildcards: coredns)'] : [];
  for (const port of ports) {
    // Port 53 is CoreDNS's default; another port goes into each server key (`zone:5353`).
    const suffix = port === 53 ? '' : `:${port}`;
    const here = input.listen.filter((l) => l.port === port);
    const hosts = here.map((l) => l.host).filter((h) => !WILDCARD_HOSTS.has(h));
    const bind = hosts.length > 0 && hosts.length === here.length ? [`    bind ${[...new Set(hosts)].join(' ')}`] : [];
    lines.push(
      `${input.zones.map((z) => `${z}${suffix}`).join(' ')} {`,
      ...bind,
      '    redis {',
      `        address ${token(input.storeAddress)}`,
      ...(input.storePassword === undefined || input.storePassword === '' ? [] : [`        password ${token(input.storePassword)}`]),
      '        connect_timeout 100',
      '        read_timeout 100',
      `        ttl ${input.ttl}`,
      ...(input.keyPrefix === '' ? [] : [`        prefix ${token(input.keyPrefix)}`]),
      ...(input.keySuffix === '' ? [] : [`        suffix ${token(input.keySuffix)}`]),
      '    }',
      '}',
    );
    if (input.forwarders.length > 0) lines.push(`.${suffix} {`, ...bind, `    forward . ${input.forwarders.map(forwardTarget).join(' ')}`, '}');
  }
  return `${lines.join('\n')}\n`;
}

/** Where and how to reach the store, from its validated config block (no import of the store plugin). */
export interface StoreEndpoint {
  address: string;
  password?: string | undefined;
  /** Relative to the config file's directory. */
  passwordFile?: string | undefined;
}

/** The node's own store, as CoreDNS on the same machine reaches it, from the store block. */
export function storeEndpoint(block: Record<string, unknown>): StoreEndpoint {
  if (block.mode === 'external' && typeof block.url === 'string') {
    const u = new URL(block.url);
    // URL keeps IPv6 hosts in brackets, which is the form CoreDNS dials.
    return { address: `${u.hostname}:${u.port === '' ? 6379 : u.port}`, password: u.password === '' ? str(block.password) : decodeURIComponent(u.password), passwordFile: str(block.passwordFile) };
  }
  const bind = str(block.bind) ?? '127.0.0.1';
  // A store listening on every address is reached on loopback by a CoreDNS on the same machine.
  const host = bind === 'localhost' || bind === '0.0.0.0' ? '127.0.0.1' : bind === '::' ? '::1' : bind;
  const port = typeof block.port === 'number' ? block.port : 6379;
  return { address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, password: str(block.password), passwordFile: str(block.passwordFile) };
}

/**
 * The master a replica store follows (`replicaOf`), with its credentials; undefined for other
 * stores. With `--address` CoreDNS dials another store than the node's own, and on a DNS node
 * that is the master: it wants the master's password, not the local replica's.
 */
export function masterEndpoint(block: Record<string, unknown>): StoreEndpoint | undefined {
  const r = block.mode === 'replica' ? block.replicaOf : undefined;
  if (r === null || typeof r !== 'object') return undefined;
  const m = r as Record<string, unknown>;
  const host = str(m.host) ?? '';
  const port = typeof m.port === 'number' ? m.port : 6379;
  return { address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, password: str(m.password), passwordFile: str(m.passwordFile) };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** How `plexus dns corefile` was asked to reach the store. */
export interface CorefileOptions {
  /** `--address`: the store CoreDNS dials, when not the node's own (usually the master). */
  address?: string | undefined;
  /** `--password-file`: that store's password, relative to the working directory. */
  passwordFile?: string | undefined;
  /** `$PLEXUS_STORE_PASSWORD`: that store's password. */
  password?: string | undefined;
}

async function readPassword(file: string, what: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new PlexusError('ERR_CONFIG_INVALID', `cannot read ${what} ${file}: ${err.message}`);
  });
  return text.replace(/\r?\n$/, '');
}

/**
 * The Corefile for a whole role config: its `dns` block and its store block. The password, first
 * found of: `opts.passwordFile`, `opts.password`; with `opts.address` on a replica, the master's
 * (`replicaOf.password` / `replicaOf.passwordFile`); else the store block's own, or the one the
 * node's managed store generated for itself.
 */
export async function corefileFromConfig(cfg: ResolvedConfig, opts: CorefileOptions = {}): Promise<string> {
  const dns = cfg.plugins.find((p) => p.definition.name === 'dns');
  if (dns === undefined) throw new PlexusError('ERR_CONFIG_INVALID', `${cfg.file}: no \`plugins.dns\` block`);
  const store = cfg.plugins.find((p) => p.definition.provides.includes('store'));
  if (store === undefined) throw new PlexusError('ERR_CONFIG_INVALID', `${cfg.file}: no plugin provides \`store\``);
  const d = dns.config as DnsConfig;
  const block = store.config as Record<string, unknown>;
  const own = storeEndpoint(block);
  const ep = (opts.address !== undefined ? masterEndpoint(block) : undefined) ?? own;
  let password: string | undefined;
  if (opts.passwordFile !== undefined) password = await readPassword(resolve(opts.passwordFile), '--password-file');
  else if (opts.password !== undefined && opts.password !== '') password = opts.password;
  else if (ep.password !== undefined) password = ep.password;
  else if (ep.passwordFile !== undefined) password = await readPassword(resolve(cfg.dir, ep.passwordFile), ep === own ? "the store's passwordFile" : "the store's replicaOf.passwordFile");
  else if (ep === own && block.mode !== 'external') {
    // A managed store or replica configured without a password generates one at its first start
    // (store plugin README, `password`) into its data dir; absent before that first start.
    password = await readFile(join(cfg.dataDir, store.definition.name, GENERATED_PASSWORD_FILE), 'utf8').then(
      (t) => t.replace(/\r?\n$/, ''),
      () => undefined,
    );
  }
  return renderCorefile({
    zones: d.zones,
    listen: d.listen.map((l) => parseHostPort(l, true, true)!),
    ttl: d.ttl,
    keyPrefix: d.keyPrefix,
    keySuffix: d.keySuffix,
    forwarders: d.forwarders,
    storeAddress: opts.address ?? own.address,
    storePassword: password,
    wildcards: d.wildcards,
  });
}
