import type { Command } from 'commander';
import { pluginAction, runCommand } from '@plexus/core';
import './errors.js';
import type { WireguardStatus } from './index.js';

/**
 * `plexus wg ...`: the operator's commands, on the node's own machine. They talk to the running node
 * over its admin socket (`<dataDir>/admin.sock`), found from `--config`; a key rotation is signed
 * by the node itself, with its own key, towards the registry.
 */

interface Local {
  config?: string;
  json?: boolean;
}

const local = (cmd: Command): Command =>
  cmd.option('--config <file>', "the node's config (default: configs/dev.yaml; $PLEXUS_DATA_DIR applies)").option('--json', 'machine-readable output');

async function call(opts: Local, action: string, params: unknown): Promise<unknown> {
  return pluginAction(opts.config, 'wireguard', action, params, { hint: 'Add a wireguard block to the role config (configs/dns.yaml has one) and restart the node.', timeoutMs: 30_000 });
}

const ago = (unix: number | undefined): string => (unix === undefined ? 'never' : `${Math.max(0, Math.round(Date.now() / 1000 - unix))} s ago`);

const bytes = (n: number): string => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);

/** Like `wg show`, per network, with member names. */
export function formatStatus(s: WireguardStatus): string {
  const out: string[] = [];
  for (const n of s.networks) {
    out.push(`network ${n.network}: ${n.state}, interface ${n.interface} (${n.implementation ?? '?'})`);
    out.push(`  address: ${n.address ?? '-'}${n.cidr === undefined ? '' : ` in ${n.cidr}`}`);
    out.push(`  public key: ${n.publicKey ?? '-'}`);
    out.push(`  listening port: ${n.listenPort}${n.endpoint === null ? ' (behind NAT: no endpoint)' : `, endpoint ${n.endpoint}`}`);
    if (n.lastError !== undefined) out.push(`  last error: ${n.lastError}`);
    for (const p of n.peers) {
      out.push(`  peer ${p.name ?? '?'} ${p.publicKey}`);
      out.push(`    endpoint: ${p.endpoint ?? '-'}  allowed ips: ${p.allowedIps.join(', ') || '-'}`);
      out.push(`    latest handshake: ${ago(p.latestHandshake)}  transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`);
    }
  }
  for (const r of s.registry ?? []) {
    out.push(`registry ${r.network} ${r.cidr} (${typeof r.topology === 'string' ? r.topology : `hub ${(r.topology as { hub: string }).hub}`}), version ${r.version}:`);
    for (const m of r.members) out.push(`  ${m.address}  ${m.name}  ${m.endpoint ?? '(behind NAT)'}  node ${m.signer.slice(0, 12)}…`);
  }
  return out.length === 0 ? 'no networks' : out.join('\n');
}

export function registerCli(program: Command): void {
  const wg = program.command('wg').description('WireGuard private networks of this node: status, rotate-key, leave; on the explorer: remove, readmit');

  local(wg.command('status'))
    .description('each network: address, public key, peers with endpoint, allowed ips, latest handshake, transfer')
    .action(async (opts: Local) => {
      await runCommand(opts, async () => (await call(opts, 'status', {})) as WireguardStatus, formatStatus);
    });

  local(wg.command('rotate-key'))
    .description("a new key for one network: registered with the registry (signed by the node), then applied here")
    .requiredOption('--network <name>', 'the network')
    .action(async (opts: Local & { network: string }) => {
      await runCommand(opts, async () => (await call(opts, 'rotate-key', { network: opts.network })) as { network: string; publicKey: string }, (r) => `${r.network}: new public key ${r.publicKey}`);
    });

  local(wg.command('leave'))
    .description('leave one network until the node restarts: the registry releases the address, the peers drop this node')
    .requiredOption('--network <name>', 'the network')
    .action(async (opts: Local & { network: string }) => {
      await runCommand(opts, () => call(opts, 'leave', { network: opts.network }), () => `left ${opts.network}`);
    });

  local(wg.command('remove'))
    .description('on the explorer: drop a member from a network everywhere and refuse its joins until readmitted')
    .requiredOption('--network <name>', 'the network')
    .requiredOption('--member <member>', 'node name, node key (64 hex) or WireGuard public key')
    .action(async (opts: Local & { network: string; member: string }) => {
      await runCommand(opts, () => call(opts, 'remove', { network: opts.network, member: opts.member }), () => `removed ${opts.member} from ${opts.network}`);
    });

  local(wg.command('readmit'))
    .description('on the explorer: let a removed member join again')
    .requiredOption('--network <name>', 'the network')
    .requiredOption('--member <key>', 'node key (64 hex)')
    .action(async (opts: Local & { network: string; member: string }) => {
      await runCommand(opts, () => call(opts, 'readmit', { network: opts.network, member: opts.member }), () => `${opts.member} may join ${opts.network} again`);
    });
}
