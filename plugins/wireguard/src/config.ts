import { isIP } from 'node:net';
import { isHostname, normalizeName, parseHostPort, phonebookNameSchema, portSchema, z } from '@plexus/core';
import { parseCidr } from './cidr.js';

/** Defaults of the `wireguard` block, next to the schema that applies them. */
export const WIREGUARD_DEFAULTS = {
  implementation: 'auto',
  wireguardGo: 'wireguard-go',
  /** Seconds between keepalives a member behind NAT sends to its peers (WireGuard's usual value). */
  natKeepalive: 25,
} as const;

/** Network names: they become Redis keys, interface names and CLI arguments. */
export const networkNameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'expected a network name: lowercase letters, digits and -, at most 32');

/** Linux interface names: at most 15 bytes, no slash or space (`wg` and `ip` take them as arguments). */
export const interfaceNameSchema = z.string().regex(/^[a-zA-Z0-9_.=+-]{1,15}$/, 'expected an interface name of 1-15 letters, digits or _.=+-').refine((v) => !v.startsWith('-'), { message: 'an interface name may not start with -' });

/** `host:port` a member is reached at from outside (a host name or an IP). */
export const endpointSchema = z.string().max(260).refine(isEndpoint, { message: 'expected HOST:PORT, e.g. 203.0.113.7:51820' });

/** HOST:PORT where HOST is an IP or a DNS name: nothing else reaches `wg set ... endpoint`. */
export function isEndpoint(value: string): boolean {
  const hp = parseHostPort(value, false);
  return hp !== undefined && (isIP(hp.host) !== 0 || isHostname(normalizeName(hp.host)));
}

/** One network this node is a member of. */
export const memberNetworkSchema = z.strictObject({
  /** UDP port WireGuard listens on for this network. Required. */
  listenPort: portSchema,
  /** Where the other members reach this node (`host:port`). Omitted: behind NAT, it dials out and keeps the sessions alive. */
  endpoint: endpointSchema.optional(),
  /** Interface name. Default `wg-<network>` (cut to 15 bytes); must be unique on the machine. */
  interface: interfaceNameSchema.optional(),
  /** Seconds between keepalives to each peer. Default: 25 without `endpoint` (behind NAT), off otherwise. */
  persistentKeepalive: z.number().int().min(0).max(65535).optional(),
  /**
   * This network carries the store's replication: on the store master the store also listens on this
   * node's address in the network; on a replica with `replicaOf.network` it replicates the registry
   * node's address in the network. Default false.
   */
  store: z.boolean().default(false),
});

/** Topology of a network in the registry. */
export const topologySchema = z.union([z.literal('mesh'), z.strictObject({ hub: phonebookNameSchema })]);
export type Topology = z.output<typeof topologySchema>;

/** One network the registry (explorer) allocates addresses in. */
export const registryNetworkSchema = z.strictObject({
  /** IPv4 CIDR the members' addresses are allocated from, e.g. `10.1.0.0/24` (prefix 8-30). */
  cidr: z.string().refine((v) => parseCidr(v) !== undefined, { message: 'expected an IPv4 network like 10.1.0.0/24 (prefix 8-30, host bits zero)' }),
  /** `mesh` (default): every member peers with every other. `{ hub: NAME }`: members peer with the hub only, which forwards. */
  topology: topologySchema.default('mesh'),
  /** Node keys (64 hex) allowed to join. Default: any node that signs its join. */
  allow: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'expected a 64-hex node public key')).max(10_000).optional(),
});

export const WireguardConfigSchema = z
  .strictObject({
    /** Networks this node is a member of, by name. */
    networks: z.record(networkNameSchema, memberNetworkSchema).default({}),
    /** Registry side (the explorer): the networks it allocates addresses in, by name. */
    registry: z.record(networkNameSchema, registryNetworkSchema).default({}),
    /** `auto` (default): the kernel's WireGuard when it has one, else wireguard-go. `kernel` or `wireguard-go` force one. */
    implementation: z.enum(['auto', 'kernel', 'wireguard-go']).default(WIREGUARD_DEFAULTS.implementation),
    /** Path or PATH-name of wireguard-go. Default `wireguard-go`. */
    wireguardGo: z.string().min(1).default(WIREGUARD_DEFAULTS.wireguardGo),
  })
  .superRefine((c, ctx) => {
    const names = Object.keys(c.networks);
    if (names.length === 0 && Object.keys(c.registry).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['networks'], message: 'name at least one network to join (networks) or to allocate (registry)' });
    }
    const ports = new Map<number, string>();
    const ifaces = new Map<string, string>();
    let stores = 0;
    for (const name of names) {
      const n = c.networks[name]!;
      const other = ports.get(n.listenPort);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['networks', name, 'listenPort'], message: `port ${n.listenPort} is already used by network ${other}` });
      ports.set(n.listenPort, name);
      const iface = interfaceOf(name, n.interface);
      const clash = ifaces.get(iface);
      if (clash !== undefined) ctx.addIssue({ code: 'custom', path: ['networks', name, 'interface'], message: `interface ${iface} is already used by network ${clash}` });
      ifaces.set(iface, name);
      if (n.store && ++stores > 1) ctx.addIssue({ code: 'custom', path: ['networks', name, 'store'], message: 'only one network can carry the store' });
    }
  });

export type WireguardConfig = z.output<typeof WireguardConfigSchema>;
export type MemberNetworkConfig = z.output<typeof memberNetworkSchema>;
export type RegistryNetworkConfig = z.output<typeof registryNetworkSchema>;

/** The interface of a network: configured, or `wg-<network>` cut to Linux's 15 bytes. */
export function interfaceOf(network: string, configured: string | undefined): string {
  return configured ?? `wg-${network}`.slice(0, 15);
}
