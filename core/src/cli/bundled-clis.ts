import type { Command } from 'commander';

/** What a plugin's `./cli` export provides. */
export interface PluginCliModule {
  registerCli(program: Command): void;
}

/**
 * The client module of `plugin` when this CLI is the bundle and carries it, else undefined (the
 * compiled CLI loads every plugin's `./cli` from its package). scripts/bundle-cli.mjs replaces
 * this module in the bundle with one that imports each carried plugin's `./cli` by name, so
 * esbuild puts them in the bundle; see bundle-route.ts.
 */
export function bundledCli(_plugin: string): Promise<PluginCliModule> | undefined {
  return undefined;
}
