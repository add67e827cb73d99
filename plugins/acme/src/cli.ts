import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { PlexusError, type ClientFlags, type ErrorCode, KEY_DEFAULT_HELP, intFlag, pluginAction, runCommand, textTable, userIdentity, withExplorer } from '@plexus/core';
import './errors.js';
import type { CertIssueResult } from './methods.js';
import type { CertificateView } from './renewer.js';

/**
 * `plexus cert ...`: `list` and `renew` talk to the running node over its admin socket (on the
 * node's machine); `issue` asks the explorer's acme plugin for a certificate of a name the
 * caller's key owns, sending only a CSR: the private key is made here and never leaves.
 */

interface Local {
  config?: string;
  json?: boolean;
}

const local = (cmd: Command): Command => cmd.option('--config <file>', "the node's config (default: configs/dev.yaml; $PLEXUS_DATA_DIR applies)").option('--json', 'machine-readable output');

async function call(opts: Local, action: string, params: unknown, timeoutMs?: number): Promise<unknown> {
  return pluginAction(opts.config, 'acme', action, params, { hint: 'Add an acme block to its plugins and restart it, and pass that --config.', ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

function table(rows: CertificateView[]): string {
  const cells = rows.map((r) => [r.names.join(','), r.notAfter ?? '(none yet)', r.ordering ? 'ordering' : (r.nextAttemptAt ?? '-'), r.lastError === undefined ? '' : `${r.lastError.code}: ${r.lastError.message}`]);
  return textTable(['NAMES', 'EXPIRES', 'NEXT ATTEMPT', 'LAST ERROR'], cells, 'no certificates configured');
}

export function registerCli(program: Command): void {
  const cert = program.command('cert').description('TLS certificates: list, renew (on the node), issue --name N (for a name you own)');

  local(cert.command('list'))
    .description("the node's certificates: names, expiry, next attempt, last error")
    .action(async (opts: Local) => {
      await runCommand(opts, async () => ((await call(opts, 'list', {})) as { certificates: CertificateView[] }).certificates, table);
    });

  local(cert.command('renew'))
    .description('attempt one configured certificate now and wait for the outcome')
    .requiredOption('--name <name>', 'a name on the certificate')
    .action(async (opts: Local & { name: string }) => {
      await runCommand(
        opts,
        async () => {
          const view = (await call(opts, 'renew', { name: opts.name }, 600_000)) as CertificateView;
          if (view.lastError !== undefined && view.failures > 0) throw new PlexusError(view.lastError.code as ErrorCode, `${view.lastError.message} (the certificate in use expires ${view.notAfter ?? 'never: none yet'})`);
          return view;
        },
        (v) => `${v.names.join(', ')}: valid until ${v.notAfter}\n  ${v.fullchain}\n  ${v.key}`,
      );
    });

  // Not clientFlags(): an issuance takes seconds (DNS propagation, CA validation), so --timeout defaults higher.
  cert
    .command('issue')
    .option('--explorer <multiaddr>', 'explorer whose acme plugin serves cert_issue (default: $PLEXUS_EXPLORER)')
    .option('--json', 'machine-readable output')
    .option('--timeout <ms>', 'deadline of the whole issuance in ms', '180000')
    .option('--key <file>', `your key, the one that owns the names (default: ${KEY_DEFAULT_HELP})`)
    .description('get a certificate for names your key owns: the key stays here, a CSR is signed and sent')
    .requiredOption('--name <name...>', 'names on the certificate (your phonebook name, names below it, *.NAME)')
    .option('--challenge <type>', 'dns-01 (default; wildcards, NAT) or http-01 (the name must reach the routers)', 'dns-01')
    .option('--out <dir>', 'where key.pem and fullchain.pem go (default: ./certs/<first name>)')
    .action(async (opts: ClientFlags & { name: string[]; challenge: string; out?: string }) => {
      await runCommand(
        opts,
        async () => {
          const { issueWithCsr } = await import('./issue.js');
          if (opts.challenge !== 'dns-01' && opts.challenge !== 'http-01') throw new PlexusError('ERR_USAGE', `--challenge expects dns-01 or http-01, got '${opts.challenge}'`);
          intFlag('timeout', opts.timeout, 180_000);
          const me = await userIdentity(opts.key, false);
          const names = opts.name.map((n) => n.toLowerCase());
          const out = resolve(opts.out ?? join('certs', names[0]!.replace(/^\*\./, '_wildcard.')));
          await mkdir(out, { recursive: true, mode: 0o700 });
          return issueWithCsr(names, out, (csr) => withExplorer(opts, me, (c) => c.call<CertIssueResult>('/plexus/acme/1', 'cert_issue', { csr, challenge: opts.challenge }, { signed: true })));
        },
        (r) => `${r.names.join(', ')}: valid until ${r.notAfter}\n  ${r.fullchain}\n  ${r.key}`,
      );
    });
}
