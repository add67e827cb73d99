import { homedir } from 'node:os';
import type { Command } from 'commander';
import { join } from 'node:path';
import { PlexusError, exitCodeFor } from '../errors.js';
import { ConfigError } from '../config/issues.js';
import { loadIdentity, loadOrCreateIdentity, type Identity } from '../identity.js';
import { FailoverClient, type RpcCaller } from '../rpc/failover.js';

/**
 * Helpers every `plexus <plugin> <verb>` command uses, so that all commands behave alike:
 * human output by default, `--json` for scripts, exit 0 ok / 1 failure / 2 bad usage or config.
 */
export interface OutputOptions {
  json?: boolean;
}

/** Runs a command action: prints its result, or its error with code and hint, and sets the exit code. */
export async function runCommand<T>(opts: OutputOptions, action: () => Promise<T>, human: (result: T) => string): Promise<void> {
  try {
    const result = await action();
    if (opts.json === true) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      const text = human(result);
      if (text.length > 0) process.stdout.write(`${text}\n`);
    }
    process.exitCode = 0;
  } catch (err) {
    reportError(err, opts);
  }
}

export function reportError(err: unknown, opts: OutputOptions = {}): void {
  const code = err instanceof PlexusError ? err.code : 'ERR_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  if (opts.json === true) {
    const data = err instanceof ConfigError ? { issues: err.issues } : err instanceof PlexusError ? err.data : undefined;
    process.stdout.write(`${JSON.stringify({ error: { code, message, ...(data === undefined ? {} : { data }) } }, null, 2)}\n`);
  } else {
    const hint = err instanceof PlexusError && !(err instanceof ConfigError) && err.hint !== undefined ? `\n  hint: ${err.hint}` : '';
    process.stderr.write(`plexus: ${code}: ${message}${hint}\n`);
    if (!(err instanceof PlexusError) && err instanceof Error && process.env.PLEXUS_DEBUG) process.stderr.write(`${err.stack}\n`);
  }
  process.exitCode = exitCodeFor(err);
}

/** Default key of a CLI user: `$PLEXUS_KEY`, else `$XDG_CONFIG_HOME/plexus/client.key`. */
export function defaultKeyPath(): string {
  if (process.env.PLEXUS_KEY) return process.env.PLEXUS_KEY;
  const base = process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(base, 'plexus', 'client.key');
}

/** The caller's key; created (0600) when `create` and absent. */
export async function userIdentity(path: string | undefined, create: boolean): Promise<Identity> {
  const file = path ?? defaultKeyPath();
  try {
    return create ? await loadOrCreateIdentity(file) : await loadIdentity(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PlexusError('ERR_KEY_FILE', `no key at ${file}; register first or pass --key FILE`);
    }
    throw err;
  }
}

export function usage(message: string): PlexusError {
  return new PlexusError('ERR_USAGE', message);
}

/** Parses a positive integer flag or throws ERR_USAGE naming the flag. */
export function intFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw usage(`--${name} expects a whole number, got '${value}'`);
  return n;
}

/**
 * Adds the flags every client command shares: `--explorer`, `--json`, `--timeout`, and `--key`
 * described by `keyHelp` (false: the command signs nothing, so it takes no key).
 */
export function clientFlags(cmd: Command, keyHelp: string | false = `your key file (default: ${KEY_DEFAULT_HELP})`): Command {
  const c = cmd
    .option('--explorer <multiaddr>', 'explorer to talk to; repeat for a group (tried in order, following the master) (default: $PLEXUS_EXPLORER, comma-separated)', collect)
    .option('--json', 'machine-readable output')
    .option('--timeout <ms>', 'per-call deadline in ms', '10000');
  return keyHelp === false ? c : c.option('--key <file>', keyHelp);
}

/** How `--key` help texts name the default key. */
export const KEY_DEFAULT_HELP = '$PLEXUS_KEY or ~/.config/plexus/client.key';

/** Commander's way to make a flag repeatable: each value is appended. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Flags every client command shares (`--explorer`, `--timeout`, `--json`, `--key`). */
export interface ClientFlags {
  /** One multiaddr, or several (the flag repeated). */
  explorer?: string | string[];
  key?: string;
  json?: boolean;
  timeout?: string;
}

/**
 * The explorer multiaddrs, in order: every `--explorer`, else `$PLEXUS_EXPLORER` (comma-separated);
 * ERR_USAGE when neither is set.
 */
export function explorersOf(opts: ClientFlags): string[] {
  const given = opts.explorer === undefined ? [] : Array.isArray(opts.explorer) ? opts.explorer : [opts.explorer];
  const list = (given.length > 0 ? given : (process.env.PLEXUS_EXPLORER ?? '').split(',')).map((e) => e.trim()).filter((e) => e !== '');
  if (list.length === 0) throw usage('--explorer MULTIADDR is required (or set PLEXUS_EXPLORER)');
  return list;
}

/** The first explorer multiaddr (see `explorersOf`). */
export function explorerOf(opts: ClientFlags): string {
  return explorersOf(opts)[0] as string;
}

/**
 * Runs `fn` with a client of the explorers (signing with `identity` when given), always closes.
 * With several explorers a call fails over: see `FailoverClient`.
 */
export async function withExplorer<T>(opts: ClientFlags, identity: Identity | undefined, fn: (c: RpcCaller) => Promise<T>): Promise<T> {
  const timeoutMs = intFlag('timeout', opts.timeout, 10_000);
  const targets = explorersOf(opts);
  // One explorer: its answer is final (no retry), as before groups existed.
  const failoverMs = targets.length === 1 ? 0 : undefined;
  const client = new FailoverClient(targets, { timeoutMs, ...(identity === undefined ? {} : { key: identity.keyPair }), ...(failoverMs === undefined ? {} : { failoverMs }) });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
