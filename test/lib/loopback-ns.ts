import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * One network namespace whose loopback carries extra addresses (e.g. several IPv6 /64s), so a
 * test can have many "hosts" talk to a node without touching the machine's own interfaces.
 * Processes enter it with `nsenter --net` (see netns.ts for why not `ip netns exec`). Needs root.
 */
export class LoopbackNs {
  readonly name = `pxlo-${randomBytes(3).toString('hex')}`;
  private created = false;

  /** Creates the namespace with `lo` up and `addresses` (CIDR, e.g. `2001:db8:0:1::1/128`) on it. */
  async create(addresses: string[]): Promise<void> {
    if (process.getuid?.() !== 0) throw new Error('network namespaces need root; run the suite as root, as CI does');
    await exec('ip', ['netns', 'add', this.name]);
    this.created = true;
    await this.ip('link', 'set', 'lo', 'up');
    for (const a of addresses) await this.ip('addr', 'add', a, 'dev', 'lo', ...(a.includes(':') ? ['nodad'] : []));
  }

  /** argv that runs `argv` inside the namespace. */
  wrap(argv: string[]): string[] {
    return ['nsenter', `--net=/run/netns/${this.name}`, ...argv];
  }

  /** Removes the namespace; safe to call twice. */
  async destroy(): Promise<void> {
    if (!this.created) return;
    this.created = false;
    await exec('ip', ['netns', 'del', this.name]).catch(() => undefined);
  }

  private async ip(...args: string[]): Promise<void> {
    const [cmd, ...rest] = this.wrap(['ip', ...args]);
    try {
      await exec(cmd!, rest);
    } catch (err) {
      throw new Error(`ip ${args.join(' ')} in ${this.name} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
    }
  }
}
