import { execFile } from 'node:child_process';
import { adminGet } from '@plexus/core';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * Helpers of the WireGuard end-to-end tests: tool checks, pings from inside a namespace, the
 * wireguard plugin's status read from a node's admin socket, and waiting for a condition.
 */

/** Fails (never skips) when a tool the WireGuard tests need is missing, naming its Debian package. */
export async function requireWireguardTools(): Promise<void> {
  for (const [tool, pkg] of [['wg', 'wireguard-tools'], ['wireguard-go', 'wireguard-go'], ['busybox', 'busybox-static'], ['ss', 'iproute2'], ['nft', 'nftables'], ['nsenter', 'util-linux'], ['redis-cli', 'redis-tools']] as const) {
    await exec('sh', ['-c', `command -v ${tool}`]).catch(() => {
      throw new Error(`${tool} is missing: apt-get install -y ${pkg} (scripts/setup.sh --test does it)`);
    });
  }
}

/**
 * One ping (1 s deadline) from inside the namespace entered by `prefix`: true when answered.
 * BusyBox's ping, which the test setup installs (busybox-static) where iputils-ping may be absent.
 */
export async function pings(prefix: string[], address: string): Promise<boolean> {
  const [cmd, ...args] = [...prefix, 'busybox', 'ping', '-c', '1', '-W', '1', '-w', '1', '-q', address];
  return exec(cmd!, args, { timeout: 5000 }).then(
    () => true,
    () => false,
  );
}

/** Polls `cond` every `everyMs` until it holds; throws naming `what` (and `detail()`) after `timeoutMs`. */
export async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number, detail?: () => string | Promise<string>, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${detail === undefined ? '' : `\n${await detail()}`}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** GET /status over a node's admin socket: what `plexus status --json` prints. */
export function adminStatus(socketPath: string): Promise<any> {
  return adminGet(socketPath, '/status', 5000);
}

/** `busybox ping -i 0.1 -c count` from a namespace: how many of `count` echo requests went unanswered. */
export async function lostPings(prefix: string[], address: string, count: number): Promise<{ sent: number; received: number; output: string }> {
  const [cmd, ...args] = [...prefix, 'busybox', 'ping', '-i', '0.1', '-c', String(count), '-W', '1', '-q', address];
  const out = await exec(cmd!, args, { timeout: count * 200 + 10_000 }).then(
    (r) => r.stdout,
    (err: { stdout?: string }) => err.stdout ?? '',
  );
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
  if (m === null) throw new Error(`ping printed no summary: ${out}`);
  return { sent: Number(m[1]), received: Number(m[2]), output: out };
}
