import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PlexusError, type Logger, type StoreCapability } from '@plexus/core';
import { parseCidr } from './cidr.js';
import { WIREGUARD_DEFAULTS, interfaceOf, type MemberNetworkConfig, type WireguardConfig } from './config.js';
import type { PeerDump } from './dump.js';
import { WIREGUARD_ERRORS } from './errors.js';
import type { RegistryLink } from './link.js';
import { desiredPeers, peerChanges, type PeerSpec } from './peers.js';
import type { MembersView } from './records.js';
import { writePrivateFile } from './secret-file.js';
import { StoreOnNetwork } from './store-hook.js';
import { genKey, pubKey, run, WgInterface } from './wg.js';

/** How long one `members` long poll waits for a change at the registry. */
const WAIT_MS = 10_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;

export type MemberState = 'starting' | 'joining' | 'up' | 'removed' | 'stopped';

export interface NetworkStatus {
  network: string;
  interface: string;
  implementation: string | undefined;
  state: MemberState;
  address: string | undefined;
  cidr: string | undefined;
  publicKey: string | undefined;
  listenPort: number;
  endpoint: string | null;
  topology: MembersView['topology'] | undefined;
  version: number | undefined;
  store: boolean;
  lastError: string | undefined;
  peers: (PeerDump & { name: string | undefined })[];
}

/** What a member needs from its node. */
export interface MemberEnv {
  dataDir: string;
  nodeName: string;
  selfKey: string;
  log: Logger;
  store: StoreCapability | undefined;
  config: WireguardConfig;
}

/**
 * This node's membership of one network: its key, its interface, and a loop that joins, then
 * long-polls the registry and applies each new membership to the interface as individual peer
 * changes (`wg set`). The interface is created once; only a lost wireguard-go process makes it
 * come back, and then with every peer again.
 */
export class NetworkMember {
  readonly iface: WgInterface;
  private state: MemberState = 'starting';
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private interfaceUp = false;
  private address: string | undefined;
  private cidr: string | undefined;
  private publicKey: string | undefined;
  private view: MembersView | undefined;
  private applied: PeerSpec[] = [];
  private lastError: string | undefined;
  private forwarding = false;
  private readonly storeHook: StoreOnNetwork | undefined;
  /** Serializes applies and key changes. */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly network: string,
    private readonly cfg: MemberNetworkConfig,
    private readonly env: MemberEnv,
    private readonly link: RegistryLink,
  ) {
    this.storeHook = cfg.store ? new StoreOnNetwork(network, env.store, env.log) : undefined;
    this.iface = new WgInterface(interfaceOf(network, cfg.interface), env.config.implementation, env.config.wireguardGo, env.log);
    this.iface.onLost = () => {
      this.interfaceUp = false;
      this.applied = [];
      this.view = undefined; // the next poll answers at once, so the new interface gets every peer
      this.wake?.();
    };
  }

  private get keyFile(): string {
    return join(this.env.dataDir, `${this.network}.key`);
  }

  private get keepalive(): number {
    return this.cfg.persistentKeepalive ?? (this.cfg.endpoint === undefined ? WIREGUARD_DEFAULTS.natKeepalive : 0);
  }

  /** Loads or creates the key and brings the interface up; joining runs in the background. */
  async start(): Promise<void> {
    this.publicKey = await pubKey(await this.privateKey());
    await this.ensureInterface();
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.state = 'stopped';
    this.wake?.();
    await this.loop;
    await this.link.close();
    await this.storeHook?.release();
    await this.iface.destroy();
    this.interfaceUp = false;
  }

  /** The private key file's content, created (0600) at first use. It never leaves this machine. */
  private async privateKey(): Promise<string> {
    const existing = await readFile(this.keyFile, 'utf8').catch(() => undefined);
    if (existing !== undefined && existing.trim() !== '') return existing.trim();
    const key = await genKey();
    await writePrivateFile(this.keyFile, `${key}\n`);
    this.env.log.info({ network: this.network, file: this.keyFile }, 'created a WireGuard key');
    return key;
  }

  private async ensureInterface(): Promise<void> {
    if (this.interfaceUp) return;
    await this.iface.create(this.keyFile, this.cfg.listenPort);
    this.interfaceUp = true;
    this.applied = [];
    if (this.address !== undefined && this.cidr !== undefined) await this.iface.setAddress(this.address, parseCidr(this.cidr)!.prefix);
    this.env.log.info({ network: this.network, interface: this.iface.name, implementation: this.iface.implementation }, 'WireGuard interface up');
  }

  private async run(): Promise<void> {
    let delay = RETRY_MIN_MS;
    let joined = false;
    while (this.running) {
      try {
        await this.ensureInterface();
        if (!joined) {
          this.state = this.state === 'removed' ? 'removed' : 'joining';
          const r = await this.link.join(this.network, { name: this.env.nodeName, key: this.publicKey!, endpoint: this.cfg.endpoint, listenPort: this.cfg.listenPort });
          joined = true;
          this.view = undefined;
          await this.setAddress(r.address, r.cidr);
          this.env.log.info({ network: this.network, address: r.address }, 'joined the network');
        }
        const view = await this.untilStopped(this.link.members(this.network, this.view?.version, WAIT_MS));
        if (view === undefined) continue; // stopping, or the interface was lost: the loop condition decides
        if (!view.members.some((m) => m.signer === this.env.selfKey)) joined = false;
        await this.locked(() => this.apply(view));
        this.state = joined ? 'up' : 'joining';
        this.lastError = undefined;
        delay = RETRY_MIN_MS;
      } catch (err) {
        if (!this.running) break;
        const e = err as PlexusError;
        if (e.code === WIREGUARD_ERRORS.ERR_WIREGUARD_REMOVED || e.code === WIREGUARD_ERRORS.ERR_WIREGUARD_NOT_MEMBER) {
          if (this.state !== 'removed') this.env.log.warn({ network: this.network, code: e.code }, 'not a member of the network: no peers until readmitted');
          joined = false;
          this.state = e.code === WIREGUARD_ERRORS.ERR_WIREGUARD_REMOVED ? 'removed' : 'joining';
          await this.locked(() => this.clearPeers());
        } else if (this.lastError !== e.message) {
          this.env.log.warn({ network: this.network, err: e.message, code: e.code }, 'registry call failed; retrying');
        }
        this.lastError = e.message;
        await this.sleep(delay);
        delay = Math.min(RETRY_MAX_MS, delay * 2);
      }
    }
  }

  private async setAddress(address: string, cidr: string): Promise<void> {
    const parsed = parseCidr(cidr);
    if (parsed === undefined) throw new PlexusError(WIREGUARD_ERRORS.ERR_WIREGUARD_REGISTRY_DATA, `the registry gave an invalid network ${cidr}`);
    if (address === this.address && cidr === this.cidr) return;
    await this.iface.setAddress(address, parsed.prefix);
    this.address = address;
    this.cidr = cidr;
  }

  /** Makes the interface match `view`: peer changes only, then the store and forwarding hooks. */
  private async apply(view: MembersView): Promise<void> {
    this.view = view;
    const self = view.members.find((m) => m.signer === this.env.selfKey);
    if (self === undefined) {
      await this.clearPeers();
      return;
    }
    await this.setAddress(self.address, view.cidr);
    const next = desiredPeers(view, this.env.selfKey, this.keepalive);
    const args = peerChanges(this.applied, next);
    if (args.length > 0) {
      await this.iface.set(args);
      this.env.log.info({ network: this.network, version: view.version, peers: next.map((p) => p.name) }, 'peers applied');
    }
    this.applied = next;
    if (view.topology !== 'mesh' && view.topology.hub === self.name && !this.forwarding) {
      // System-wide on a real machine (per network namespace in tests): only ever done on a hub.
      await run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      this.forwarding = true;
      this.env.log.warn({ network: this.network }, 'this node is the hub of the network: IPv4 forwarding enabled (net.ipv4.ip_forward=1)');
    }
    await this.storeHook?.apply(view, self.address);
  }

  private async clearPeers(): Promise<void> {
    await this.iface.set(peerChanges(this.applied, []));
    this.applied = [];
  }

  /**
   * A new key: registered with the registry first (signed), then put on the interface. The peers
   * learn it from their long polls within a moment, so traffic pauses only that long.
   */
  rotateKey(): Promise<{ network: string; publicKey: string }> {
    return this.locked(async () => {
      const key = await genKey();
      const pub = await pubKey(key);
      const fresh = `${this.keyFile}.new`;
      await writePrivateFile(fresh, `${key}\n`);
      try {
        await this.link.rotate(this.network, pub);
      } catch (err) {
        await rm(fresh, { force: true });
        throw err;
      }
      await rename(fresh, this.keyFile);
      await this.iface.set(['private-key', this.keyFile]);
      this.publicKey = pub;
      this.env.log.info({ network: this.network, publicKey: pub }, 'rotated the WireGuard key');
      return { network: this.network, publicKey: pub };
    });
  }

  /** Leaves the network (the registry releases the address); the node stays up without peers. */
  leave(): Promise<{ network: string; left: boolean }> {
    return this.locked(async () => {
      await this.link.leave(this.network);
      await this.clearPeers();
      this.running = false;
      this.wake?.();
      this.state = 'stopped';
      return { network: this.network, left: true };
    });
  }

  async status(): Promise<NetworkStatus> {
    const names = new Map(this.view?.members.map((m) => [m.key, m.name]) ?? []);
    const dump = this.interfaceUp ? await this.iface.dump().catch(() => undefined) : undefined;
    return {
      network: this.network,
      interface: this.iface.name,
      implementation: this.iface.implementation,
      state: this.state,
      address: this.address,
      cidr: this.cidr,
      publicKey: this.publicKey,
      listenPort: this.cfg.listenPort,
      endpoint: this.cfg.endpoint ?? null,
      topology: this.view?.topology,
      version: this.view?.version,
      store: this.cfg.store,
      lastError: this.lastError,
      peers: (dump?.peers ?? []).map((p) => ({ ...p, name: names.get(p.publicKey) })),
    };
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  /** Resolves with `p`'s value, or undefined as soon as the member stops. */
  private untilStopped<T>(p: Promise<T>): Promise<T | undefined> {
    p.catch(() => undefined);
    return Promise.race([p, new Promise<undefined>((r) => (this.wake = () => r(undefined)))]);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
  }
}
