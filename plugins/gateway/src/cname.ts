import { PlexusError, type FieldRecords, type RecordType, canonicalValue, mergeRecords, parseField } from '@plexus/core';
import { GATEWAY_ERRORS } from './errors.js';

/**
 * RFC 1034 §3.6.2: a name with a CNAME has no other data. DNS servers disagree on what to answer
 * when a field holds both (CoreDNS-redis answers the CNAME to A queries and the TXT to TXT
 * queries; resolvers then cache inconsistent views), so the gateway never writes such a field:
 * the write is refused with ERR_CNAME_CONFLICT, or, when the caller says `replace`, the side that
 * conflicts with the new records is dropped.
 */

/** Record types present in a field with at least one entry (a single-object type such as soa counts). */
export function typesIn(field: FieldRecords): string[] {
  return Object.keys(field).filter((k) => {
    const v = field[k];
    return Array.isArray(v) ? v.length > 0 : v !== null && v !== undefined;
  });
}

/** What `addRecords` needs to know beside the records. */
export interface AddOptions {
  ttl: number;
  /** Drop what conflicts with the new records instead of refusing. */
  replace: boolean;
  /** The DNS name, for the error. */
  fqdn: string;
}

/**
 * Merges `values` of `type` into a stored field (as `mergeRecords`), keeping the CNAME rule:
 * a CNAME joins no other type and no other CNAME target; other types join no CNAME.
 * @throws ERR_CNAME_CONFLICT when the result would break the rule and `replace` is false.
 */
export function addRecords(raw: string | null, type: RecordType, values: readonly string[], opts: AddOptions): string {
  const merged = parseField(mergeRecords(raw, type, values, opts.ttl));
  const present = typesIn(merged);
  const cnames = Array.isArray(merged.cname) ? merged.cname : [];
  const conflict = type === 'cname' ? present.some((t) => t !== 'cname') || cnames.length > 1 : present.includes('cname');
  if (!conflict) return JSON.stringify(merged);
  if (!opts.replace) {
    const existing = typesIn(parseField(raw)).filter((t) => (type === 'cname' ? true : t === 'cname'));
    const what = type === 'cname' ? `already has ${existing.join(', ')} records` : 'has a CNAME';
    throw new PlexusError(GATEWAY_ERRORS.ERR_CNAME_CONFLICT, `'${opts.fqdn}' ${what}; a CNAME cannot share its name with other records (RFC 1034 §3.6.2)`, {
      data: { fqdn: opts.fqdn, adding: type, existing },
    });
  }
  if (type !== 'cname') {
    delete merged.cname;
    return JSON.stringify(merged);
  }
  // mergeRecords puts the new entries first, without duplicates: keep exactly those.
  const fresh = new Set(values.map((v) => canonicalValue('cname', v))).size;
  return JSON.stringify({ cname: cnames.slice(0, fresh) });
}
