import type { LoadedPlan } from './load.js';
import { hasReplicas, networksOf, routers, upstreamOf } from './load.js';
import { PORT_DEFAULTS, type PlanNode, type PortName } from './schema.js';

/**
 * One node's config, built from the plan: the plugin set of its role (configs/<role>.yaml) with
 * this plan's names, addresses and peer ids. Secrets are referenced by file only, relative to the
 * config's directory (`secrets/...`); the caller writes those files.
 */
export interface NodeRenderInput {
  loaded: LoadedPlan;
  name: string;
  /** Root of the data dirs (`<root>/<node>`). */
  dataRoot: string;
  /** Multiaddr of the explorer, with its peer id. */
  explorerMultiaddr: string;
  /** Identity public keys (64 hex) by node: the WireGuard registry admits these only. */
  publicKeys: Record<string, string>;
  /** Interface name of `net` on this node; undefined: the wireguard plugin's default (`wg-<net>`). */
  interfaceName?: (node: string, net: string) => string | undefined;
  /** Replaces the plan's docker socket of a host node. */
  dockerSocket?: string;
}

/** Relative paths of the secret files a rendered config references. */
export const SECRET_FILES = {
  identity: 'secrets/identity.key',
  store: 'secrets/store.password',
  master: 'secrets/master.password',
  tunnel: 'secrets/tunnel.secret',
} as const;

export function portOf(loaded: LoadedPlan, node: PlanNode, p: PortName): number {
  return node.ports?.[p] ?? loaded.plan.defaults.ports?.[p] ?? PORT_DEFAULTS[p];
}

export function addressOf(loaded: LoadedPlan, node: string): string {
  return loaded.plan.machines[loaded.plan.nodes[node]!.machine]!.address;
}

export function behindNat(loaded: LoadedPlan, node: string): boolean {
  return loaded.plan.machines[loaded.plan.nodes[node]!.machine]!.nat !== undefined;
}

/** UDP port of a WireGuard network: its own, else 51820 + its position in the plan. */
export function wgPortOf(loaded: LoadedPlan, net: string): number {
  const names = Object.keys(loaded.plan.networks);
  return loaded.plan.networks[net]!.port ?? loaded.plan.defaults.ports?.wireguard ?? PORT_DEFAULTS.wireguard + names.indexOf(net);
}

export function buildNodeConfig(input: NodeRenderInput): Record<string, unknown> {
  const { loaded, name } = input;
  const { plan } = loaded;
  const node = plan.nodes[name]!;
  const addr = addressOf(loaded, name);
  const port = (p: PortName): number => portOf(loaded, node, p);
  const explorerNode = plan.nodes[loaded.explorer]!;
  const storePort = portOf(loaded, explorerNode, 'store');

  const nodeBlock: Record<string, unknown> = {
    name,
    dataDir: `${input.dataRoot.replace(/\/$/, '')}/${name}`,
    identityFile: SECRET_FILES.identity,
    // A node behind NAT is reached by nobody: it only dials out.
    listen: behindNat(loaded, name) ? [] : [`/ip4/${addr}/tcp/${port('p2p')}`],
    log: { level: plan.defaults.logLevel },
  };
  if (node.role !== 'explorer') nodeBlock.explorer = [input.explorerMultiaddr];

  const plugins: Record<string, unknown> = {};
  const gatewayZones = [...plan.network.zones];
  const tbd = plan.network.threebotDomain;
  if (tbd !== undefined && !gatewayZones.includes(tbd)) gatewayZones.push(tbd);

  switch (node.role) {
    case 'explorer':
      plugins.store = {
        // Without a store network the DNS nodes replicate from the machine address, which needs the
        // password (always set here); with one, the wireguard plugin adds the address in it.
        bind: loaded.storeNetwork === undefined ? addr : '127.0.0.1',
        port: storePort,
        passwordFile: SECRET_FILES.store,
        fsync: 'always',
      };
      plugins.phonebook = {};
      plugins.gateway = {
        zones: gatewayZones,
        ...(tbd === undefined ? {} : { threebotDomain: tbd }),
        // Names exposed to a tunnel client point at the routers.
        publicIps: routers(plan).map((r) => addressOf(loaded, r)),
      };
      // Host nodes report their capacity here; tenants list them (`plexus hosts list`).
      if (Object.values(plan.nodes).some((n) => n.role === 'host')) plugins.hosts = {};
      plugins.api = { listen: `127.0.0.1:${port('api')}` };
      break;
    case 'dns': {
      const up = upstreamOf(loaded, name);
      plugins.store = {
        mode: 'replica',
        // Chained replicas reach this store on the machine address; it always has a password.
        bind: hasReplicas(plan, name) ? addr : '127.0.0.1',
        port: port('replica'),
        passwordFile: SECRET_FILES.store,
        replicaOf:
          up !== loaded.explorer
            ? { host: addressOf(loaded, up), port: portOf(loaded, plan.nodes[up]!, 'replica'), passwordFile: SECRET_FILES.master }
            : loaded.storeNetwork === undefined
              ? { host: addressOf(loaded, loaded.explorer), port: storePort, passwordFile: SECRET_FILES.master }
              : { network: loaded.storeNetwork, port: storePort, passwordFile: SECRET_FILES.master },
      };
      plugins.dns = { listen: [`${addr}:${port('dns')}`], zones: [...plan.network.zones] };
      if (node.router !== false) {
        plugins.tcprouter = { listen: { http: `${addr}:${port('http')}`, tls: `${addr}:${port('tls')}`, clients: `${addr}:${port('clients')}` } };
      }
      break;
    }
    case 'host': {
      const h = node.hosting;
      plugins.store = { bind: '127.0.0.1', port: port('hostStore'), passwordFile: SECRET_FILES.store };
      plugins['ledger-overlay'] = {};
      plugins.hosting = {
        docker: { socket: input.dockerSocket ?? h?.dockerSocket ?? '/var/run/docker.sock' },
        publicHost: `${name}.${plan.network.zones[0]}`,
        ...(h?.capacity === undefined ? {} : { capacity: h.capacity }),
        ...(h?.images === undefined ? {} : { images: h.images }),
        ...(h?.disk === undefined ? {} : { disk: h.disk }),
      };
      break;
    }
    case 'threebot':
      plugins.tunnel = {
        remotes: routers(plan).map((r) => `${addressOf(loaded, r)}:${portOf(loaded, plan.nodes[r]!, 'clients')}`),
        secretFile: SECRET_FILES.tunnel,
        local: node.tunnel?.local ?? '127.0.0.1:8080',
        ...(node.tunnel?.localTls === undefined ? {} : { localTls: node.tunnel.localTls }),
      };
      break;
    case 'dev':
      break;
  }

  const wg = wireguardBlock(input, node);
  if (wg !== undefined) plugins.wireguard = wg;
  return { node: nodeBlock, plugins: mergeOverrides(plugins, node.overrides ?? {}) };
}

function wireguardBlock(input: NodeRenderInput, node: PlanNode): Record<string, unknown> | undefined {
  const { loaded, name } = input;
  const { plan } = loaded;
  const networks: Record<string, unknown> = {};
  const nat = behindNat(loaded, name);
  for (const net of networksOf(plan, node)) {
    const p = wgPortOf(loaded, net);
    const iface = input.interfaceName?.(name, net);
    networks[net] = {
      listenPort: p,
      ...(nat ? {} : { endpoint: `${addressOf(loaded, name)}:${p}` }),
      ...(iface === undefined ? {} : { interface: iface }),
      ...(plan.networks[net]!.store ? { store: true } : {}),
    };
  }
  const registry: Record<string, unknown> = {};
  if (node.role === 'explorer') {
    for (const [net, w] of Object.entries(plan.networks)) {
      const members = Object.entries(plan.nodes).filter(([, pn]) => networksOf(plan, pn).includes(net)).map(([n]) => n);
      registry[net] = { cidr: w.cidr, topology: w.topology, allow: members.map((m) => input.publicKeys[m]!) };
    }
  }
  if (Object.keys(networks).length === 0 && Object.keys(registry).length === 0) return undefined;
  return { ...(Object.keys(registry).length === 0 ? {} : { registry }), ...(Object.keys(networks).length === 0 ? {} : { networks }) };
}

/** `overrides` merged into the rendered plugins: mappings key by key, anything else replaced. */
export function mergeOverrides(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isMap(b) && isMap(v) ? mergeOverrides(b, v) : v;
  }
  return out;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
