import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Host, Lan } from './netns.js';

const exec = promisify(execFile);

/**
 * A host behind NAT, beside a `Lan`: a router namespace (`nat`) with one leg on the LAN bridge
 * (an ordinary LAN host, `eth0`) and one on a private veth (`eth1`) to the inside host's
 * namespace, like a home router. The router forwards and masquerades the private subnet out of
 * `eth0` (nftables), and lets back in only what belongs to connections the inside opened
 * (conntrack): nobody on the LAN can open a connection to the inside host, even with a route to
 * the private subnet. The inside host's only way out is its default route via the router.
 * Needs root, iproute2 and nftables (scripts/setup.sh --test installs them).
 */
export interface NatOptions {
  /** Name of the router host on the LAN. Default `nat`. */
  router?: string;
  /** Name of the host behind it. Default `threebot`. */
  inside?: string;
  /** First three octets of the private /24. Default `192.168.77`: router .1, inside host .2. */
  subnet?: string;
}

export class NatHost {
  /** The router on the LAN (its `ip` is its LAN address, the one the inside host's traffic leaves with). */
  router: Host | undefined;
  /** The host behind NAT; `ip` is its private address. */
  readonly inside: Host;
  readonly routerName: string;
  readonly subnet: string;
  private readonly id = randomBytes(3).toString('hex');
  private readonly table: string;
  private insideCreated = false;
  private destroyed = false;

  constructor(
    private readonly lan: Lan,
    opts: NatOptions = {},
  ) {
    this.routerName = opts.router ?? 'nat';
    this.subnet = opts.subnet ?? '192.168.77';
    const name = opts.inside ?? 'threebot';
    this.inside = { name, ns: `pxn-${this.id}-${name}`, ip: `${this.subnet}.2` };
    this.table = `pxnat_${this.id}`;
  }

  /** The router's private address, the inside host's gateway. */
  get routerPrivateIp(): string {
    return `${this.subnet}.1`;
  }

  /** Builds the router (after `lan.create`) and the host behind it. */
  async create(): Promise<void> {
    await requireNft();
    this.destroyed = false;
    const router = await this.lan.addHost(this.routerName);
    this.router = router;
    const inner = this.inside.ns;
    await run(['ip', 'netns', 'add', inner]);
    this.insideCreated = true;
    // Interface names are at most 15 bytes: pxn + 6 hex + a/b.
    const a = `pxn${this.id}a`;
    const b = `pxn${this.id}b`;
    await run(['ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    await run(['ip', 'link', 'set', a, 'netns', router.ns]);
    await run(['ip', 'link', 'set', b, 'netns', inner]);
    await runIn(router.ns, ['ip', 'link', 'set', a, 'name', 'eth1']);
    await runIn(router.ns, ['ip', 'addr', 'add', `${this.routerPrivateIp}/24`, 'dev', 'eth1']);
    await runIn(router.ns, ['ip', 'link', 'set', 'eth1', 'up']);
    await runIn(inner, ['ip', 'link', 'set', b, 'name', 'eth0']);
    await runIn(inner, ['ip', 'addr', 'add', `${this.inside.ip}/24`, 'dev', 'eth0']);
    await runIn(inner, ['ip', 'link', 'set', 'eth0', 'up']);
    await runIn(inner, ['ip', 'link', 'set', 'lo', 'up']);
    await runIn(inner, ['ip', 'route', 'add', 'default', 'via', this.routerPrivateIp]);
    // Per network namespace: sysctl writes the one of the process that opens /proc/sys/net.
    await runIn(router.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    const net = `${this.subnet}.0/24`;
    const rules = `table ip ${this.table} {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "eth0" ip saddr ${net} masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "eth1" oifname "eth0" ip saddr ${net} accept
    iifname "eth0" oifname "eth1" ct state established,related accept
  }
}
`;
    await runIn(router.ns, ['nft', '-f', '-'], rules);
  }

  /** argv that runs `argv` on the host behind NAT. */
  wrap(argv: string[]): string[] {
    return ['nsenter', `--net=/run/netns/${this.inside.ns}`, ...argv];
  }

  async run(argv: string[], timeoutMs = 15_000): Promise<{ stdout: string; stderr: string }> {
    const [cmd, ...args] = this.wrap(argv);
    return exec(cmd!, args, { timeout: timeoutMs });
  }

  /** The router's nftables ruleset as `nft list table` prints it (for failure messages). */
  async ruleset(): Promise<string> {
    if (this.router === undefined) return '';
    const { stdout } = await exec('nsenter', [`--net=/run/netns/${this.router.ns}`, 'nft', 'list', 'table', 'ip', this.table]);
    return stdout;
  }

  /**
   * Removes the nft table, the host behind NAT and the router (its namespace; the veths go with
   * them). Safe to call twice and after a partial `create`; `lan.destroy()` would remove the
   * router too.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const router = this.router;
    if (router !== undefined) {
      await exec('nsenter', [`--net=/run/netns/${router.ns}`, 'nft', 'delete', 'table', 'ip', this.table]).catch(() => undefined);
      await exec('ip', ['netns', 'del', router.ns]).catch(() => undefined);
    }
    if (this.insideCreated) {
      this.insideCreated = false;
      await exec('ip', ['netns', 'del', this.inside.ns]).catch(() => undefined);
    }
    // A veth made before it was moved into a namespace would be left in the machine's own.
    await exec('ip', ['link', 'del', `pxn${this.id}a`]).catch(() => undefined);
  }
}

async function requireNft(): Promise<void> {
  await exec('nft', ['--version']).catch(() => {
    throw new Error('nftables is missing: apt-get install -y nftables (scripts/setup.sh --test does it)');
  });
}

async function run(argv: string[], input?: string): Promise<void> {
  const [cmd, ...args] = argv;
  try {
    await new Promise<void>((res, rej) => {
      const child = execFile(cmd!, args, (err, _stdout, stderr) => (err === null ? res() : rej(Object.assign(err, { stderr }))));
      child.stdin?.end(input);
    });
  } catch (err) {
    throw new Error(`${argv.join(' ')} failed: ${(err as { stderr?: string }).stderr || (err as Error).message}`);
  }
}

async function runIn(ns: string, argv: string[], input?: string): Promise<void> {
  await run(['nsenter', `--net=/run/netns/${ns}`, ...argv], input);
}
