import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, formatIssue } from '../config/issues.js';
import { parseConfig, type ResolvedConfig } from '../config/load.js';
import { keyPairFromSeed, toHex } from '../crypto/ed25519.js';
import { PlexusError } from '../errors.js';
import { peerIdOf } from '../identity.js';
import { PLAN_ERRORS } from './errors.js';
import { type LoadedPlan, loadPlanFile, upstreamOf } from './load.js';
import { SECRET_FILES, addressOf, buildNodeConfig, portOf } from './node-config.js';
import { SecretsFile, defaultSecretsPath } from './secrets.js';

export interface RenderOptions {
  plan: string;
  out: string;
  /** Default: `<plan dir>/<plan basename>.secrets.yaml`. */
  secrets?: string;
  /** Replaces `defaults.dataDir` (`plexus net up` keeps data under its run dir). */
  dataRoot?: string;
  /** Interface name of a WireGuard network on a node (`net up`: unique across namespaces, since wireguard-go's sockets are not). */
  interfaceName?: (node: string, net: string) => string | undefined;
  /** Docker socket of a host node, replacing the plan's (`net up` runs a dockerd per host node). */
  dockerSocket?: (node: string) => string | undefined;
}

export interface RenderedNode {
  name: string;
  role: string;
  machine: string;
  address: string;
  /** Paths relative to the output dir. */
  files: string[];
  peerId: string;
  /** Rendered config file (absolute). */
  config: string;
}

export interface RenderResult {
  plan: { name: string; file: string };
  out: string;
  secrets: { file: string; created: boolean; updated: boolean };
  explorer: string;
  nodes: RenderedNode[];
}

/** Writes `text` to `path` with `mode`, replacing any older file atomically (and its mode with it). */
async function put(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

export async function renderPlan(opts: RenderOptions): Promise<RenderResult> {
  const loaded = await loadPlanFile(opts.plan);
  const { plan } = loaded;
  const out = resolve(opts.out);
  const secrets = await SecretsFile.open(resolve(opts.secrets ?? defaultSecretsPath(opts.plan)));
  const names = Object.keys(plan.nodes);

  // Identities first: the explorer's peer id goes into every other config, every key into the registry's allow lists.
  const ids = new Map<string, { seed: string; publicKey: string; peerId: string }>();
  for (const n of names) {
    const seed = secrets.get('identities', n);
    const keyPair = keyPairFromSeed(Buffer.from(seed, 'hex'));
    const peerId = await peerIdOf({ keyPair, publicKeyHex: toHex(keyPair.publicKey), path: '', created: false });
    ids.set(n, { seed, publicKey: toHex(keyPair.publicKey), peerId });
  }
  const explorerNode = plan.nodes[loaded.explorer]!;
  const explorerMultiaddr = `/ip4/${addressOf(loaded, loaded.explorer)}/tcp/${portOf(loaded, explorerNode, 'p2p')}/p2p/${ids.get(loaded.explorer)!.peerId}`;
  const publicKeys = Object.fromEntries([...ids].map(([n, i]) => [n, i.publicKey]));

  const rendered: RenderedNode[] = [];
  const problems: string[] = [];
  await mkdir(out, { recursive: true });
  for (const name of names) {
    const node = plan.nodes[name]!;
    const dir = join(out, name);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await mkdir(join(dir, 'secrets'), { recursive: true, mode: 0o700 });
    await chmod(join(dir, 'secrets'), 0o700);
    const files: string[] = [];
    const written = new Map<string, string>();
    const secret = async (rel: string, text: string): Promise<void> => {
      await put(join(dir, rel), text, 0o600);
      written.set(rel, text.trim());
      files.push(`${name}/${rel}`);
    };
    const read = (rel: string): string => written.get(rel) ?? '';
    const id = ids.get(name)!;
    await secret(SECRET_FILES.identity, `${JSON.stringify({ type: 'ed25519', seed: id.seed, publicKey: id.publicKey })}\n`);
    const hasStore = node.role === 'explorer' || node.role === 'dns' || node.role === 'host';
    if (hasStore) await secret(SECRET_FILES.store, `${secrets.get('stores', name)}\n`);
    if (node.role === 'dns') await secret(SECRET_FILES.master, `${secrets.get('stores', upstreamOf(loaded, name))}\n`);
    if (node.role === 'threebot') await secret(SECRET_FILES.tunnel, `${secrets.get('tunnels', name, 16)}\n`);

    const config = buildNodeConfig({
      loaded,
      name,
      dataRoot: opts.dataRoot ?? plan.defaults.dataDir,
      explorerMultiaddr,
      publicKeys,
      ...(opts.interfaceName === undefined ? {} : { interfaceName: opts.interfaceName }),
      ...(opts.dockerSocket?.(name) === undefined ? {} : { dockerSocket: opts.dockerSocket(name)! }),
    });
    const text = `# Node ${name} (role ${node.role}) of plan ${plan.network.name}, rendered by \`plexus render\` from ${basename(opts.plan)}.\n# Do not edit: change the plan and render again. Secrets are the files under secrets/ (0600).\n${stringify(config)}`;
    const configFile = join(dir, 'plexus.yaml');
    await put(configFile, text, 0o644);
    files.unshift(`${name}/plexus.yaml`);

    // The same validation as `plexus check-config`: a failure here is a bug of the renderer.
    let resolved: ResolvedConfig;
    try {
      resolved = await parseConfig(text, configFile, dir);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.issues.map((i) => `node ${name}: ${formatIssue(i)}`));
      continue;
    }
    if (hasStore) {
      await secret('redis.conf', redisConf(loaded, name, resolved, read));
    }
    if (node.role === 'dns') {
      await secret('Corefile', await corefile(resolved));
      if (config.plugins !== undefined && (config.plugins as Record<string, unknown>).tcprouter !== undefined) await secret('tcprouter.toml', tcprouterToml(name, resolved, read));
    }
    rendered.push({ name, role: node.role, machine: node.machine, address: addressOf(loaded, name), files, peerId: id.peerId, config: configFile });
  }
  const updated = await secrets.save();
  if (problems.length > 0) throw new PlexusError(PLAN_ERRORS.ERR_RENDER, `rendered configs failed validation:\n${problems.join('\n')}`, { data: { problems } });

  const manifest = {
    plan: { name: plan.network.name, file: resolve(opts.plan) },
    nodes: rendered.map(({ name, role, machine, address, files }) => ({ name, role, machine, address, files })),
  };
  await put(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  return {
    plan: manifest.plan,
    out,
    secrets: { file: secrets.path, created: secrets.created, updated },
    explorer: explorerMultiaddr,
    nodes: rendered,
  };
}

function storeBlock(resolved: ResolvedConfig): Record<string, any> {
  return resolved.plugins.find((p) => p.definition.provides.includes('store'))!.config as Record<string, any>;
}

/**
 * redis.conf for operators who run redis-server themselves instead of the store plugin: the same
 * bind, port, password, persistence and replication. 0600: it holds the password.
 */
function redisConf(loaded: LoadedPlan, name: string, resolved: ResolvedConfig, password: (rel: string) => string): string {
  const s = storeBlock(resolved);
  const lines = [
    `# redis.conf of node ${name} (plexus render): what its store plugin runs, for operators who run redis-server themselves.`,
    `bind ${s.bind}`,
    `port ${s.port}`,
    'protected-mode yes',
    `requirepass ${password(SECRET_FILES.store)}`,
    `dir ${join(resolved.dataDir, 'store')}`,
    'appendonly yes',
    `appendfsync ${s.fsync}`,
  ];
  if (s.mode === 'replica') {
    const r = s.replicaOf as Record<string, any>;
    const master = r.host ?? `<address of ${loaded.explorer} in the ${r.network} WireGuard network>`;
    lines.push(`replicaof ${master} ${r.port}`, `masterauth ${password(SECRET_FILES.master)}`, 'replica-read-only yes');
  }
  return `${lines.join('\n')}\n`;
}

/** The original tcprouter's TOML (COMPAT.md §2): same listeners, routes from the node's replica. */
function tcprouterToml(name: string, resolved: ResolvedConfig, password: (rel: string) => string): string {
  const t = resolved.plugins.find((p) => p.definition.name === 'tcprouter')!.config as { listen: { http: string; tls: string; clients: string } };
  const s = storeBlock(resolved);
  const portOfListen = (a: string): string => a.slice(a.lastIndexOf(':') + 1);
  const host = t.listen.tls.slice(0, t.listen.tls.lastIndexOf(':'));
  return [
    `# tcprouter (trs) config of node ${name} (plexus render), for operators who run the original router: trs -config tcprouter.toml`,
    '[server]',
    `addr = "${host}"`,
    `port = ${portOfListen(t.listen.tls)}`,
    `httpport = ${portOfListen(t.listen.http)}`,
    `clientsport = ${portOfListen(t.listen.clients)}`,
    '',
    '[server.dbbackend]',
    'type = "redis"',
    `addr = "${s.bind}"`,
    `port = ${s.port}`,
    `password = "${password(SECRET_FILES.store)}"`,
    'refresh = 10',
    '',
  ].join('\n');
}

/** The dns plugin's own generator, on the rendered config (loaded by name, as the core loads every plugin). */
async function corefile(resolved: ResolvedConfig): Promise<string> {
  const dns = (await import('@plexus/plugin-dns' as string)) as { corefileFromConfig(cfg: ResolvedConfig): Promise<string> };
  return dns.corefileFromConfig(resolved);
}
