// Bundles the CLI's one-shot client commands into core/dist/bundle/cli (run by `npm run build` and
// scripts/setup.sh after `tsc -b`). Loading ~1,000 modules one by one was most of the start-up of
// `plexus phonebook get` (see core/src/cli/bundle-route.ts for when the bundle is used).
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBuiltin } from 'node:module';
import { build } from 'esbuild';
import { BUNDLE_MANIFEST_VERSION } from '../core/dist/src/cli/bundle-route.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'core/dist/bundle/cli');

/**
 * Plugins whose CLI only calls explorers over RPC and reads the user's key: they never start a
 * node or load plugins, so the bundle can carry them without a second copy of @plexus/core ever
 * meeting the first. Plugins whose commands read a node config (admin actions, `tunnel`, `dns`)
 * stay out: loading a config loads plugin packages, which import the compiled @plexus/core.
 */
const CLIENT_PLUGINS = ['phonebook', 'gateway', 'hosts', 'hello', 'ledger-overlay'];

async function pluginCommands(name) {
  const pkg = JSON.parse(await readFile(join(root, 'plugins', name, 'package.json'), 'utf8'));
  if (pkg.exports?.['./cli'] === undefined) throw new Error(`plugins/${name} has no ./cli export`);
  // The same rule as main.ts: the commands package.json lists, else the plugin's name.
  return Object.keys(pkg.plexus?.commands ?? { [name]: '' });
}

const commands = (await Promise.all(CLIENT_PLUGINS.map(pluginCommands))).flat();

/** Module replacements inside the bundle only (esbuild plugin). */
const bundleOnly = {
  name: 'plexus-cli-bundle',
  setup(b) {
    // The bundle carries the client plugins' CLIs: import them by name so esbuild bundles them.
    b.onLoad({ filter: /core[\\/]dist[\\/]src[\\/]cli[\\/]bundled-clis\.js$/ }, () => ({
      contents: [
        'const CLIS = {',
        ...CLIENT_PLUGINS.map((p) => `  ${JSON.stringify(p)}: () => import(${JSON.stringify(`@plexus/plugin-${p}/cli`)}),`),
        '};',
        'export function bundledCli(plugin) { return Object.hasOwn(CLIS, plugin) ? CLIS[plugin]() : undefined; }',
      ].join('\n'),
      loader: 'js',
    }));
    // Node's modules through require(), not `import`: an ES module namespace of a builtin reads
    // every export once, which loads the lazy ones (node:http's loads undici, node:fs's the
    // streams); esbuild's CommonJS interop reads an export when the code uses it.
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      const path = args.path.startsWith('node:') ? args.path : `node:${args.path}`;
      // The wrapper's own require() is the real one.
      return args.namespace === 'node-builtin' ? { path, external: true } : { path, namespace: 'node-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
    // The bundle is the chosen route already: it must not look for itself again.
    b.onLoad({ filter: /core[\\/]dist[\\/]src[\\/]cli[\\/]bundle-route\.js$/ }, () => ({
      contents: 'export async function runFromBundle() { return false; }',
      loader: 'js',
    }));
    // Loading plugins from the bundle would bring in the compiled @plexus/core beside the bundled
    // one (two PlexusError classes, two zods): fail loudly if a carried command ever tries.
    b.onLoad({ filter: /core[\\/]dist[\\/]src[\\/]plugin-loader\.js$/ }, () => ({
      contents: [
        "const refuse = () => { throw new Error('internal: the CLI bundle cannot load plugins; remove this command\\'s plugin from CLIENT_PLUGINS in scripts/bundle-cli.mjs'); };",
        'export const candidateSpecifiers = refuse, loadPlugin = refuse, installedPluginNames = refuse, providersOf = refuse;',
      ].join('\n'),
      loader: 'js',
    }));
  },
};

// Built beside the live bundle and swapped in by rename: a `plexus` started meanwhile finds the
// old bundle, or none (and runs from the compiled modules), never a half-written one.
const building = `${outdir}.tmp-${process.pid}`;
await rm(building, { recursive: true, force: true });
await mkdir(building, { recursive: true });
let result, manifest;
try {
  result = await build({
    absWorkingDir: root,
    entryPoints: { main: 'core/dist/src/cli/main.js' },
    outdir: building,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    // CommonJS dependencies, and the builtins above, call require(); an ES module has none of its own.
    banner: { js: "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'warning',
    plugins: [bundleOnly],
  });

  // Freshness: every first-party input, the package.json files and node_modules' lock, by size and
  // mtime (bundle-route.ts).
  const inputs = Object.keys(result.metafile.inputs)
    .filter((p) => !p.includes('node_modules/') && !/^[a-z-]+:/.test(p))
    .map((p) => join(root, p));
  // The command lists and the version come from package.json files at run time, not from the bundle.
  inputs.push(join(root, 'node_modules/.package-lock.json'), join(root, 'core/package.json'), ...CLIENT_PLUGINS.map((p) => join(root, 'plugins', p, 'package.json')));
  manifest = {
    version: BUNDLE_MANIFEST_VERSION,
    commands,
    inputs: await Promise.all(
      inputs.map(async (file) => {
        const st = await stat(file);
        return [relative(outdir, file), st.size, st.mtimeMs];
      }),
    ),
  };
  await writeFile(join(building, 'manifest.json'), `${JSON.stringify(manifest)}\n`);
} catch (err) {
  await rm(building, { recursive: true, force: true });
  throw err;
}
const previous = `${outdir}.old-${process.pid}`;
await rename(outdir, previous).catch((err) => {
  if (err.code !== 'ENOENT') throw err;
});
await rename(building, outdir);
await rm(previous, { recursive: true, force: true });
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stderr.write(`bundle-cli: ${commands.join(', ')} -> ${relative(root, outdir)} (${(bytes / 1e6).toFixed(1)} MB, ${manifest.inputs.length} first-party inputs)\n`);
