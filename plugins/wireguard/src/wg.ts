import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { PlexusError, type Logger } from '@plexus/core';
import { parseDump, type InterfaceDump } from './dump.js';
import { WIREGUARD_ERRORS } from './errors.js';

/**
 * A thin typed wrapper over wireguard-tools (`wg`) and iproute2 (`ip`): every WireGuard operation is
 * theirs. The interface is the kernel's when the kernel has the module, else a `wireguard-go`
 * child running in the foreground, supervised here (the interface lives as long as that process).
 */

const COMMAND_TIMEOUT_MS = 10_000;
/** Where wireguard-go puts its control socket, which `wg` talks to for a userspace interface. */
const UAPI_DIR = '/var/run/wireguard';

/** Runs a command; its failure becomes ERR_WIREGUARD_COMMAND with its stderr. */
export function run(argv: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: COMMAND_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(stdout);
        return;
      }
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new PlexusError(
          missing ? 'ERR_DEPENDENCY_MISSING' : WIREGUARD_ERRORS.ERR_WIREGUARD_COMMAND,
          missing ? `${argv[0]} not found: apt-get install ${argv[0] === 'ip' ? 'iproute2' : argv[0] === 'wg' ? 'wireguard-tools' : argv[0]}` : `${argv.join(' ')}: ${String(stderr).trim() || err.message}`,
        ),
      );
    });
    child.stdin?.end(input);
  });
}

/** A new private key (`wg genkey`), base64. */
export async function genKey(): Promise<string> {
  return (await run(['wg', 'genkey'])).trim();
}

/** The public key of a private key (`wg pubkey`, the key on stdin so it never shows in `ps`). */
export async function pubKey(privateKey: string): Promise<string> {
  return (await run(['wg', 'pubkey'], `${privateKey}\n`)).trim();
}

export type Implementation = 'kernel' | 'wireguard-go';

/** One WireGuard interface this node owns. */
export class WgInterface {
  private child: ChildProcess | undefined;
  implementation: Implementation | undefined;
  /** Called when a wireguard-go child exits on its own (the interface is gone with it). */
  onLost: (() => void) | undefined;

  constructor(
    readonly name: string,
    private readonly prefer: 'auto' | Implementation,
    private readonly wireguardGo: string,
    private readonly log: Logger,
  ) {}

  /** Creates the interface (removing a leftover of the same name first), with its key and port, up. */
  async create(privateKeyFile: string, listenPort: number): Promise<void> {
    await run(['ip', 'link', 'del', 'dev', this.name]).catch(() => undefined);
    if (this.prefer !== 'wireguard-go') {
      try {
        await run(['ip', 'link', 'add', 'dev', this.name, 'type', 'wireguard']);
        this.implementation = 'kernel';
      } catch (err) {
        if (this.prefer === 'kernel') throw err;
        this.log.info({ interface: this.name }, 'no WireGuard in this kernel: using wireguard-go');
      }
    }
    if (this.implementation === undefined) await this.startUserspace();
    await this.set(['private-key', privateKeyFile, 'listen-port', String(listenPort)]);
    await run(['ip', 'link', 'set', 'dev', this.name, 'up']);
  }

  private async startUserspace(): Promise<void> {
    // Foreground, so the interface is this child's: it goes when the node stops or dies with it.
    const child = spawn(this.wireguardGo, ['-f', this.name], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'error' } });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => resolve(err.message));
      child.once('exit', (code, signal) => resolve(`exited (${code ?? signal})`));
    });
    this.child = child;
    this.implementation = 'wireguard-go';
    const socket = `${UAPI_DIR}/${this.name}.sock`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ready = await access(socket).then(() => run(['ip', 'link', 'show', 'dev', this.name]).then(() => true), () => false).catch(() => false);
      if (ready) break;
      const gone = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(r, 50, undefined))]);
      if (gone !== undefined || Date.now() > deadline) {
        this.child = undefined;
        child.kill('SIGKILL');
        const missing = /ENOENT/.test(gone ?? '');
        throw new PlexusError(
          missing ? 'ERR_DEPENDENCY_MISSING' : WIREGUARD_ERRORS.ERR_WIREGUARD_COMMAND,
          missing ? `${this.wireguardGo} not found: apt-get install wireguard-go (or wireguard-tools with a kernel that has WireGuard)` : `wireguard-go ${this.name} ${gone ?? 'did not create the interface within 10 s'}: ${stderr.trim()}`,
        );
      }
    }
    child.once('exit', () => {
      if (this.child !== child) return;
      this.child = undefined;
      this.log.error({ interface: this.name, stderr: stderr.trim() }, 'wireguard-go exited: the interface is gone; recreating it');
      this.onLost?.();
    });
  }

  /** `wg set <if> ...args`. */
  async set(args: readonly string[]): Promise<void> {
    if (args.length > 0) await run(['wg', 'set', this.name, ...args]);
  }

  /** Gives the interface `address/prefix` as its only address (the route to the network comes with it). */
  async setAddress(address: string, prefix: number): Promise<void> {
    await run(['ip', 'address', 'replace', `${address}/${prefix}`, 'dev', this.name]);
    const shown = await run(['ip', '-o', '-4', 'address', 'show', 'dev', this.name]);
    for (const m of shown.matchAll(/inet (\S+)/g)) {
      if (m[1] !== `${address}/${prefix}`) await run(['ip', 'address', 'del', m[1]!, 'dev', this.name]);
    }
  }

  async dump(): Promise<InterfaceDump> {
    return parseDump(await run(['wg', 'show', this.name, 'dump']));
  }

  /** Removes the interface (and stops wireguard-go). Safe to call twice. */
  async destroy(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await run(['ip', 'link', 'del', 'dev', this.name]).catch(() => undefined);
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  }
}
