import { execFile } from 'node:child_process';
import { readFile, readdir, readlink, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { PlexusError } from '../errors.js';
import { PLAN_ERRORS } from './errors.js';

const exec = promisify(execFile);

/**
 * Network namespaces for `plexus net`. Commands enter a namespace with `nsenter --net=...`, which
 * switches only the network namespace (`ip netns exec` also remounts /, which fails in a chroot).
 */

export function nsenter(ns: string, argv: string[]): string[] {
  return ['nsenter', `--net=/run/netns/${ns}`, ...argv];
}

export async function sh(argv: string[], input?: string): Promise<string> {
  const [cmd, ...args] = argv;
  try {
    return await new Promise<string>((res, rej) => {
      const child = execFile(cmd!, args, { timeout: 30_000 }, (err, stdout, stderr) => (err === null ? res(stdout) : rej(Object.assign(err, { stderr }))));
      child.stdin?.end(input);
    });
  } catch (err) {
    throw new PlexusError(PLAN_ERRORS.ERR_NET, `${argv.join(' ')} failed: ${((err as { stderr?: string }).stderr ?? '').trim() || (err as Error).message}`);
  }
}

export const inNs = (ns: string, argv: string[], input?: string): Promise<string> => sh(nsenter(ns, argv), input);

/** Tools `net up` runs, with the Debian package that has each. */
const TOOLS: [string, string][] = [
  ['ip', 'iproute2'],
  ['nsenter', 'util-linux'],
  ['nft', 'nftables'],
  ['redis-server', 'redis-server'],
  ['wg', 'wireguard-tools'],
  ['wireguard-go', 'wireguard-go'],
];

export async function requireTools(extra: [string, string][] = []): Promise<void> {
  if (process.getuid?.() !== 0) throw new PlexusError(PLAN_ERRORS.ERR_NET, 'plexus net needs root (network namespaces, WireGuard interfaces)');
  const missing: string[] = [];
  for (const [tool, pkg] of [...TOOLS, ...extra]) {
    await exec('sh', ['-c', `command -v ${tool}`]).catch(() => missing.push(`${tool} (apt-get install -y ${pkg})`));
  }
  if (missing.length > 0) throw new PlexusError(PLAN_ERRORS.ERR_NET, `missing tools: ${missing.join(', ')}`);
}

export async function namespaces(): Promise<string[]> {
  return (await readdir('/run/netns').catch(() => [] as string[])).sort();
}

/** Pids of every process whose network namespace is one of `nsNames` (what must be gone before the namespaces are). */
export async function processesIn(nsNames: readonly string[]): Promise<number[]> {
  const inodes = new Set<number>();
  for (const ns of nsNames) {
    const s = await stat(`/run/netns/${ns}`).catch(() => undefined);
    if (s !== undefined) inodes.add(s.ino);
  }
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const link = await readlink(`/proc/${entry}/ns/net`).catch(() => undefined);
    const m = link === undefined ? null : /^net:\[(\d+)\]$/.exec(link);
    if (m !== null && inodes.has(Number(m[1]))) pids.push(Number(entry));
  }
  return pids;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Links of the machine's own namespace whose names start with `prefix`. */
export async function linksWithPrefix(prefix: string): Promise<string[]> {
  const out = await sh(['ip', '-o', 'link', 'show']).catch(() => '');
  return out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n.startsWith(prefix));
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo, octal escapes decoded). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const root = resolve(dir);
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && m !== '')
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === root || m.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Detaches every mount at or below `dir`; returns how many. dockerd leaves mounts in its roots
 * behind when the mount propagation is private (a chroot, a container), which made removing
 * them fail with EBUSY.
 */
export async function unmountUnder(dir: string): Promise<number> {
  let n = 0;
  for (const m of await mountsUnder(dir)) if (await sh(['umount', '-l', m]).then(() => true, () => false)) n++;
  return n;
}
