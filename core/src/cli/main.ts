#!/usr/bin/env node
import { runFromBundle } from './bundle-route.js';
import { type PluginCliModule, bundledCli } from './bundled-clis.js';

// Node's modules as CommonJS objects: an ES module import of a builtin reads every export once,
// which loads the lazy ones (node:fs's streams and promises), ~10 ms of a one-shot command.
const { readFileSync, readdirSync } = process.getBuiltinModule('node:fs');
const { createRequire, enableCompileCache } = process.getBuiltinModule('node:module');

/**
 * Entry point of `plexus`. Kept light on purpose (`plexus --help` must answer in well under
 * 300 ms): node commands load their modules when they run, and a plugin's client commands are
 * loaded only when that plugin's name is the first argument. The client commands of the plugins
 * the CLI bundle carries run from it instead (bundle-route.ts); the bundle is this same module.
 */
const BUILTIN = new Set(['start', 'check-config', 'id', 'status', 'plugins', 'help']);

async function main(argv: string[]): Promise<void> {
  const { Command, CommanderError } = await import('commander');
  // `plexus ... | head`: the reader went away; stop quietly, as other Unix tools do.
  for (const out of [process.stdout, process.stderr]) {
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) {
    process.stderr.write(`plexus: needs Node.js 22 or newer (this is ${process.version}); run scripts/setup.sh, then bin/plexus\n`);
    process.exitCode = 2;
    return;
  }
  const program = new Command('plexus')
    .description('Plugin-based peer-to-peer overlay node: registry, DNS, TCP router and tunnel, contract hosting.')
    .version(version(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('start')
    .description('run a node with the plugins its config names (no --config: the all-in-one dev node of configs/dev.yaml)')
    .option('-c, --config <file>', 'role config (YAML); see configs/')
    .action(async (opts: { config?: string }) => (await import('./node-commands.js')).start(opts));

  program
    .command('check-config')
    .description('validate a config without starting anything; exit 2 lists every error')
    .requiredOption('-c, --config <file>', 'role config (YAML)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config: string; json?: boolean }) => (await import('./node-commands.js')).checkConfig(opts));

  program
    .command('id')
    .description("print the node's peer id and listen multiaddrs (the node must have been started once, or use --create)")
    .option('-c, --config <file>', 'role config (YAML); default: configs/dev.yaml')
    .option('--multiaddr', 'print only the first dialable multiaddr (for $PLEXUS_EXPLORER)')
    .option('--create', 'create the identity key (0600) if the data dir has none, e.g. to learn a peer id before the first start')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; json?: boolean; create?: boolean; multiaddr?: boolean }) => (await import('./node-commands.js')).id(opts));

  program
    .command('status')
    .description('status of the running node: plugins (store role, link, lag), RPC counters, connections')
    .option('-c, --config <file>', 'role config (YAML); default: configs/dev.yaml')
    .option('--wait <seconds>', 'wait up to this long for a node that is starting', '0')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config?: string; json?: boolean; wait?: string }) => (await import('./node-commands.js')).status(opts));

  program
    .command('plugins')
    .description('list installed plugins')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => (await import('./node-commands.js')).plugins(opts));

  // The whole network from one plan file (docs/plan.md); modules load when one of these runs.
  program
    .command('render')
    .description("write every node's config (plexus.yaml, secrets/, redis.conf, Corefile, tcprouter.toml) from a plan file")
    .requiredOption('--plan <file>', 'plan file (YAML); see configs/plans/')
    .requiredOption('--out <dir>', 'output dir: <dir>/<node>/plexus.yaml, ..., <dir>/manifest.json')
    .option('--secrets <file>', 'secrets file, created 0600 on first render and reused (default: <plan>.secrets.yaml beside the plan)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { plan: string; out: string; secrets?: string; json?: boolean }) => (await import('./plan-commands.js')).render(opts));
  const net = program.command('net').description('bring a plan up on this machine as network namespaces (root), show it, tear it down');
  for (const [verb, what] of [
    ['up', 'build the namespaces, WireGuard networks and nodes of the plan; waits until every node is ready'],
    ['status', 'one table: node, role, namespace/address, health, replication lag'],
    ['down', 'remove everything `up` made (processes, containers, namespaces, interfaces, nft tables); exit 1 if anything is left'],
  ] as const) {
    net
      .command(verb)
      .description(what)
      .requiredOption('--plan <file>', 'plan file (YAML)')
      .option('--run-dir <dir>', 'state and logs (default: .plexus-net/<network name>)')
      .option('--json', 'machine-readable output')
      .action(async (opts: { plan: string; runDir?: string; json?: boolean }) => {
        const m = await import('./plan-commands.js');
        await (verb === 'up' ? m.netUp(opts) : verb === 'status' ? m.netStatus(opts) : m.netDown(opts));
      });
  }
  net
    .command('get')
    .description('print one value of a node\'s status (as in `net status --json`): plexus net get --plan PLAN explorer multiaddr')
    .requiredOption('--plan <file>', 'plan file (YAML)')
    .option('--run-dir <dir>', 'state and logs (default: .plexus-net/<network name>)')
    .option('--json', 'machine-readable output')
    .argument('<node>', 'node name, or visitor')
    .argument('<field>', 'address, netns, multiaddr, docker, health, lagBytes, wireguard.NETWORK, ...')
    .action(async (node: string, field: string, opts: { plan: string; runDir?: string; json?: boolean }) => (await import('./plan-commands.js')).netGet(opts, node, field));
  net
    .command('exec')
    .description('run a command in the namespace of a node (or the visitor): plexus net exec --plan PLAN NODE -- COMMAND [ARG...]')
    .requiredOption('--plan <file>', 'plan file (YAML)')
    .option('--run-dir <dir>', 'state and logs (default: .plexus-net/<network name>)')
    .argument('<node>', 'node name, or visitor')
    .argument('[command...]', 'command and arguments, after -- (so that their options stay theirs)')
    .action(async (node: string, command: string[], opts: { plan: string; runDir?: string }) => (await import('./plan-commands.js')).netExec(opts, node, command));

  const first = argv.find((a) => !a.startsWith('-'));
  for (const plugin of installedPluginsWithCli()) {
    if (first !== undefined && Object.hasOwn(plugin.commands, first)) {
      const mod = await (bundledCli(plugin.name) ?? (import(`${plugin.pkg}/cli`) as Promise<PluginCliModule>));
      mod.registerCli(program);
    } else {
      // Stubs so `plexus --help` lists the commands; the real ones load when one is named.
      for (const [c, what] of Object.entries(plugin.commands)) {
        if (BUILTIN.has(c)) continue;
        program.command(c).description(`${what} (plexus ${c} --help)`).allowUnknownOption().helpOption(false);
      }
    }
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exitCode = ok ? 0 : 2;
      return;
    }
    const { reportError } = await import('./support.js');
    reportError(err);
  }
}

interface InstalledPlugin {
  name: string;
  pkg: string;
  description: string;
  /** Top-level commands its `./cli` registers, with a line each for `plexus --help`: its name, unless package.json says `"plexus": {"commands": {"name": "what it does"}}`. */
  commands: Record<string, string>;
}

/** Installed `@plexus/plugin-*` packages that declare a `./cli` export; read from package.json only. */
function installedPluginsWithCli(): InstalledPlugin[] {
  const require = createRequire(import.meta.url);
  const out: InstalledPlugin[] = [];
  const seen = new Set<string>();
  for (const dir of require.resolve.paths('@plexus/core') ?? []) {
    let entries: string[];
    try {
      entries = readdirSync(`${dir}/@plexus`);
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!e.startsWith('plugin-') || seen.has(e)) continue;
      seen.add(e);
      try {
        const pkg = JSON.parse(readFileSync(`${dir}/@plexus/${e}/package.json`, 'utf8')) as { description?: string; exports?: Record<string, unknown>; plexus?: { commands?: unknown } };
        const listed = pkg.plexus?.commands;
        const commands =
          typeof listed === 'object' && listed !== null && !Array.isArray(listed) && Object.values(listed).every((d) => typeof d === 'string')
            ? (listed as Record<string, string>)
            : { [e.slice(7)]: pkg.description ?? '' };
        if (pkg.exports?.['./cli'] !== undefined) out.push({ name: e.slice(7), pkg: `@plexus/${e}`, description: pkg.description ?? '', commands });
      } catch {
        // A broken package is reported when it is used, not while printing help.
      }
    }
  }
  return out;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

// Every module loads after this line (commander and the commands' modules are imported, not
// static): compiled code is reused from the on-disk cache (os.tmpdir()/node-compile-cache, keyed
// by file content). Best effort: a read-only tmpdir only loses the speed-up.
enableCompileCache?.();
const argv = process.argv.slice(2);
if (!(await runFromBundle(argv))) await main(argv);
