import type { Command } from 'commander';
import { PlexusError, devConfigPath, intFlag, loadConfigFile, pluginAction, runCommand } from '@plexus/core';
import { corefileFromConfig } from './corefile.js';
import { queryServer, queryType, serverAddress, type QueryAnswer } from './resolve-cli.js';

/** `plexus dns ...`: operator tools of the dns plugin. */
export function registerCli(program: Command): void {
  const dns = program.command('dns').description('DNS node tools');

  dns
    .command('corefile')
    .description('print a Corefile for CoreDNS + redis plugin serving the same zones from the same store')
    .requiredOption('-c, --config <file>', 'role config (YAML) with a dns block and a store')
    .option('--address <host:port>', "store CoreDNS dials instead of the node's own, usually the master (default: from the store block)")
    .option('--password-file <file>', "that store's password (default: $PLEXUS_STORE_PASSWORD, else with --address a replica's replicaOf password, else the store block's)")
    .option('--json', 'machine-readable output: {"corefile": "..."}')
    .action(async (opts: { config: string; address?: string; passwordFile?: string; json?: boolean }) => {
      await runCommand(
        opts,
        async () => ({
          corefile: await corefileFromConfig(await loadConfigFile(opts.config), { address: opts.address, passwordFile: opts.passwordFile, password: process.env.PLEXUS_STORE_PASSWORD }),
        }),
        (r) => r.corefile.replace(/\n$/, ''),
      );
    });

  dns
    .command('query')
    .description("ask a DNS node one question, like dig +short (default server: the config's first dns listen address)")
    .argument('<name>', 'the name to look up, e.g. alice.gateway.tf')
    .option('-t, --type <type>', 'A, AAAA, CNAME, TXT, MX, NS, SOA, SRV or CAA', 'A')
    .option('-s, --server <ip:port>', 'DNS server to ask (default: from --config)')
    .option('-c, --config <file>', 'role config whose dns.listen to ask (default: configs/dev.yaml)')
    .option('--timeout <ms>', 'how long to wait for the answer', '3000')
    .option('--json', 'machine-readable output: rcode, flags and every answer')
    .action(async (name: string, opts: { type: string; server?: string; config?: string; timeout: string; json?: boolean }) => {
      await runCommand(
        opts,
        async () => {
          const type = queryType(opts.type);
          const server = opts.server !== undefined ? serverAddress(opts.server) : await configuredServer(opts.config);
          return queryServer(server, name, type, intFlag('timeout', opts.timeout, 3000));
        },
        human,
      );
    });

  dns
    .command('reset-peaks')
    .description("start the running DNS node's peak figures again (status: eventLoopDelayMs, cache.longestApplyMs, peaksSince), e.g. after a bulk import")
    .option('-c, --config <file>', "the DNS node's config (default: configs/dev.yaml; $PLEXUS_DATA_DIR applies)")
    .option('--json', 'machine-readable output: {"peaksSince": ISO time, "threads": N}')
    .action(async (opts: { config?: string; json?: boolean }) => {
      await runCommand(
        opts,
        async () => (await pluginAction(opts.config, 'dns', 'reset-peaks', {}, { hint: 'Add a dns block to its plugins and restart it, and pass that --config.' })) as { peaksSince: string; threads: number },
        (r) => `peaks counted from ${r.peaksSince} on ${r.threads} DNS thread(s)`,
      );
    });
}

/** The first `dns.listen` of a config: where the DNS node it describes answers. */
async function configuredServer(file: string | undefined): Promise<ReturnType<typeof serverAddress>> {
  const config = await loadConfigFile(file ?? devConfigPath());
  const dns = config.plugins.find((p) => p.definition.name === 'dns');
  const listen = (dns?.config as { listen?: string[] } | undefined)?.listen?.[0];
  if (listen === undefined) throw new PlexusError('ERR_USAGE', `${config.file} has no dns plugin; pass --server IP:PORT`);
  return serverAddress(listen);
}

/** dig +short: one line per answer; an empty answer says why. */
function human(r: QueryAnswer): string {
  if (r.answers.length > 0) return r.answers.map((a) => a.data).join('\n');
  return `(no ${r.type} record: ${r.rcode}${r.rcode === 'NOERROR' ? ', the name exists without this type' : ''}; asked ${r.server})`;
}
