import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { KEY_DEFAULT_HELP, PlexusError, RpcClient, intFlag, openSealed, runCommand, usage, userIdentity, type Identity, type InstanceDetails, type LeaseResult } from '@plexus/core/client';
import { LEASE_PROTOCOL } from './protocol.js';

/**
 * `plexus lease ...`: the tenant's side of the overlay lease source. Each request is signed with
 * the tenant's key (`--key`); the host seals the instance details to that key, and `acquire`
 * prints them opened.
 */

interface Common {
  host?: string;
  key?: string;
  json?: boolean;
  timeout: string;
}

function common(cmd: Command): Command {
  return cmd
    .option('--host <multiaddr>', 'the host node (…/p2p/<peer id>; default: $PLEXUS_HOST)')
    .option('--key <file>', `your tenant key file (default: ${KEY_DEFAULT_HELP}; created on first use)`)
    .option('--json', 'machine-readable output')
    .option('--timeout <ms>', 'per-call deadline in ms (provisioning included)', '60000');
}

/** `1h`, `30m`, `2d`, `90s` or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (m === null) throw usage(`--duration expects seconds or a number with s, m, h or d (1h, 30m, 2d), got '${text}'`);
  const n = Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  if (n < 1) throw usage('--duration must be at least 1 second');
  return n;
}

async function withHost<T>(opts: Common, me: Identity, fn: (c: RpcClient) => Promise<T>): Promise<T> {
  const host = opts.host ?? process.env.PLEXUS_HOST;
  if (host === undefined || host === '') throw usage('give --host MULTIADDR (the host node, e.g. /ip4/…/tcp/4001/p2p/12D3…) or set $PLEXUS_HOST');
  const client = await RpcClient.connect(host, { key: me.keyPair, timeoutMs: intFlag('timeout', opts.timeout, 60_000) });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export function registerCli(program: Command): void {
  const lease = program.command('lease').description('rent a contract instance on a host: acquire, extend, terminate (signed with your key)');

  common(lease.command('acquire'))
    .description('ask the host for an instance of IMAGE; prints its name, host, ports and key (sealed to your key, opened here)')
    .requiredOption('--image <image>', 'container image of the instance (one the host has)')
    .option('--config <file>', 'your instance config (JSON), written into the instance as config.json')
    .option('--contract-id <id>', 'your contract id (default: one is made up)')
    .option('--duration <time>', 'lease length: seconds, or 30m, 1h, 2d', '1h')
    .action(async (opts: Common & { image: string; config?: string; contractId?: string; duration: string }) => {
      await runCommand(
        opts,
        async () => {
          const durationSeconds = parseDuration(opts.duration);
          let config: unknown = {};
          if (opts.config !== undefined) {
            try {
              config = JSON.parse(await readFile(opts.config, 'utf8'));
            } catch (err) {
              throw usage(`--config ${opts.config}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
            }
            if (typeof config !== 'object' || config === null || Array.isArray(config)) throw usage(`--config ${opts.config} must hold a JSON object`);
          }
          const me = await userIdentity(opts.key, true);
          const r = await withHost(opts, me, (c) =>
            c.call<Extract<LeaseResult, { kind: 'acquire' }>>(
              LEASE_PROTOCOL,
              'lease_acquire',
              { image: opts.image, config, duration_seconds: durationSeconds, ...(opts.contractId === undefined ? {} : { contract_id: opts.contractId }) },
              { signed: true },
            ),
          );
          let details: InstanceDetails;
          try {
            details = JSON.parse(Buffer.from(openSealed(r.instance, me.keyPair)).toString('utf8')) as InstanceDetails;
          } catch (err) {
            if (err instanceof PlexusError) throw err;
            throw new PlexusError('ERR_DECRYPT', 'the opened instance details are not JSON');
          }
          return details;
        },
        (d) =>
          [
            `instance ${d.name} on ${d.host}`,
            `  lease:       ${d.leaseId} (until ${d.expiresAt})`,
            `  user port:   ${d.host}:${d.userPort}`,
            `  peer port:   ${d.host}:${d.peerPort}`,
            `  contract id: ${d.contractId}`,
            `  pubkey:      ${d.pubkey}`,
          ].join('\n'),
      );
    });

  common(lease.command('extend'))
    .description('move the end of your lease')
    .requiredOption('--lease <id>', 'lease id (from lease acquire)')
    .option('--duration <time>', 'how much longer: seconds, or 30m, 1h, 2d', '1h')
    .action(async (opts: Common & { lease: string; duration: string }) => {
      await runCommand(
        opts,
        async () => {
          const durationSeconds = parseDuration(opts.duration);
          const me = await userIdentity(opts.key, false);
          return withHost(opts, me, (c) => c.call<Extract<LeaseResult, { kind: 'extend' }>>(LEASE_PROTOCOL, 'lease_extend', { lease_id: opts.lease, duration_seconds: durationSeconds }, { signed: true }));
        },
        (r) => `lease ${r.leaseId} now ends ${r.expiresAt}`,
      );
    });

  common(lease.command('terminate'))
    .description('end your lease now: the instance and all its data are destroyed')
    .requiredOption('--lease <id>', 'lease id (from lease acquire)')
    .action(async (opts: Common & { lease: string }) => {
      await runCommand(
        opts,
        async () => {
          const me = await userIdentity(opts.key, false);
          return withHost(opts, me, (c) => c.call<Extract<LeaseResult, { kind: 'terminate' }>>(LEASE_PROTOCOL, 'lease_terminate', { lease_id: opts.lease }, { signed: true }));
        },
        (r) => `lease ${r.leaseId} terminated; its instance and data are gone`,
      );
    });
}
