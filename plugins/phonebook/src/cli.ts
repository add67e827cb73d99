import type { Command } from 'commander';
import { type ClientFlags, KEY_DEFAULT_HELP, PlexusError, clientFlags, runCommand, signKeyUpdate, signRecord, usage, userIdentity, intFlag, loadOrCreateIdentity, withExplorer } from '@plexus/core/client';
import type { PhonebookRecord } from './registry.js';
import { PHONEBOOK_ERRORS } from './errors.js';
import { PHONEBOOK_PROTOCOL } from './protocol.js';
import type { OwnershipConflict } from './name-tree.js';


type Common = ClientFlags;


function human(r: PhonebookRecord): string {
  return [
    `tid:         ${r.tid}`,
    `name:        ${r.name}`,
    `email:       ${r.email}`,
    `pubkey:      ${r.pubkey}`,
    `ipaddr:      ${r.ipaddr || '-'}`,
    `description: ${r.description || '-'}`,
  ].join('\n');
}


/** A hint the server put in `data.hint` (specific hints do not travel over RPC): print it. */
function withServerHint(err: unknown): unknown {
  if (!(err instanceof PlexusError) || typeof err.data?.hint !== 'string') return err;
  return new PlexusError(err.code, err.message, { data: err.data, hint: err.data.hint });
}

function humanConflicts(r: { conflicts: OwnershipConflict[]; checked: number }): string {
  const key = (k: string): string => `${k.slice(0, 16)}…`;
  const lines = r.conflicts.map((c) => `${c.name} (tid ${c.tid}, key ${key(c.pubkey)}) is below ${c.under.name} (tid ${c.under.tid}, key ${key(c.under.pubkey)})`);
  const summary = r.conflicts.length === 0 ? `${r.checked} names checked: every name below a registered name has that name's key` : `${r.conflicts.length} names below another key's name (DNS follows the upper name's key); ${r.checked} names checked`;
  return [...lines, summary].join('\n');
}

/** `plexus phonebook ...`: the client side of the phonebook. */
export function registerCli(program: Command): void {
  const pb = program.command('phonebook').description('register and look up names on an explorer');

  clientFlags(pb.command('register'))
    .description('register NAME for your key (created if absent), then set email, ipaddr and description')
    .requiredOption('--name <name>', 'name to register (lowercase DNS labels)')
    .requiredOption('--email <email>', 'contact email')
    .option('--description <text>', 'free text', '')
    .option('--ipaddr <ip>', 'IPv4 or IPv6 address', '')
    .option('--wallet <name>', 'wallet name', '')
    .action(async (opts: Common & { name: string; email: string; description: string; ipaddr: string; wallet: string }) => {
      await runCommand(opts, async () => {
        const me = await userIdentity(opts.key, true);
        return withExplorer(opts, me, async (c) => {
          const rec = await c.call<PhonebookRecord>(PHONEBOOK_PROTOCOL, 'name_register', { name: opts.name, email: opts.email, pubkey: me.publicKeyHex, wallet_name: opts.wallet }, { signed: true });
          const fields = { tid: rec.tid, name: opts.name, email: opts.email, ipaddr: opts.ipaddr, description: opts.description, pubkey: me.publicKeyHex };
          const sig = signRecord(fields, me.keyPair);
          return c.call<PhonebookRecord>(PHONEBOOK_PROTOCOL, 'record_register', { ...fields, sender_signature_hex: sig }, { signed: true });
        }).catch((err: unknown) => {
          throw withServerHint(err);
        });
      }, human);
    });

  clientFlags(pb.command('get'), false)
    .description('look up a record by name or tid')
    .argument('<name-or-tid>', 'a name, or a numeric tid')
    .action(async (target: string, opts: Common) => {
      await runCommand(opts, async () => {
        const params = /^[0-9]+$/.test(target) ? { tid: Number(target) } : { name: target };
        return withExplorer(opts, undefined, (c) => c.call<PhonebookRecord>(PHONEBOOK_PROTOCOL, 'get', params));
      }, human);
    });

  clientFlags(pb.command('list'), false)
    .description('list records in tid order, one page at a time')
    .option('--cursor <tid>', 'list records after this tid', '0')
    .option('--limit <n>', 'records per page')
    .action(async (opts: Common & { cursor: string; limit?: string }) => {
      await runCommand(opts, async () => {
        const params = { cursor: intFlag('cursor', opts.cursor, 0), ...(opts.limit === undefined ? {} : { limit: intFlag('limit', opts.limit, 50) }) };
        return withExplorer(opts, undefined, (c) => c.call<{ records: PhonebookRecord[]; next: number | null }>(PHONEBOOK_PROTOCOL, 'list', params));
      }, (page) => [...page.records.map((r) => `${String(r.tid).padStart(6)}  ${r.name}  ${r.pubkey}`), page.next === null ? '(end)' : `(more: --cursor ${page.next})`].join('\n'));
    });

  clientFlags(pb.command('check'), false)
    .description('list names registered below a name held by another key (exit 1 when there are any)')
    .action(async (opts: Common) => {
      let found = 0;
      await runCommand(opts, () =>
        withExplorer(opts, undefined, async (c) => {
          const conflicts: OwnershipConflict[] = [];
          let checked = 0;
          for (let cursor: number | null = 0; cursor !== null; ) {
            const page: { conflicts: OwnershipConflict[]; checked: number; next: number | null } = await c.call(PHONEBOOK_PROTOCOL, 'check_ownership', { cursor });
            conflicts.push(...page.conflicts);
            checked += page.checked;
            cursor = page.next;
          }
          found = conflicts.length;
          return { conflicts, checked };
        }),
        humanConflicts,
      );
      if (found > 0 && process.exitCode === 0) process.exitCode = 1;
    });

  clientFlags(pb.command('update-key'), `current key file (default: ${KEY_DEFAULT_HELP})`)
    .description('move NAME to a new key, signed by the current key; the new key file is created if absent')
    .requiredOption('--name <name>', 'the registered name')
    .requiredOption('--new-key <file>', 'key file of the new key')
    .action(async (opts: Common & { name: string; newKey: string }) => {
      await runCommand(opts, async () => {
        const old = await userIdentity(opts.key, false);
        const next = await loadOrCreateIdentity(opts.newKey);
        if (next.publicKeyHex === old.publicKeyHex) throw usage('--new-key holds the same key as --key');
        return withExplorer(opts, old, async (c) => {
          const rec = await c.call<PhonebookRecord>(PHONEBOOK_PROTOCOL, 'get', { name: opts.name });
          if (rec.pubkey !== old.publicKeyHex) throw new PlexusError(PHONEBOOK_ERRORS.ERR_PUBKEY_MISMATCH, `'${opts.name}' is not registered with the key in ${old.path}`);
          const signature = signKeyUpdate(rec.tid, next.publicKeyHex, old.keyPair);
          return c.call<PhonebookRecord>(PHONEBOOK_PROTOCOL, 'update_public_key', { tid: rec.tid, new_pubkey: next.publicKeyHex, signature }, { signed: true });
        });
      }, (r) => `${human(r)}\nthe name now belongs to ${opts.newKey}`);
    });
}
