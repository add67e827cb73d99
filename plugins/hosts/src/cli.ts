import type { Command } from 'commander';
import { HOSTS_PROTOCOL, clientFlags, runCommand, withExplorer, type ClientFlags } from '@plexus/core';
import type { ListedHost } from './index.js';

export function registerCli(program: Command): void {
  const hosts = program.command('hosts').description('hosts that rent out contract instances, from the explorer');
  clientFlags(hosts.command('list'), false)
    .description('every host the explorer knows: where to dial it, what it offers, how much is free')
    .option('--available', 'only hosts taking leases now (not draining, not stale, a free slot)')
    .action(async (opts: ClientFlags & { available?: boolean }) => {
      await runCommand(
        opts,
        async () => withExplorer(opts, undefined, (c) => c.call<{ hosts: ListedHost[] }>(HOSTS_PROTOCOL, 'hosts_list', { available_only: opts.available === true })),
        (r) => {
          if (r.hosts.length === 0) return 'no hosts';
          return r.hosts
            .map((h) => {
              const state = h.stale ? 'stale' : h.available ? 'available' : 'draining';
              return `${h.public_host}  ${state}  ${h.free_instances}/${h.capacity.instances} free  source ${h.lease_source}  reported ${h.reported_at}\n  ${h.multiaddrs[0]}`;
            })
            .join('\n');
        },
      );
    });
}
