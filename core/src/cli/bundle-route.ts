// Not `import`: see main.ts (an ES module facade of node:fs loads its lazy exports).
const { readFileSync, statSync } = process.getBuiltinModule('node:fs');

/**
 * The one-shot client commands (`plexus phonebook get ...`) run from a bundle of the CLI
 * (core/dist/bundle/cli, written by scripts/bundle-cli.mjs after the TypeScript build): one file
 * instead of ~1,000 modules to resolve and read, which is most of their start-up. Everything else
 * (node commands, plugins' admin commands, third-party plugins) runs from the compiled modules, so
 * a process never holds two copies of @plexus/core.
 *
 * The bundle is used only while it is fresh: every first-party file it was built from, the
 * package.json files its commands come from and node_modules' lock still have the size and mtime
 * recorded at build time. A plain `tsc -b` after
 * an edit makes it stale, and the command runs from the compiled modules (same behaviour, slower)
 * until the next `npm run build`.
 */
export interface BundleManifest {
  /** Format of this file; a launcher that does not know it ignores the bundle. */
  version: 1;
  /** Top-level commands the bundle runs (those of the plugins it carries). */
  commands: string[];
  /** Files the bundle was built from, relative to the manifest: [path, size, mtimeMs]. */
  inputs: [string, number, number][];
}

export const BUNDLE_MANIFEST_VERSION = 1;

/** Where the bundle's entry and manifest live, relative to this module (core/dist/src/cli/). */
const BUNDLE_DIR = new URL('../../bundle/cli/', import.meta.url);

/**
 * Runs `argv` from the bundle and returns true when the bundle carries its command and is fresh;
 * otherwise returns false and the caller runs it. `PLEXUS_NO_BUNDLE=1` forces the compiled modules.
 */
export async function runFromBundle(argv: readonly string[]): Promise<boolean> {
  if (process.env.PLEXUS_NO_BUNDLE === '1') return false;
  const first = argv.find((a) => !a.startsWith('-'));
  if (first === undefined) return false;
  const manifest = freshManifest();
  if (manifest === undefined || !manifest.commands.includes(first)) return false;
  await import(new URL('main.js', BUNDLE_DIR).href);
  return true;
}

function freshManifest(): BundleManifest | undefined {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(readFileSync(new URL('manifest.json', BUNDLE_DIR), 'utf8')) as BundleManifest;
  } catch {
    return undefined; // never bundled (a plain `tsc -b` build): the compiled modules serve
  }
  if (manifest.version !== BUNDLE_MANIFEST_VERSION || !Array.isArray(manifest.commands) || !Array.isArray(manifest.inputs)) return undefined;
  for (const [path, size, mtimeMs] of manifest.inputs) {
    let st;
    try {
      st = statSync(new URL(path, BUNDLE_DIR));
    } catch {
      return stale(path);
    }
    if (st.size !== size || st.mtimeMs !== mtimeMs) return stale(path);
  }
  return manifest;
}

function stale(path: string): undefined {
  if (process.env.PLEXUS_DEBUG) process.stderr.write(`plexus: the CLI bundle is older than ${new URL(path, BUNDLE_DIR).pathname}; running from the compiled modules (npm run build refreshes it)\n`);
  return undefined;
}
