import type { Command } from 'commander';
import { PlexusError, adminCall, adminSocketPath, resolveNodeConfig, runCommand } from '@plexus/core';
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
  const config = await resolveNodeConfig(opts.config);
  try {
    return await adminCall(adminSocketPath(config.dataDir), 'hosting', action, params, timeoutMs);
  } catch (err) {
    if (err instanceof PlexusError && err.code === 'ERR_NOT_FOUND' && /no running plugin/.test(err.message)) {
      throw new PlexusError('ERR_NOT_FOUND', `the node of ${config.file} runs no hosting plugin`, { hint: 'Start the host role: plexus start --config configs/host.yaml, and pass that --config.' });
    }
    throw err;
  }
}

/** A fixed-width table like `evernode list`. */
function table(rows: InstanceRow[]): string {
  if (rows.length === 0) return 'no instances';
  const head = ['NAME', 'LEASE', 'IMAGE', 'USER PORT', 'PEER PORT', 'EXPIRES', 'TENANT'];
  const cells = rows.map((r) => [r.name, r.leaseId, r.image, String(r.userPort), String(r.peerPort), r.expiresAt.replace(/\.\d+Z$/, 'Z'), `${r.tenant.slice(0, 12)}…`]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [head, ...cells].map((c) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
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
