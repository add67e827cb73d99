import type { PluginDefinition } from '../plugin.js';

/** A config block validated like the core does; a failure names every bad key. */
export function parseRecord<C>(definition: PluginDefinition<C>, raw: unknown): C {
  const parsed = definition.configSchema.safeParse(raw ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `plugins.${definition.name}.${i.path.join('.')}: ${i.message}`);
  throw new Error(`invalid test config:\n  ${issues.join('\n  ')}`);
}
