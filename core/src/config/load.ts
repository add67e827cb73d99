import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { NODE_KEY_FILE } from '../identity.js';
import type { PluginDefinition } from '../plugin.js';
import { loadPlugin, providersOf } from '../plugin-loader.js';
import { ConfigError, type ConfigIssue, fromZod } from './issues.js';
import { NodeConfigSchema, type NodeConfig } from './node-schema.js';
import { orderPlugins } from './order.js';

export interface ConfiguredPlugin {
  /** Key under `plugins:` (a name, package or path). */
  key: string;
  definition: PluginDefinition<unknown>;
  /** The block after validation, defaults filled in. */
  config: unknown;
}

/** A config that passed every check, plugins in start order. */
export interface ResolvedConfig {
  /** Path of the file. */
  file: string;
  dir: string;
  node: NodeConfig;
  /** Absolute data directory. */
  dataDir: string;
  /** Absolute path of the node's identity key: `node.identityFile`, else `identity.key` in the data dir. */
  identityFile: string;
  plugins: ConfiguredPlugin[];
}

const TopSchema = z.strictObject({
  node: z.unknown().optional(),
  plugins: z.record(z.string(), z.unknown()).optional(),
});

/** Larger than any sane role config; a bigger file is a mistake (or an attack on the parser). */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** YAML aliases expanded at most; each may copy a whole subtree, so a few nest into billions. */
const MAX_ALIAS_COUNT = 100;

export async function loadConfigFile(file: string): Promise<ResolvedConfig> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new ConfigError([{ file, path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  if (bytes.length > MAX_CONFIG_BYTES) throw new ConfigError([{ file, path: '', message: `the file is ${bytes.length} bytes; a config is at most ${MAX_CONFIG_BYTES}` }]);
  return parseConfig(decodeUtf8(bytes, file), file, dirname(resolve(file)));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of a config file; invalid UTF-8 is refused (naming the byte offset) rather than replaced by U+FFFD. */
function decodeUtf8(bytes: Buffer, file: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    let lo = 0;
    let hi = bytes.length;
    // The longest valid prefix, by bisection; a sequence cut at the boundary is not an error yet.
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
        lo = mid;
      } catch {
        hi = mid;
      }
    }
    // The valid prefix may end inside a sequence whose next byte broke it: name the lead byte.
    let offset = lo;
    for (let k = 1; k <= 3 && lo - k >= 0; k++) {
      const b = bytes[lo - k]!;
      if ((b & 0xc0) === 0x80) continue;
      if (b >= 0xc0) offset = lo - k;
      break;
    }
    throw new ConfigError([{ file, path: '', message: `not UTF-8: invalid byte 0x${bytes[offset]!.toString(16).padStart(2, '0')} at byte offset ${offset}` }]);
  }
}

/**
 * Validates a whole role config and collects every issue before failing, so an operator fixes a
 * file in one pass. Nothing is started and nothing is written.
 */
export async function parseConfig(text: string, file: string, dir: string): Promise<ResolvedConfig> {
  const issues: ConfigIssue[] = [];
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => ({ file, path: '', message: `YAML: ${e.message.split('\n')[0]}` })));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (err) {
    // yaml throws a ReferenceError when aliases expand beyond maxAliasCount (a "billion laughs").
    throw new ConfigError([{ file, path: '', message: `YAML: ${(err as Error).message} (at most ${MAX_ALIAS_COUNT} alias expansions)` }]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError([{ file, path: '', message: 'expected a mapping with `node:` and `plugins:`' }]);
  }
  const top = TopSchema.safeParse(raw, { reportInput: true });
  if (!top.success) {
    issues.push(...fromZod(file, [], top.error));
    // Unknown top-level keys do not stop the rest of the file from being checked.
    if (top.error.issues.some((i) => i.code !== 'unrecognized_keys')) throw new ConfigError(issues);
  }
  const topData = (top.success ? top.data : { node: (raw as Record<string, unknown>).node, plugins: (raw as Record<string, unknown>).plugins }) as z.infer<typeof TopSchema>;

  const node = NodeConfigSchema.safeParse(topData.node ?? {}, { reportInput: true });
  if (!node.success) issues.push(...fromZod(file, ['node'], node.error));

  const plugins: ConfiguredPlugin[] = [];
  // Plugins whose block is invalid still take part in the capability check, so their consumers
  // are not told that a configured plugin is missing.
  const known: { key: string; provides: readonly string[]; requires: readonly string[]; uses?: readonly string[] }[] = [];
  for (const [key, block] of Object.entries(topData.plugins ?? {})) {
    const loaded = await loadPlugin(key, dir);
    if (!loaded.ok) {
      issues.push({ file, path: `plugins.${key}`, message: loaded.reason });
      continue;
    }
    known.push({ key, provides: loaded.definition.provides, requires: loaded.definition.requires, uses: loaded.definition.uses ?? [] });
    const parsed = loaded.definition.configSchema.safeParse(block ?? {}, { reportInput: true });
    if (!parsed.success) issues.push(...fromZod(file, ['plugins', key], parsed.error));
    else plugins.push({ key, definition: loaded.definition, config: parsed.data });
  }
  if (Object.keys(topData.plugins ?? {}).length === 0) {
    issues.push({ file, path: 'plugins', message: 'expected at least one plugin (for example `store: {}`)' });
  }

  const ordered = orderPlugins(known);
  if (!ordered.ok) {
    for (const m of ordered.missing) {
      const providers = await providersOf(m.capability, dir);
      const hint = providers.length > 0 ? `; plugin '${providers.join("' or '")}' provides it: add \`plugins.${providers[0]}\`` : '; no installed plugin provides it';
      issues.push({ file, path: `plugins.${m.key}`, message: `requires capability '${m.capability}', which no configured plugin provides${hint}` });
    }
    for (const d of ordered.duplicates) {
      issues.push({ file, path: 'plugins', message: `capability '${d.capability}' is provided by more than one plugin: ${d.keys.join(', ')}` });
    }
    if (ordered.cycle !== undefined) issues.push({ file, path: 'plugins', message: `dependency cycle: ${ordered.cycle.join(' -> ')}` });
  }
  if (issues.length > 0 || !node.success || !ordered.ok || plugins.length !== known.length) throw new ConfigError(issues);

  const byKey = new Map(plugins.map((p) => [p.key, p]));
  return {
    file,
    dir,
    node: node.data,
    dataDir: resolve(dir, node.data.dataDir),
    identityFile: node.data.identityFile === undefined ? resolve(dir, node.data.dataDir, NODE_KEY_FILE) : resolve(dir, node.data.identityFile),
    plugins: ordered.order.map((k) => byKey.get(k)!),
  };
}
