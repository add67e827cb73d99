import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * The plan file: a whole network described once (machines, roles, zones, WireGuard networks), from
 * which `plexus render` writes every node's config and `plexus net up` brings it up on one machine.
 * Strict like node configs: unknown keys are errors, and every error is collected before failing.
 */

const name = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'expected a name of lowercase letters, digits and - (at most 31)');
const ipv4 = z.string().refine((v) => isIP(v) === 4, { message: 'expected an IPv4 address such as 10.77.0.1' });
const zone = z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'expected a zone such as gateway.tf');
const port = z.number().int().min(1).max(65535);
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected HOST:PORT such as 127.0.0.1:8080');
const cidr = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/([89]|[12]\d|30)$/, 'expected an IPv4 network like 10.1.0.0/24');

export const ROLES = ['explorer', 'dns', 'host', 'threebot', 'dev'] as const;
export type Role = (typeof ROLES)[number];

/** Ports every node of a role uses unless the node overrides them. */
export const PORT_DEFAULTS = {
  p2p: 4001,
  store: 6378,
  replica: 6379,
  hostStore: 6380,
  dns: 53,
  http: 80,
  tls: 443,
  clients: 18000,
  api: 8088,
  wireguard: 51820,
} as const;

const PlanNetworkSchema = z.strictObject({
  /** Name of the network (manifest, `net` run dir, interface names). */
  name,
  /** Zones the gateway registers names in and the DNS nodes answer. */
  zones: z.array(zone).min(1, 'list at least one zone, e.g. [gateway.tf]'),
  /** Where threebots get their names (`NAME.<threebotDomain>`); must be inside one of `zones`. */
  threebotDomain: zone.optional(),
  /** The node (role explorer) the others register with and replicate from. Default: the only explorer. */
  explorer: name.optional(),
  /** `plexus net up` only: address of a visitor namespace on the machines' LAN, for trying the network from outside. */
  visitor: ipv4.optional(),
});

const WgNetworkSchema = z.strictObject({
  cidr,
  /** `mesh` (default) or `{ hub: NODE }`: members peer with the hub only. */
  topology: z.union([z.literal('mesh'), z.strictObject({ hub: name })]).default('mesh'),
  /** This network carries the store's replication (explorer to DNS nodes). At most one network. */
  store: z.boolean().default(false),
  /** UDP port of this network on every member. Default 51820, 51821, ... in plan order. */
  port: port.optional(),
});

const MachineSchema = z.strictObject({
  /** The machine's IPv4 address (behind NAT: its private address). */
  address: ipv4,
  /** Behind NAT: `router` is the public address of its NAT router (what others see). */
  nat: z.strictObject({ router: ipv4 }).optional(),
});

const NodeSchema = z.strictObject({
  machine: name,
  role: z.enum(ROLES),
  /** WireGuard networks joined. Default by role: explorer the store network; dns every network; threebot those that do not carry the store; host none. */
  networks: z.array(name).optional(),
  /** DNS nodes: also run a TCP router (HTTP 80, TLS 443, tunnel clients 18000). Default true. */
  router: z.boolean().optional(),
  /**
   * DNS nodes: the node whose store this one replicates (a dns node or the explorer). Default the
   * explorer; naming a dns node makes a chained replica (a replica of a replica, as Redis allows).
   */
  replicaOf: name.optional(),
  /** Threebots: where the tunnel delivers plain (HTTP) and TLS connections. */
  tunnel: z.strictObject({ local: hostPort.default('127.0.0.1:8080'), localTls: hostPort.optional() }).optional(),
  /** Hosts: what is rented out. */
  hosting: z
    .strictObject({
      dockerSocket: z.string().min(1).default('/var/run/docker.sock'),
      capacity: z
        .strictObject({ instances: z.number().int().min(1), cpus: z.number().positive(), memoryMb: z.number().int().min(16), diskMb: z.number().int().min(16) })
        .optional(),
      images: z.array(z.string().min(1)).optional(),
      disk: z.enum(['loop', 'dir']).optional(),
    })
    .optional(),
  /** Per-node port changes (see `defaults.ports`). */
  ports: z.partialRecord(z.enum(Object.keys(PORT_DEFAULTS) as [keyof typeof PORT_DEFAULTS]), port).optional(),
  /** Merged over the rendered `plugins:` block, key by key (the result is validated like any config). */
  overrides: z.record(z.string(), z.unknown()).optional(),
});

const DefaultsSchema = z.strictObject({
  /** Root of the nodes' data dirs: `<dataDir>/<node>`. Default /var/lib/plexus. */
  dataDir: z.string().min(1).default('/var/lib/plexus'),
  ports: z.partialRecord(z.enum(Object.keys(PORT_DEFAULTS) as [keyof typeof PORT_DEFAULTS]), port).optional(),
  /** `log.level` of every node. Default info. */
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export const PlanSchema = z.strictObject({
  network: PlanNetworkSchema,
  networks: z.record(name, WgNetworkSchema).default({}),
  machines: z.record(name, MachineSchema).refine((m) => Object.keys(m).length > 0, 'list at least one machine'),
  nodes: z.record(name, NodeSchema).refine((n) => Object.keys(n).length > 0, 'list at least one node'),
  defaults: DefaultsSchema.prefault({}),
});

export type Plan = z.output<typeof PlanSchema>;
export type PlanNode = Plan['nodes'][string];
export type PortName = keyof typeof PORT_DEFAULTS;
