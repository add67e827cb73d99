import { createRequire } from 'node:module';
import { readdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PluginDefinition } from './plugin.js';

/**
 * Finds a plugin by the key it has under `plugins:`. The core imports no plugin statically:
 * - `store`           → `@plexus/plugin-store` (ours, in plugins/store), then `plexus-plugin-store`
 * - `@acme/x`, `x/y`  → that npm package
 * - `./my-plugin.js`  → that file, relative to the config file
 */
export function candidateSpecifiers(key: string, configDir: string): string[] {
  if (key.startsWith('.') || isAbsolute(key)) return [pathToFileURL(resolve(configDir, key)).href];
  if (key.startsWith('@') || key.includes('/')) return [key];
  return [`@plexus/plugin-${key}`, `plexus-plugin-${key}`];
}

export type LoadResult =
  | { ok: true; definition: PluginDefinition<unknown>; specifier: string }
  | { ok: false; reason: string };

export async function loadPlugin(key: string, configDir: string): Promise<LoadResult> {
  const tried: string[] = [];
  for (const specifier of candidateSpecifiers(key, configDir)) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(specifier)) as Record<string, unknown>;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Only "this very module is missing" moves on; a plugin that fails to load is reported as is.
      if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && missingIsSelf(e.message, specifier)) {
        tried.push(specifier);
        continue;
      }
      return { ok: false, reason: `plugin '${key}' (${specifier}) failed to load: ${e.message}` };
    }
    const definition = (mod.plugin ?? mod.default) as PluginDefinition<unknown> | undefined;
    const problem = shapeProblem(definition);
    if (problem !== undefined) return { ok: false, reason: `${specifier} is not a plexus plugin: ${problem}` };
    return { ok: true, definition: definition!, specifier };
  }
  return { ok: false, reason: `no plugin named '${key}' (looked for ${tried.join(', ')})` };
}

function missingIsSelf(message: string, specifier: string): boolean {
  const name = specifier.startsWith('file:') ? new URL(specifier).pathname : specifier;
  return message.includes(`'${name}'`) || message.includes(`"${name}"`) || message.includes(name);
}

function shapeProblem(def: PluginDefinition<unknown> | undefined): string | undefined {
  if (def === undefined || typeof def !== 'object') return 'it exports neither `plugin` nor a default';
  if (typeof def.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(def.name)) return '`name` must be a lowercase identifier';
  if (!Array.isArray(def.provides) || !Array.isArray(def.requires)) return '`provides` and `requires` must be arrays';
  if (def.uses !== undefined && !Array.isArray(def.uses)) return '`uses` must be an array when given';
  if (typeof def.create !== 'function') return '`create` must be a function';
  if (typeof (def.configSchema as { safeParse?: unknown } | undefined)?.safeParse !== 'function') return '`configSchema` must be a zod schema';
  return undefined;
}

/** Names of the plugins installed beside the core (`@plexus/plugin-*`), for help and hints. */
export async function installedPluginNames(): Promise<string[]> {
  const dirs = createRequire(import.meta.url).resolve.paths('@plexus/core') ?? [];
  const names = new Set<string>();
  for (const dir of dirs) {
    const entries = await readdir(join(dir, '@plexus')).catch(() => [] as string[]);
    for (const e of entries) if (e.startsWith('plugin-')) names.add(e.slice('plugin-'.length));
  }
  return [...names].sort();
}

/** Which installed plugin provides `capability`; used to make "missing capability" errors useful. */
export async function providersOf(capability: string, configDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await installedPluginNames()) {
    const loaded = await loadPlugin(name, configDir);
    if (loaded.ok && loaded.definition.provides.includes(capability)) out.push(name);
  }
  return out;
}
