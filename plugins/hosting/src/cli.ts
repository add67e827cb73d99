import type { Command } from 'commander';
import { PlexusError, pluginAction, runCommand, textTable } from '@plexus/core';
import type { InstanceRow } from './index.js';

/**
 * `plexus instances ...` and `plexus host drain`: the host operator's commands. They talk to the
 * running host node over its admin socket (`<dataDir>/admin.sock`), found from `--config` (default:
 * the dev node's, `$PLEXUS_DATA_DIR` applies) — so they run on the host machine, as its operator.
 */

interface Local {
  config?: string;
  json?: boolean;
}

const local = (cmd: Command): Command =>
  cmd.option('--config <file>', 'the host node\'s config (default: configs/dev.yaml; $PLEXUS_DATA_DIR applies)').option('--json', 'machine-readable output');

async function call(opts: Local, action: string, params: unknown, timeoutMs?: number): Promise<unknown> {
  return pluginAction(opts.config, 'hosting', action, params, { hint: 'Start the host role: plexus start --config configs/host.yaml, and pass that --config.', ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

/** A fixed-width table like `evernode list`. */
function table(rows: InstanceRow[]): string {
  const cells = rows.map((r) => [r.name, r.leaseId, r.image, String(r.userPort), String(r.peerPort), r.expiresAt.replace(/\.\d+Z$/, 'Z'), `${r.tenant.slice(0, 12)}…`]);
  return textTable(['NAME', 'LEASE', 'IMAGE', 'USER PORT', 'PEER PORT', 'EXPIRES', 'TENANT'], cells, 'no instances');
}

export function registerCli(program: Command): void {
  const instances = program.command('instances').description('the contract instances this host runs (on the host machine)');

  local(instances.command('list'))
    .description('every instance: name, lease, image, ports, expiry, tenant')
    .action(async (opts: Local) => {
      await runCommand(opts, async () => ((await call(opts, 'list', {})) as { instances: InstanceRow[] }).instances, table);
    });

  local(instances.command('inspect'))
    .description('one instance: its lease, config, and the container as Docker runs it (limits, ports, mounts)')
    .argument('<name>', 'instance name or lease id')
    .action(async (name: string, opts: Local) => {
      await runCommand(opts, () => call(opts, 'inspect', { name }), (r) => JSON.stringify(r, null, 2));
    });

  const host = program.command('host').description('the host node\'s lifecycle (on the host machine)');

  local(host.command('drain'))
    .description('stop taking leases, wait until the instances end (or the deadline), then stop the node')
    .option('--deadline <seconds>', 'wait at most this long; instances still running then keep running under Docker and are reconciled at the next start', '3600')
    .action(async (opts: Local & { deadline: string }) => {
      await runCommand(
        opts,
        async () => {
          const deadlineSeconds = Number(opts.deadline);
          if (!Number.isInteger(deadlineSeconds) || deadlineSeconds < 0) throw new PlexusError('ERR_USAGE', `--deadline expects whole seconds, got '${opts.deadline}'`);
          return (await call(opts, 'drain', { deadlineSeconds }, (deadlineSeconds + 60) * 1000)) as { drained: boolean; waitedSeconds: number; instancesLeft: string[] };
        },
        (r) => (r.drained ? `drained after ${r.waitedSeconds} s; the node is stopping` : `deadline reached after ${r.waitedSeconds} s with ${r.instancesLeft.length} instance(s) running (${r.instancesLeft.join(', ')}); the node is stopping, they keep running`),
      );
    });
}
