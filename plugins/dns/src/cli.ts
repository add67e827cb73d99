import type { Command } from 'commander';
import { loadConfigFile, runCommand } from '@plexus/core';
import { corefileFromConfig } from './corefile.js';

/** `plexus dns ...`: operator tools of the dns plugin. */
export function registerCli(program: Command): void {
  const dns = program.command('dns').description('DNS node tools');

  dns
    .command('corefile')
    .description('print a Corefile for CoreDNS + redis plugin serving the same zones from the same store')
    .requiredOption('-c, --config <file>', 'role config (YAML) with a dns block and a store')
    .option('--address <host:port>', 'store address as CoreDNS must dial it (default: from the store block)')
    .option('--json', 'machine-readable output: {"corefile": "..."}')
    .action(async (opts: { config: string; address?: string; json?: boolean }) => {
      await runCommand(
        opts,
        async () => ({ corefile: await corefileFromConfig(await loadConfigFile(opts.config), opts.address) }),
        (r) => r.corefile.replace(/\n$/, ''),
      );
    });
}
