import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * Hosts for multi-host tests: one network namespace per host, joined by veth pairs to a bridge
 * that lives in a namespace of its own (the "LAN"), so nothing is added to the machine's own
 * network. Needs root and iproute2 (CI runs as root; scripts/setup.sh --test installs iproute2).
 * Commands enter a host with `nsenter --net=/run/netns/NS`, which switches only the network
 * namespace: `ip -n`/`ip netns exec` also remount `/`, which fails where `/` is not a mount point
 * (a chroot, as in the fresh-machine check), and the tests need nothing of theirs beyond the network.
 */
export interface Host {
  name: string;
  /** Namespace name, for `ip netns exec`. */
  ns: string;
  /** The host's address on the LAN. */
  ip: string;
}

export class Lan {
  readonly hosts = new Map<string, Host>();
  private readonly id = randomBytes(3).toString('hex');
  private readonly lanNs: string;
  private created = false;
  /** Hosts added so far: host n gets address `subnet.n`. */
  private count = 0;

  constructor(private readonly subnet = '10.77.0') {
    this.lanNs = `pxlan-${this.id}`;
  }

  static async requireRoot(): Promise<void> {
    if (process.getuid?.() !== 0) throw new Error('multi-host tests need root (network namespaces); run the suite as root, as CI does');
    await exec('ip', ['-V']).catch(() => {
      throw new Error('iproute2 is missing: apt-get install -y iproute2 (scripts/setup.sh --test does it)');
    });
  }

  async create(hostNames: string[]): Promise<void> {
    await Lan.requireRoot();
    this.created = true;
    this.count = 0;
    await ip('netns', 'add', this.lanNs);
    await ipIn(this.lanNs, 'link', 'add', 'br0', 'type', 'bridge');
    await ipIn(this.lanNs, 'link', 'set', 'br0', 'up');
    for (const name of hostNames) await this.addHost(name);
  }

  /**
   * Adds one more host to the LAN after `create`: its own namespace, `eth0` on the bridge with
   * the next address. Used by helpers that build something beside the LAN (a NAT router, see
   * nat.ts); `destroy()` removes it with the others.
   */
  async addHost(name: string): Promise<Host> {
    if (!this.created) throw new Error('Lan.addHost before Lan.create');
    const n = ++this.count;
    const ns = `px-${this.id}-${name}`;
    const host: Host = { name, ns, ip: `${this.subnet}.${n}` };
    const a = `pxa${this.id}${n}`;
    const b = `pxb${this.id}${n}`;
    await ip('netns', 'add', ns);
    this.hosts.set(name, host);
    await ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    await ip('link', 'set', a, 'netns', ns);
    await ip('link', 'set', b, 'netns', this.lanNs);
    await ipIn(ns, 'link', 'set', a, 'name', 'eth0');
    await ipIn(ns, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0');
    await ipIn(ns, 'link', 'set', 'eth0', 'up');
    await ipIn(ns, 'link', 'set', 'lo', 'up');
    await ipIn(this.lanNs, 'link', 'set', b, 'master', 'br0');
    await ipIn(this.lanNs, 'link', 'set', b, 'up');
    return host;
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  /** argv that runs `cmd` inside a host's network: `nsenter --net=/run/netns/NS cmd...`. */
  wrap(host: string, argv: string[]): string[] {
    return nsenter(this.host(host).ns, argv);
  }

  async run(host: string, argv: string[], timeoutMs = 15_000): Promise<{ stdout: string; stderr: string }> {
    const [cmd, ...args] = this.wrap(host, argv);
    return exec(cmd!, args, { timeout: timeoutMs });
  }

  /** Removes every namespace (and so every veth and the bridge); safe to call twice. */
  async destroy(): Promise<void> {
    if (!this.created) return;
    this.created = false;
    for (const h of this.hosts.values()) await ip('netns', 'del', h.ns).catch(() => undefined);
    await ip('netns', 'del', this.lanNs).catch(() => undefined);
  }
}

function nsenter(ns: string, argv: string[]): string[] {
  return ['nsenter', `--net=/run/netns/${ns}`, ...argv];
}

async function ipIn(ns: string, ...args: string[]): Promise<void> {
  const [cmd, ...rest] = nsenter(ns, ['ip', ...args]);
  try {
    await exec(cmd!, rest);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')} in ${ns} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
}

async function ip(...args: string[]): Promise<void> {
  try {
    await exec('ip', args);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
}
