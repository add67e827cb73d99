import type { Command } from 'commander';
import { pluginAction, runCommand } from '@plexus/core';

/**
 * `plexus xahau status`: the Xahau lease source of the running host node, over its admin socket
 * (`<dataDir>/admin.sock`, found from `--config`), so it runs on the host machine.
 */

interface Local {
  config?: string;
  json?: boolean;
}

/** One line per field, as `plexus status` prints a plugin. */
export function formatStatus(s: Record<string, unknown>): string {
  const hb = s.lastHeartbeat as { at: number; hash: string } | null;
  const beat = s.heartbeat as { momentSize: number; momentSource: string; moment: number; heldBack: number; driftMs: { max: number } | null } | undefined;
  const slots = s.slots as { count: number; offered: number; unoffered: number; leased: number; burning: number; waitingFor?: number | null } | null | undefined;
  const reg = s.registration as { registered: boolean; token?: string; payment?: string } | null | undefined;
  const replies = (s.replies ?? {}) as Record<string, number>;
  const pending = (replies.handling ?? 0) + (replies.handled ?? 0) + (replies.replying ?? 0);
  return [
    `account          ${String(s.account)}`,
    `server           ${s.server === null ? 'not connected' : String(s.server)}`,
    `ledger           ${s.ledger === null ? '-' : String(s.ledger)} (replay cursor ${s.cursor === null ? '-' : String(s.cursor)})`,
    `last heartbeat   ${hb === null ? 'never' : `${new Date(hb.at).toISOString()} ${hb.hash}`}`,
    ...(beat ? [`moments          ${beat.momentSize} s (${beat.momentSource}), now ${beat.moment}; heartbeats held back ${beat.heldBack}${beat.driftMs ? `, drift max ${beat.driftMs.max} ms` : ''}`] : []),
    ...(slots ? [`lease slots      ${slots.count}: ${slots.offered} offered, ${slots.unoffered} unoffered, ${slots.leased} leased, ${slots.burning} to burn${typeof slots.waitingFor === 'number' ? `; upkeep waits for ledger ${slots.waitingFor}` : ''}`] : []),
    ...(reg ? [`registration     ${reg.registered ? `registered (token ${String(reg.token)})` : reg.payment ? `fee paid (${String(reg.payment)}), waiting for the registry token` : 'not yet'}`] : []),
    `pending replies  ${pending}`,
    `requests         ${Object.entries((s.requests ?? {}) as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    ...(s.lastError ? [`last error       ${String(s.lastError)}`] : []),
  ].join('\n');
}

export function registerCli(program: Command): void {
  const xahau = program.command('xahau').description('the Xahau lease source of this host (on the host machine)');
  xahau
    .command('status')
    .description('account, server, ledger, moments and heartbeats, lease slots, registration, pending replies')
    .option('--config <file>', "the host node's config (default: configs/dev.yaml; $PLEXUS_DATA_DIR applies)")
    .option('--json', 'machine-readable output')
    .action(async (opts: Local) => {
      await runCommand(
        opts,
        async () => (await pluginAction(opts.config, 'ledger-xahau', 'status', {}, { hint: 'Add plugins.ledger-xahau to the host config and start it.' })) as Record<string, unknown>,
        formatStatus,
      );
    });
}
