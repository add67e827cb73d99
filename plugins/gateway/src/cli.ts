import type { Command } from 'commander';
import { type ClientFlags, type Identity, KEY_DEFAULT_HELP, PlexusError, clientFlags, intFlag, runCommand, signName, usage, userIdentity, withExplorer } from '@plexus/core/client';
import type { ListedEntry, RegisterResult } from './gateway.js';
import { GATEWAY_PROTOCOL } from './protocol.js';
// Declares ERR_CNAME_CONFLICT in this process, so its hint is printed.
import './errors.js';


type Common = ClientFlags;

interface Where extends Common {
  name: string;
  domain?: string;
  replace?: boolean;
}


/** A signed call with the phonebook key: it must exist, since the name must be registered first. */
async function signedCall<T>(opts: Common, method: string, params: Record<string, unknown>): Promise<T> {
  const me = await userIdentity(opts.key, false);
  return withExplorer(opts, me, (c) => c.call<T>(GATEWAY_PROTOCOL, method, params, { signed: true })).catch((err: unknown) => {
    throw withKeyHint(err, me);
  });
}

/** ERR_FORBIDDEN: say which key file signed, and how to sign with the owner's. */
function withKeyHint(err: unknown, me: Identity): unknown {
  if (!(err instanceof PlexusError) || err.code !== 'ERR_FORBIDDEN' || typeof err.data?.owner !== 'string') return err;
  return new PlexusError('ERR_FORBIDDEN', err.message, {
    data: err.data,
    hint: `you signed with ${me.path} (${me.publicKeyHex.slice(0, 16)}…); pass the key that owns the name with --key FILE or $PLEXUS_KEY`,
  });
}

function whereParams(opts: Where): Record<string, unknown> {
  return opts.domain === undefined ? { name: opts.name } : { name: opts.name, domain: opts.domain };
}

/** `replace` only when asked for, so requests stay what the original actor took. */
function replaceParam(opts: { replace?: boolean }): Record<string, unknown> {
  return opts.replace === true ? { replace: true } : {};
}

const REPLACE_HELP = 'a CNAME and other records cannot share a name (RFC 1034 §3.6.2): drop the side that conflicts instead of refusing';

function common(cmd: Command, withKey = true): Command {
  return clientFlags(cmd, withKey ? `your phonebook key file (default: ${KEY_DEFAULT_HELP})` : false);
}

function where(cmd: Command): Command {
  return common(cmd)
    .requiredOption('--name <name>', "record name relative to --domain: 'alice', 'www.alice', '@', '*.alice'")
    .option('--domain <domain>', "hash the record goes in (default: the gateway's threebot domain)");
}

function registering(cmd: Command): Command {
  return where(cmd).option('--replace', REPLACE_HELP);
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function humanRecords(r: RegisterResult): string {
  return [`${r.fqdn} (owner ${r.owner}; field '${r.name}' of ${r.domain}.)`, ...recordLines(r.records)].join('\n');
}

function recordLines(records: Record<string, unknown> | null): string[] {
  if (records === null) return ['  (unreadable)'];
  const lines: string[] = [];
  for (const [type, entries] of Object.entries(records)) {
    for (const e of Array.isArray(entries) ? entries : [entries]) {
      const { ttl, ...rest } = (e ?? {}) as Record<string, unknown>;
      lines.push(`  ${type.padEnd(5)} ${Object.values(rest).map(String).join(' ')}${ttl === undefined ? '' : `  ttl ${String(ttl)}`}`);
    }
  }
  return lines;
}

function humanList(r: { name: string; entries: ListedEntry[] }): string {
  if (r.entries.length === 0) return `${r.name}: no gateway records`;
  return r.entries
    .map((e) =>
      e.kind === 'dns'
        ? [`${e.fqdn} (field '${e.name}' of ${e.domain}.)${e.shadowedBy === undefined ? '' : ` NOT ANSWERED: DNS reads ${e.shadowedBy}. instead`}`, ...recordLines(e.records)].join('\n')
        : `${e.domain} tcprouter → ${e.error ?? (e.tunnel ? 'tunnel client (secret set)' : `${e.addr} tls ${e.tlsport} http ${e.httpport}`)}`,
    )
    .join('\n');
}

/** `plexus gateway ...`: the client side of the gateway. Register the name in the phonebook first. */
export function registerCli(program: Command): void {
  const gw = program.command('gateway').description('expose names and manage their DNS records on an explorer');

  common(gw.command('expose'))
    .description('expose NAME.<threebot domain>: routed to --ip, or to the tunnel client holding --client-secret')
    .requiredOption('--name <name>', 'your phonebook name')
    .option('--ip <ip>', 'private address the routers forward to')
    .option('--client-secret <secret>', 'secret your tunnel client (trc / plexus tunnel) authenticates with')
    .option('--replace', `replace the name's own records by the expose: ${REPLACE_HELP}`)
    .action(async (opts: Common & { name: string; ip?: string; clientSecret?: string; replace?: boolean }) => {
      await runCommand(opts, async () => {
        if ((opts.ip === undefined) === (opts.clientSecret === undefined)) throw usage('give exactly one of --ip and --client-secret');
        const me = await userIdentity(opts.key, false);
        // COMPAT §4: the original `payload_sign(threebot_name)`, Ed25519 over the UTF-8 name.
        const signature = signName(opts.name, me.keyPair);
        return withExplorer(opts, me, (c) =>
          opts.ip !== undefined
            ? c.call<{ fqdn: string }>(GATEWAY_PROTOCOL, 'domain_tcpservice_ip_expose', { threebot_name: opts.name, privateip: opts.ip, signature, ...replaceParam(opts) }, { signed: true })
            : c.call<{ fqdn: string }>(GATEWAY_PROTOCOL, 'domain_tcpservice_client_expose', { threebot_name: opts.name, client_secret: opts.clientSecret, signature, ...replaceParam(opts) }, { signed: true }),
        ).catch((err: unknown) => {
          throw withKeyHint(err, me);
        });
      }, (r) => `exposed ${r.fqdn}`);
    });

  for (const type of ['a', 'aaaa'] as const) {
    registering(gw.command(`register-${type}`))
      .description(`add ${type.toUpperCase()} records (merged with existing ones, no duplicates)`)
      .requiredOption('--ip <ip>', 'address; repeat for several', collect)
      .action(async (opts: Where & { ip: string[] }) => {
        await runCommand(opts, () => signedCall<RegisterResult>(opts, `domain_register_${type}`, { ...whereParams(opts), record_ip: opts.ip, ...replaceParam(opts) }), humanRecords);
      });
  }

  registering(gw.command('register-cname'))
    .description('add a CNAME record')
    .requiredOption('--host <host>', 'target host name')
    .action(async (opts: Where & { host: string }) => {
      await runCommand(opts, () => signedCall<RegisterResult>(opts, 'domain_register_cname', { ...whereParams(opts), host: opts.host, ...replaceParam(opts) }), humanRecords);
    });

  registering(gw.command('register-txt'))
    .description('add a TXT record')
    .requiredOption('--text <text>', 'record text')
    .action(async (opts: Where & { text: string }) => {
      await runCommand(opts, () => signedCall<RegisterResult>(opts, 'domain_register_txt', { ...whereParams(opts), text: opts.text, ...replaceParam(opts) }), humanRecords);
    });

  where(gw.command('delete'))
    .description('delete records: one value (--type and --value), one type (--type), or everything for the name')
    .option('--type <type>', 'a, aaaa, cname or txt')
    .option('--value <value>', 'the ip, host or text to remove (needs --type)')
    .action(async (opts: Where & { type?: string; value?: string }) => {
      await runCommand(opts, async () => {
        if (opts.value !== undefined && opts.type === undefined) throw usage('--value needs --type');
        const params = { ...whereParams(opts), ...(opts.type === undefined ? {} : { type: opts.type }), ...(opts.value === undefined ? {} : { value: opts.value }) };
        return signedCall<{ fqdn: string; removed: number }>(opts, 'domain_delete', params);
      }, (r) => `${r.fqdn}: removed ${r.removed}`);
    });

  common(gw.command('service'))
    .description('route DOMAIN (NAME.<zone> or below) on the tcprouters to --ip, or to the tunnel holding --client-secret')
    .requiredOption('--domain <fqdn>', 'the full domain name, e.g. www.alice.gateway.tf')
    .option('--ip <ip>', 'backend address')
    .option('--client-secret <secret>', 'tunnel secret')
    .option('--tls-port <port>', 'backend TLS port (with --ip)', '443')
    .option('--http-port <port>', 'backend HTTP port (with --ip)', '80')
    .action(async (opts: Common & { domain: string; ip?: string; clientSecret?: string; tlsPort: string; httpPort: string }) => {
      await runCommand(opts, async () => {
        if ((opts.ip === undefined) === (opts.clientSecret === undefined)) throw usage('give exactly one of --ip and --client-secret');
        return opts.ip !== undefined
          ? signedCall<{ key: string }>(opts, 'tcpservice_ip_register', { domain: opts.domain, privateip: opts.ip, tlsport: intFlag('tls-port', opts.tlsPort, 443), httpport: intFlag('http-port', opts.httpPort, 80) })
          : signedCall<{ key: string }>(opts, 'tcpservice_client_register', { domain: opts.domain, client_secret: opts.clientSecret });
      }, (r) => `routed: ${r.key}`);
    });

  common(gw.command('list'), false)
    .description("show a name's DNS records and tcprouter services")
    .requiredOption('--name <name>', 'phonebook name')
    .action(async (opts: Common & { name: string }) => {
      await runCommand(opts, () => withExplorer(opts, undefined, (c) => c.call<{ name: string; entries: ListedEntry[] }>(GATEWAY_PROTOCOL, 'list', { name: opts.name })), humanList);
    });
}
