import { MAX_DOMAIN_LENGTH, PlexusError, fqdnOf, isPhonebookName, zoneOf } from '@plexus/core';

/**
 * Which DNS names a phonebook name may change. Pure: the caller looks the candidates up in the
 * phonebook. The rule (documented in README.md, "Who may change what"):
 *
 * - a DNS name belongs to the most specific configured zone that contains it; a zone's apex and
 *   names in no zone belong to the operator (ERR_FORBIDDEN);
 * - inside that zone the name `R` (relative to the zone) belongs to the **shortest** label-suffix
 *   of `R` that is a registered phonebook name: `www.alice` → `alice` even when somebody
 *   registered `www.alice` too. Everything below a registered name is its owner's: otherwise
 *   registering the phonebook name `www.bob` would hand bob's `www` to whoever did it (subdomain
 *   takeover). The phonebook refuses such names for other keys; this rule also covers names
 *   registered before it did.
 */

/** Label-suffixes of `relative` that are valid phonebook names, shortest (highest) first. */
export function ownerCandidates(relative: string): string[] {
  const labels = relative.split('.');
  const out: string[] = [];
  for (let i = labels.length - 1; i >= 0; i--) {
    const candidate = labels.slice(i).join('.');
    if (isPhonebookName(candidate)) out.push(candidate);
  }
  return out;
}

/** Where a record goes and who may write it. */
export interface RecordTarget {
  /** The DNS name the record answers for. */
  fqdn: string;
  /** Hash (domain, without the trailing dot) and field the record is stored in. */
  domain: string;
  field: string;
  /** The configured zone that contains `fqdn`. */
  zone: string;
  /** Possible owners, highest first; the first one registered in the phonebook owns `fqdn`. */
  candidates: string[];
}

/**
 * Resolves `(recordName, domain)` as the original actor's `(name, domain)` params into a target,
 * or throws: ERR_FORBIDDEN outside the zones / at a zone apex / with no possible owner. Which hash
 * really gets the record (and a `domain` above the zone, refused there) is decided with the
 * store's existing hashes in hand (`placement.ts`).
 */
export function resolveTarget(recordName: string, domain: string, zones: readonly string[]): RecordTarget {
  const fqdn = fqdnOf(recordName, domain);
  if (fqdn.length > MAX_DOMAIN_LENGTH) throw new PlexusError('ERR_PARAMS_INVALID', `'${fqdn.slice(0, 64)}…' is longer than ${MAX_DOMAIN_LENGTH} chars`, { data: { path: 'name' } });
  const { zone, candidates } = resolveFqdn(fqdn, zones);
  return { fqdn, domain, field: recordName, zone, candidates };
}

/** Like `resolveTarget` for a bare DNS name (tcprouter services). */
export function resolveFqdn(fqdn: string, zones: readonly string[]): { fqdn: string; zone: string; candidates: string[] } {
  const zone = zoneOf(fqdn, zones);
  if (zone === undefined) throw new PlexusError('ERR_FORBIDDEN', `'${fqdn}' is not in a zone this gateway manages (${zones.join(', ')})`);
  if (fqdn === zone) throw new PlexusError('ERR_FORBIDDEN', `'${fqdn}' is a zone apex; it belongs to the gateway operator`);
  const candidates = ownerCandidates(fqdn.slice(0, -(zone.length + 1)));
  if (candidates.length === 0) throw new PlexusError('ERR_FORBIDDEN', `'${fqdn}' is not at or below a name: only <name>.${zone} and names below it can be registered`);
  return { fqdn, zone, candidates };
}

/**
 * Every (hash, field) that can hold records for `fqdn` through this API: its own hash's `@`, then
 * each parent hash down to the zone with the relative name. `www.alice.gateway.tf` in zone
 * `gateway.tf` → (www.alice.gateway.tf, @), (alice.gateway.tf, www), (gateway.tf, www.alice).
 */
export function placesOf(fqdn: string, zone: string): { domain: string; field: string }[] {
  const labels = fqdn.split('.');
  const zoneLabels = zone.split('.').length;
  const out: { domain: string; field: string }[] = [];
  for (let i = 0; i <= labels.length - zoneLabels; i++) {
    out.push({ domain: labels.slice(i).join('.'), field: i === 0 ? '@' : labels.slice(0, i).join('.') });
  }
  return out;
}
