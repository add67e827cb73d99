import { resolve } from 'node:path';
import type { Command } from 'commander';
import { PlexusError, adminGet, adminSocketPath, intFlag, parseConfig, parseHostPort, reportError, runCommand, runNode, usage } from '@plexus/core';
// Declares the ERR_TUNNEL_* codes in the CLI process too, so their hints print.
import './errors.js';

/**
 * `plexus tunnel ...`: the original `trc` as a command. It runs a node whose only plugin is
 * `tunnel`, built from the flags (no libp2p listener), in the foreground; `plexus tunnel status`
 * asks it how its routers are.
 */

interface RunFlags {
  remote: string[];
  secret?: string;
  local?: string;
  localTls?: string;
  maxStreams?: string;
  dataDir?: string;
  logLevel: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];
// Not $PLEXUS_DATA_DIR: that one is the dev node's, and a tunnel beside it must not share its admin socket.
const dataDirOf = (flag: string | undefined): string => resolve(flag ?? '.plexus-tunnel');

export function registerCli(program: Command): void {
  const tunnel = program
    .command('tunnel')
    .description('reach your local services as the names exposed with --client-secret, through the routers (the trc client)')
    .option('--remote <host:port>', "a router's clients port (tcprouter listen.clients, usually 18000); repeat for each router", collect, [])
    .option('--secret <secret>', 'the --client-secret the name was exposed with (default: $PLEXUS_TUNNEL_SECRET)')
    .option('--local <host:port>', 'where plain connections go (and TLS ones without --local-tls)')
    .option('--local-tls <host:port>', 'where TLS connections (first byte 0x16) go')
    .option('--data-dir <dir>', 'node key and admin socket (default: ./.plexus-tunnel)')
    .option('--max-streams <n>', 'tunnelled connections at once per router session (default 1024)')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .addHelpText(
      'after',
      `
One session per router, all kept up; a session that ends is redialled with capped backoff.
  plexus gateway expose --name alice --client-secret "$S"          # once, from your identity
  plexus tunnel --remote gw1.example.org:18000 --remote gw2.example.org:18000 \\
                --secret "$S" --local 127.0.0.1:80 --local-tls 127.0.0.1:443
  plexus tunnel status                                              # each router's state
The same as a role file: configs/threebot.yaml (plexus start --config configs/threebot.yaml).`,
    )
    .action(async (opts: RunFlags) => {
      try {
        const config = await configOfFlags(opts);
        await runNode(config, () => {
          process.stderr.write(`plexus tunnel: dialling ${opts.remote.join(', ')}; \`plexus tunnel status${opts.dataDir === undefined ? '' : ` --data-dir ${opts.dataDir}`}\` shows them. Ctrl-C stops it.\n`);
        });
      } catch (err) {
        reportError(err);
      }
    });

  tunnel
    .command('status')
    .description("each router's state (up, connecting, waiting), reconnects, streams and bytes, from a running `plexus tunnel`")
    .option('--data-dir <dir>', 'the data dir the tunnel runs with (default: ./.plexus-tunnel)')
    .option('--wait <seconds>', 'wait up to this long for a router session to be up (exit 1 if none is)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { dataDir?: string; json?: boolean; wait?: string }) => {
      await runCommand(
        opts,
        async () => {
          // `--data-dir` after `status` may have been taken by `tunnel` itself (commander reads a parent's options anywhere).
          const dir = dataDirOf(opts.dataDir ?? (tunnel.opts() as RunFlags).dataDir);
          const deadline = Date.now() + intFlag('wait', opts.wait, 0) * 1000;
          for (;;) {
            const waiting = Date.now() < deadline;
            // While waiting, a tunnel that is still starting (no admin socket yet) is not an error.
            const t = await tunnelStatus(dir, waiting);
            if (t !== undefined && (opts.wait === undefined || t.up > 0)) return t;
            if (!waiting) {
              throw new PlexusError('ERR_UNAVAILABLE', `no router session up after ${opts.wait} s`, { data: { ...t }, hint: 'Each router\'s lastError says why: `plexus tunnel status`.' });
            }
            await new Promise((r) => setTimeout(r, 200));
          }
        },
        (t) => formatStatus(t),
      );
    });
}

interface TunnelStatus {
  local: string;
  localTls: string;
  up: number;
  remotes: { remote: string; state: string; since: string; reconnects: number; streams: number; lastError?: string }[];
}

/** The tunnel plugin's status over the admin socket; undefined when nothing answers yet and `quiet`. */
async function tunnelStatus(dir: string, quiet: boolean): Promise<TunnelStatus | undefined> {
  let s: { plugins?: { tunnel?: TunnelStatus } };
  try {
    s = (await adminGet(adminSocketPath(dir), '/status')) as typeof s;
  } catch (err) {
    if (err instanceof PlexusError && err.code === 'ERR_CONNECT') {
      if (quiet) return undefined;
      throw new PlexusError('ERR_CONNECT', `no tunnel runs with data dir ${dir}`, { hint: 'Start it with `plexus tunnel --remote ... --secret ... --local ...`, or pass the --data-dir it runs with.' });
    }
    throw err;
  }
  const t = s.plugins?.tunnel;
  if (t === undefined) throw new PlexusError('ERR_NOT_FOUND', `the node with data dir ${dir} runs no tunnel plugin`);
  return t;
}

function formatStatus(t: TunnelStatus): string {
  const lines = [`local ${t.local}, TLS ${t.localTls}; ${t.up} of ${t.remotes.length} routers up`];
  for (const r of t.remotes) lines.push(`  ${r.remote}  ${r.state} since ${r.since}  reconnects ${r.reconnects}  streams ${r.streams}${r.lastError === undefined ? '' : `  (${r.lastError})`}`);
  return lines.join('\n');
}

/** The node config the flags describe; flag errors name the flag (exit 2). */
async function configOfFlags(opts: RunFlags) {
  if (opts.remote.length === 0) throw usage('give at least one --remote HOST:PORT (a router clients port, usually 18000)');
  for (const r of opts.remote) if (parseHostPort(r, false) === undefined) throw usage(`--remote expects HOST:PORT, got '${r}'`);
  if (opts.local === undefined) throw usage('--local HOST:PORT is required: where the tunnelled connections go');
  if (parseHostPort(opts.local, false) === undefined) throw usage(`--local expects HOST:PORT, got '${opts.local}'`);
  if (opts.localTls !== undefined && parseHostPort(opts.localTls, false) === undefined) throw usage(`--local-tls expects HOST:PORT, got '${opts.localTls}'`);
  const secret = opts.secret ?? process.env.PLEXUS_TUNNEL_SECRET;
  if (secret === undefined || secret === '') throw usage('no tunnel secret: give --secret or set $PLEXUS_TUNNEL_SECRET (the --client-secret the name was exposed with)');
  const doc = {
    node: { name: 'tunnel', dataDir: dataDirOf(opts.dataDir), listen: [], log: { level: opts.logLevel } },
    plugins: {
      tunnel: {
        remotes: opts.remote,
        secret,
        local: opts.local,
        ...(opts.localTls === undefined ? {} : { localTls: opts.localTls }),
        ...(opts.maxStreams === undefined ? {} : { maxStreams: intFlag('max-streams', opts.maxStreams, 1024) }),
      },
    },
  };
  // JSON is YAML: the flags go through the same validation as a role file.
  return parseConfig(JSON.stringify(doc), 'plexus tunnel flags', process.cwd());
}
