import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { type ResolvedConfig, loadConfigFile } from '../config/load.js';
import { devConfigPath } from '../config/dev-config.js';
import { NODE_KEY_FILE, loadIdentity, loadOrCreateIdentity, peerIdOf } from '../identity.js';
import { PlexusError } from '../errors.js';
import { createRootLogger } from '../logger.js';
import { PlexusNode } from '../node.js';
import { ensureDataDir } from '../data-dir.js';
import { ReplayWindow } from '../rpc/replay-window.js';
import { installedPluginNames, loadPlugin } from '../plugin-loader.js';
import { intFlag, reportError, runCommand } from './support.js';
import { adminCall, adminGet, adminSocketPath } from '../admin.js';

/**
 * The config a node command acts on: `--config`, else configs/dev.yaml. `$PLEXUS_DATA_DIR`
 * replaces `node.dataDir` (start, id and status alike), so one config can run several nodes and a
 * test or a user can keep the dev node's data anywhere.
 */
export async function resolveConfig(file: string | undefined): Promise<ResolvedConfig> {
  const config = await loadConfigFile(file ?? devConfigPath());
  const override = process.env.PLEXUS_DATA_DIR;
  if (override === undefined || override === '') return config;
  // The key moves with the data dir unless the config names its own file.
  const identityFile = config.node.identityFile === undefined ? join(resolve(override), NODE_KEY_FILE) : config.identityFile;
  return { ...config, dataDir: resolve(override), identityFile };
}

/**
 * An operator action of `plugin` on the running node of `configFile`, over its admin socket: what
 * `plexus host drain`, `plexus wg status` or `plexus cert list` call. A node that runs no such
 * plugin is ERR_NOT_FOUND naming the config, with `hint` saying how to add it.
 */
export async function pluginAction(configFile: string | undefined, plugin: string, action: string, params: unknown, options: { hint: string; timeoutMs?: number }): Promise<unknown> {
  const config = await resolveConfig(configFile);
  try {
    return await adminCall(adminSocketPath(config.dataDir), plugin, action, params, options.timeoutMs);
  } catch (err) {
    if (err instanceof PlexusError && err.code === 'ERR_NOT_FOUND' && /no running plugin/.test(err.message)) {
      throw new PlexusError('ERR_NOT_FOUND', `the node of ${config.file} runs no ${plugin} plugin`, { hint: options.hint });
    }
    throw err;
  }
}

/** Rows as a fixed-width text table (two spaces between columns), like `evernode list`; `empty` when there are none. */
export function textTable(head: readonly string[], rows: readonly (readonly string[])[], empty: string): string {
  if (rows.length === 0) return empty;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows].map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export async function start(opts: { config?: string }): Promise<void> {
  let config: ResolvedConfig;
  try {
    config = await resolveConfig(opts.config);
  } catch (err) {
    reportError(err);
    return;
  }
  await runNode(config, (node) => {
    if (opts.config === undefined) {
      process.stderr.write(`plexus dev node is up: peer ${node.peerId}\n  listening on ${node.multiaddrs().join(', ')}\n  data in ${config.dataDir}\n  Ctrl-C stops it.\n`);
    }
  });
}

/**
 * Runs a node of `config` in the foreground until SIGINT/SIGTERM (a second signal exits at
 * once): what `plexus start` does, and commands that build their config from flags
 * (`plexus tunnel`). A start-up failure is reported (one line, exit code) and returns.
 */
export async function runNode(config: ResolvedConfig, started?: (node: PlexusNode) => void): Promise<void> {
  const log = await createRootLogger({ level: config.node.log.level, ...(config.node.log.pretty === undefined ? {} : { pretty: config.node.log.pretty }) });
  const node = new PlexusNode(config, log.child({ node: config.node.name }));
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string): void => {
    if (stopping !== undefined) {
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    log.info({ signal }, 'stopping');
    stopping = node.stop().then(
      () => {
        process.exitCode = 0;
      },
      (err: unknown) => {
        log.error({ err }, 'stop failed');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  node.onShutdownRequest = (reason) => {
    if (stopping === undefined) shutdown(`plugin: ${reason}`);
  };
  try {
    await node.start();
  } catch (err) {
    // The one-line message explains a start-up failure (config, address in use, data dir); the
    // stack helps only a developer, who gets it at debug level (or with $PLEXUS_DEBUG).
    const code = err instanceof PlexusError ? err.code : 'ERR_INTERNAL';
    log.debug({ err }, 'node failed to start');
    log.fatal({ code, reason: err instanceof Error ? err.message : String(err) }, 'node failed to start');
    log.flush();
    reportError(err);
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
    return;
  }
  started?.(node);
}

export async function checkConfig(opts: { config: string; json?: boolean }): Promise<void> {
  await runCommand(
    opts,
    async () => {
      const config = await loadConfigFile(opts.config);
      return { ok: true, file: config.file, node: config.node.name, plugins: config.plugins.map((p) => p.definition.name) };
    },
    (r) => `${r.file}: ok (node '${r.node}'; plugins in start order: ${r.plugins.join(', ')})`,
  );
}

export async function id(opts: { config?: string; json?: boolean; create?: boolean; multiaddr?: boolean }): Promise<void> {
  await runCommand(
    opts,
    async () => {
      const config = await resolveConfig(opts.config);
      const keyFile = config.identityFile;
      let identity;
      try {
        if (opts.create === true) await ensureDataDir(config.dataDir);
        identity = opts.create === true ? await loadOrCreateIdentity(keyFile) : await loadIdentity(keyFile);
        // A key made now has served nothing: its first start need not wait out a replay window.
        if (identity.created) await ReplayWindow.initialise(config.dataDir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // A read-only command must not invent a node: the key it made would not be the one the
        // running node (started elsewhere, or with another data dir) uses.
        throw new PlexusError('ERR_NOT_FOUND', `no node identity at ${keyFile}: no node was started with data dir ${config.dataDir} (config ${config.file})`, {
          data: { keyFile, dataDir: config.dataDir },
          hint: 'Start the node once with this config, check --config / $PLEXUS_DATA_DIR, or run `plexus id --create` to make its key before the first start.',
        });
      }
      const peerId = await peerIdOf(identity);
      const addrs = config.node.listen.flatMap(expandWildcard).map((a) => `${a}/p2p/${peerId}`);
      return { peerId, publicKey: identity.publicKeyHex, multiaddrs: addrs, keyFile: identity.path, created: identity.created };
    },
    (r) =>
      opts.multiaddr === true
        ? (r.multiaddrs[0] ?? '')
        : [`peer id:    ${r.peerId}`, `public key: ${r.publicKey}`, 'multiaddrs:', ...r.multiaddrs.map((a) => `  ${a}`), ...(r.created ? [`(created ${r.keyFile})`] : [])].join('\n'),
  );
}

export async function status(opts: { config?: string; json?: boolean; wait?: string }): Promise<void> {
  await runCommand(
    opts,
    async () => {
      const config = await resolveConfig(opts.config);
      const socket = adminSocketPath(config.dataDir);
      const deadline = Date.now() + intFlag('wait', opts.wait, 0) * 1000;
      try {
        // --wait: a node being started answers once all its plugins are up.
        for (;;) {
          try {
            return (await adminGet(socket, '/status')) as Record<string, any>;
          } catch (err) {
            if (!(err instanceof PlexusError) || err.code !== 'ERR_CONNECT' || Date.now() >= deadline) throw err;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      } catch (err) {
        if (!(err instanceof PlexusError) || err.code !== 'ERR_CONNECT') throw err;
        throw new PlexusError('ERR_CONNECT', `${err.message}; config ${config.file}, data dir ${config.dataDir}`, {
          data: { socket, dataDir: config.dataDir, config: config.file },
          hint: opts.config === undefined
            ? 'Is the dev node running (bash scripts/dev.sh)? For another node pass its --config, or set $PLEXUS_DATA_DIR to its data dir.'
            : 'Is the node running with this config? `plexus start --config FILE` starts it; the admin socket is <dataDir>/admin.sock.',
        });
      }
    },
    (s) => formatStatus(s),
  );
}

/** Human view of GET /status: node line, then one block per plugin with its fields. */
function formatStatus(s: Record<string, any>): string {
  const n = s.node ?? {};
  const lines = [
    `node ${n.name} (${n.peerId})  up ${n.uptimeSeconds}s  rss ${Math.round((n.rssBytes ?? 0) / 1048576)} MB${n.heapTotalBytes === undefined ? '' : ` (JS heap ${Math.round(n.heapUsedBytes / 1048576)} of ${Math.round(n.heapTotalBytes / 1048576)} MB)`}  connections ${n.connections}`,
    ...(n.listen ?? []).map((a: string) => `  ${a}`),
    `rpc: ${s.rpc?.requests ?? 0} requests, ${s.rpc?.pending ?? 0} being answered${s.rpc?.maxPending === undefined ? '' : ` (at most ${s.rpc.maxPending})`}, errors ${JSON.stringify(s.rpc?.errors ?? {})}`,
    ...(s.p2p === undefined ? [] : [`p2p: ${Object.entries(s.p2p as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ')}`]),
  ];
  for (const [name, st] of Object.entries((s.plugins ?? {}) as Record<string, Record<string, unknown>>)) {
    lines.push(`${name}:`);
    for (const [k, v] of Object.entries(st)) lines.push(`  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  return lines.join('\n');
}

export async function plugins(opts: { json?: boolean }): Promise<void> {
  await runCommand(
    opts,
    async () => {
      const out = [];
      for (const name of await installedPluginNames()) {
        const loaded = await loadPlugin(name, process.cwd());
        if (loaded.ok) {
          const d = loaded.definition;
          out.push({ name: d.name, version: d.version, description: d.description, provides: d.provides, requires: d.requires });
        }
      }
      return out;
    },
    (list) => list.map((p) => `${p.name.padEnd(12)} ${p.description}\n${' '.repeat(13)}provides: ${p.provides.join(', ') || '-'}; requires: ${p.requires.join(', ') || '-'}`).join('\n'),
  );
}

/** A wildcard listen address stands for every interface address of its family. */
function expandWildcard(addr: string): string[] {
  const ma = multiaddr(addr);
  const parts = ma.toString().split('/');
  const family = parts[1];
  const host = parts[2];
  if (!((family === 'ip4' && host === '0.0.0.0') || (family === 'ip6' && host === '::'))) return [addr];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if ((family === 'ip4' && i.family === 'IPv4') || (family === 'ip6' && i.family === 'IPv6' && !i.address.startsWith('fe80'))) {
        out.push(['', family, i.address, ...parts.slice(3)].join('/'));
      }
    }
  }
  return out.length > 0 ? out : [addr];
}
