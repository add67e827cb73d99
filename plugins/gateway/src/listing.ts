import { type FieldRecords, TcprouterDecodeError, decodeService, fqdnOf, parseField } from '@plexus/core';
import { placesOf } from './domains.js';
import type { GatewayStore, Target } from './store.js';

/**
 * `list`: a name's entries read back from the keys themselves, each DNS field with the hash that
 * really answers it. Fields the gateway writes are never shadowed (see `placement.ts`), but data
 * written before that rule (or by hand) can be: `shadowedBy` then names the more specific hash
 * DNS servers read instead, so the listing never claims an answer DNS does not give.
 */

/** One entry of `list`. Client secrets are never returned: whoever knows one can take the route. */
export type ListedEntry =
  | { kind: 'dns'; domain: string; name: string; fqdn: string; records: FieldRecords | null; error?: string; shadowedBy?: string }
  | { kind: 'tcp'; domain: string; addr: string; tlsport: number; httpport: number; tunnel: boolean; error?: string };

/** The entries of `owner`'s index that still exist, in index order. */
export async function listEntries(store: GatewayStore, owner: string): Promise<ListedEntry[]> {
  const targets = await store.entries(owner);
  const values = await store.read(targets);
  const entries: ListedEntry[] = [];
  const deeper = new Map<number, string[]>();
  targets.forEach((t, i) => {
    const raw = values[i] ?? null;
    if (raw === null) return; // deleted by someone else
    if (t.kind === 'tcp') return void entries.push(listedTcp(t.fqdn, raw));
    deeper.set(entries.length, placesOf(fqdnOf(t.field, t.domain), t.domain).slice(0, -1).map((p) => p.domain));
    entries.push(listedDns(t, raw));
  });
  const existing = await store.existing([...new Set([...deeper.values()].flat())]);
  for (const [i, domains] of deeper) {
    const by = domains.find((d) => existing.has(d));
    if (by !== undefined) (entries[i] as { shadowedBy?: string }).shadowedBy = by;
  }
  return entries;
}

function listedDns(t: Target & { kind: 'dns' }, raw: string): ListedEntry {
  const fqdn = fqdnOf(t.field, t.domain);
  try {
    return { kind: 'dns', domain: t.domain, name: t.field, fqdn, records: parseField(raw) };
  } catch {
    return { kind: 'dns', domain: t.domain, name: t.field, fqdn, records: null, error: 'not a JSON object' };
  }
}

function listedTcp(fqdn: string, raw: string): ListedEntry {
  try {
    const { service } = decodeService(raw);
    return { kind: 'tcp', domain: fqdn, addr: service.addr, tlsport: service.tlsport, httpport: service.httpport, tunnel: service.clientsecret !== '' };
  } catch (err) {
    const error = err instanceof TcprouterDecodeError ? err.message : 'unreadable';
    return { kind: 'tcp', domain: fqdn, addr: '', tlsport: 0, httpport: 0, tunnel: false, error };
  }
}
