import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PlexusError, parseHostPort, type HostPort, type ResolvedConfig } from '@plexus/core';
import type { DnsConfig } from './config.js';

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
}

/** Caddyfile tokens with spaces, quotes, braces or a leading `#` must be quoted. */
function token(value: string): string {
  if (value !== '' && !/[\s"'{}\\]|^#/.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

/** `9.9.9.9:53` → `9.9.9.9` (CoreDNS's default port), other ports kept. */
function forwardTarget(f: string): string {
  const hp = parseHostPort(f, true);
  if (hp === undefined) return f;
  if (hp.port === 53) return hp.host;
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** The Corefile text. Pure: everything comes from `input`. */
export function renderCorefile(input: CorefileInput): string {
  const ports = [...new Set(input.listen.map((l) => l.port))];
  // Port 53 is CoreDNS's default; another single port goes into each server key (`zone:5353`).
  const portSuffix = ports.length === 1 && ports[0] !== 53 ? `:${ports[0]}` : '';
  const hosts = input.listen.map((l) => l.host).filter((h) => !WILDCARD_HOSTS.has(h));
  const bind = hosts.length > 0 && hosts.length === input.listen.length ? [`    bind ${[...new Set(hosts)].join(' ')}`] : [];
  const lines = [
    `${input.zones.map((z) => `${z}${portSuffix}`).join(' ')} {`,
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
  ];
  if (input.forwarders.length > 0) {
    lines.push(`.${portSuffix} {`, ...bind, `    forward . ${input.forwarders.map(forwardTarget).join(' ')}`, '}');
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

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * The Corefile for a whole role config: its `dns` block and its store block. `address` overrides
 * the store address (when CoreDNS runs elsewhere).
 */
export async function corefileFromConfig(cfg: ResolvedConfig, address?: string): Promise<string> {
  const dns = cfg.plugins.find((p) => p.definition.name === 'dns');
  if (dns === undefined) throw new PlexusError('ERR_CONFIG_INVALID', `${cfg.file}: no \`plugins.dns\` block`);
  const store = cfg.plugins.find((p) => p.definition.provides.includes('store'));
  if (store === undefined) throw new PlexusError('ERR_CONFIG_INVALID', `${cfg.file}: no plugin provides \`store\``);
  const d = dns.config as DnsConfig;
  const ep = storeEndpoint(store.config as Record<string, unknown>);
  let password = ep.password;
  if (password === undefined && ep.passwordFile !== undefined) {
    const file = resolve(cfg.dir, ep.passwordFile);
    password = (await readFile(file, 'utf8').catch((err: Error) => {
      throw new PlexusError('ERR_CONFIG_INVALID', `cannot read the store's passwordFile ${file}: ${err.message}`);
    })).replace(/\r?\n$/, '');
  }
  return renderCorefile({
    zones: d.zones,
    listen: d.listen.map((l) => parseHostPort(l, true, true)!),
    ttl: d.ttl,
    keyPrefix: d.keyPrefix,
    keySuffix: d.keySuffix,
    forwarders: d.forwarders,
    storeAddress: address ?? ep.address,
    storePassword: password,
  });
}
