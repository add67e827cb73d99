import type { Redis } from 'ioredis';
import type { StoreWatchBatch, StoreWatchKind, StoreWatchOptions, StoreWatcher } from './store-watch.js';

/**
 * Contracts of capabilities shared between plugins. A plugin asks the core for a capability by
 * name and types it with these interfaces; it never imports the providing plugin.
 */

/** Provided by the `phonebook` plugin: who owns a name. Read-only for other plugins. */
export interface PhonebookCapability {
  byName(name: string): Promise<PhonebookEntry | undefined>;
  byTid(tid: number): Promise<PhonebookEntry | undefined>;
}

export interface PhonebookEntry {
  tid: number;
  name: string;
  /** 64 lowercase hex chars: the Ed25519 key that owns the name. */
  pubkey: string;
  email: string;
  ipaddr: string;
  description: string;
}

/** Provided by the `store` plugin. */
export interface StoreCapability {
  /** Shared command connection. Do not use it for SUBSCRIBE or blocking commands. */
  readonly redis: Redis;
  /** A new connection with the same settings (for SUBSCRIBE, MONITOR, blocking reads). Caller closes it. */
  duplicate(): Redis;
  /** `master` accepts writes; `replica` is read-only. */
  readonly role: 'master' | 'replica';
  /** Where the store listens, without the password. */
  readonly address: { host: string; port: number };
  /** Current status for `plexus status`. */
  status(): Promise<StoreStatus>;
  /** Keeps `onChange` told of every key matching `options.patterns`; resolves after the first full load. */
  watch<K extends StoreWatchKind>(options: StoreWatchOptions<K>, onChange: (batch: StoreWatchBatch<K>) => void): Promise<StoreWatcher>;
  /**
   * Managed stores: listen on these addresses besides the configured `bind` (which stays, so local
   * clients keep reaching it); `[]` returns to `bind` alone. Applied at runtime (`CONFIG SET bind`),
   * for a plugin that brings up a private network after the store started (wireguard).
   */
  listenOn?(addresses: readonly string[]): Promise<void>;
  /**
   * Replica stores whose master comes from a private network (`replicaOf.network`): the network's
   * name, else undefined. Such a store replicates nothing until `replicateFrom` names the master.
   */
  readonly replicaOfNetwork?: string | undefined;
  /** Replica stores with `replicaOf.network`: replicate the master at `host` (an IP on that network). */
  replicateFrom?(host: string): Promise<void>;
  /**
   * Stores in a sentinel group (high availability): resolves when this store is the master now;
   * throws ERR_NOT_MASTER (data.master: the master explorer's multiaddr when known) on a standby.
   * Write paths call it before changing anything (see `masterOnly`).
   */
  writable?(): Promise<void>;
  /**
   * Stores in a sentinel group: resolves once every write this node made so far on the shared
   * connection reached the configured number of replicas (`WAIT`); ERR_NOT_REPLICATED when they
   * did not confirm in time. Write paths call it before acknowledging a change.
   */
  acknowledge?(): Promise<void>;
}

export interface StoreStatus {
  role: 'master' | 'replica';
  managed: boolean;
  address: string;
  /** Replica only: whether the link to the master is up, and how far behind it is. */
  masterLink?: 'up' | 'down';
  masterHost?: string;
  lagBytes?: number;
  lastIoSecondsAgo?: number;
  connectedReplicas?: number;
  keys?: number;
}

/** Provided by the `gateway` plugin: what it manages, for plugins that build on its names. */
export interface GatewayCapability {
  /** Zones the gateway manages, normalized. */
  readonly zones: readonly string[];
  /** Zone that exposed names go under (`NAME.<threebotDomain>`). */
  readonly threebotDomain: string;
  /** The gateway's own public addresses (where client-exposed names point). */
  readonly publicIps: readonly string[];
  /**
   * For plugins acting on a request that `signer` signed (acme's `cert_issue`): resolves with the
   * phonebook entry owning `fqdn` when `signer` is its key, with the rule of the gateway's own
   * methods; ERR_FORBIDDEN / ERR_NOT_FOUND otherwise.
   */
  authorizeSigner?(signer: string, fqdn: string): Promise<PhonebookEntry>;
  /**
   * Adds or removes one TXT value at `fqdn` on behalf of `signer`, exactly as `domain_register_txt`
   * / `domain_delete` signed by that key would (same ownership check, same store format).
   */
  txtFor?(signer: string, fqdn: string, op: 'add' | 'remove', text: string): Promise<void>;
}

/**
 * Store key (a string with a TTL) holding the key authorization of a pending ACME HTTP-01
 * challenge for `host`: the `acme` plugin writes it on the master, the `tcprouter` answers
 * `GET /.well-known/acme-challenge/<token>` for `host` from it (RFC 8555 §8.3).
 */
export function acmeHttp01Key(host: string, token: string): string {
  return `acme:http-01:${host}:${token}`;
}

/** Provided by the `dns` plugin: what it serves and where. */
export interface DnsCapability {
  /** Zones answered authoritatively, normalized. */
  readonly zones: readonly string[];
  /** Addresses the DNS sockets are bound to (ports resolved when 0 was configured). */
  addresses(): { udp: { host: string; port: number }[]; tcp: { host: string; port: number }[] };
}

/**
 * A tenant's lease request, as any lease source delivers it to the host (`ledger-overlay`: signed
 * RPCs over libp2p; `ledger-xahau`: transactions on Xahau). `tenant` is the Ed25519 key (hex) the
 * request is signed by / paid from; replies are sealed to it.
 */
export type LeaseRequest =
  | {
      kind: 'acquire';
      tenant: string;
      /** Container image of the instance (a local image of the host). */
      image: string;
      /** The tenant's instance config, written into the instance as config.json. */
      config: Record<string, unknown>;
      /** The tenant's contract id (Evernode); generated when absent. */
      contractId?: string;
      /** How long the lease runs from now. */
      durationSeconds: number;
      /** The source's id of the request (tx hash, RPC nonce), for logs and idempotency. */
      requestId: string;
    }
  | { kind: 'extend'; tenant: string; leaseId: string; durationSeconds: number; requestId: string }
  | { kind: 'terminate'; tenant: string; leaseId: string; requestId: string };

/** The host's answer to a lease request (refusals are thrown as PlexusError). */
export type LeaseResult =
  | {
      kind: 'acquire';
      leaseId: string;
      /** ISO time the lease ends unless extended. */
      expiresAt: string;
      /** The instance details (name, host, ports, contract id, instance key), sealed to the tenant (`openSealed`). */
      instance: import('./crypto/box.js').SealedBox;
      /**
       * The same details in the clear, for a lease source that must seal them its own way (Xahau:
       * libsodium's sealed box to the tenant's message key, in Evernode's field names). A source
       * never passes them on unsealed: the overlay strips them from its RPC answer.
       */
      details: InstanceDetails;
    }
  | { kind: 'extend'; leaseId: string; expiresAt: string }
  | { kind: 'terminate'; leaseId: string };

/** What an instance's tenant learns once its box is opened. */
export interface InstanceDetails {
  name: string;
  host: string;
  peerPort: number;
  userPort: number;
  contractId: string;
  /** Hex Ed25519 public key of the instance (its secret is in the instance's data dir). */
  pubkey: string;
  leaseId: string;
  expiresAt: string;
}

/**
 * Provided by a lease source (`ledger-overlay`, `ledger-xahau`): where lease requests come from and
 * how answers go back. The host (`hosting`) registers its handler once, at start.
 */
export interface LedgerCapability {
  /** `overlay`, `xahau`, ... (shown in status). */
  readonly source: string;
  /** Registers the host's handler. Requests before that are refused with ERR_UNAVAILABLE. */
  serve(handler: (request: LeaseRequest) => Promise<LeaseResult>): void;
  /**
   * The host's capacity and whether it takes leases now (false while draining), told at start and
   * on every change. A source that puts lease slots on offer (xahau) keeps that many offered and
   * takes them off while the host is not available; a source without slots ignores it.
   */
  capacity?(c: { instances: number; available: boolean }): void;
}

/**
 * Capability name → contract. `ctx.capability('store')` is typed from this map, and a plugin's
 * `capabilities()` must supply an object for each name it `provides`. A third-party capability
 * is added by declaration merging, no cast needed:
 *
 *     declare module '@plexus/core' { interface CapabilityMap { ledger: LedgerCapability } }
 */
export interface CapabilityMap {
  store: StoreCapability;
  phonebook: PhonebookCapability;
  gateway: GatewayCapability;
  dns: DnsCapability;
  ledger: LedgerCapability;
}

export type CapabilityName = keyof CapabilityMap & string;
