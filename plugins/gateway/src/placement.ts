import { PlexusError, fqdnOf, isAtOrBelow, relativeName } from '@plexus/core';
import { placesOf } from './domains.js';

/**
 * Where a record must be written so that DNS servers read it. CoreDNS-redis, and our dns plugin
 * in its default mode, answer a name from the **most specific existing hash** among the name and
 * its parents (COMPAT §1). So:
 *
 * - a record asked for in a hash *above* that one would be shadowed: it goes into the answering
 *   hash instead (`www.alice` in `gateway.tf` → `www` in `alice.gateway.tf.` once that exists);
 * - a record asked for in a hash that does *not exist yet* creates it, and from then on that hash
 *   answers every name below it. The fields of the hash that answered them until now (the
 *   parent) are moved into it, as labels relative to it (`alice` → `@`, `www.alice` → `www`,
 *   `*.alice` → `*`), in the same atomic write: without the move they would silently stop
 *   resolving while `gateway list` still showed them.
 *
 * Pure: the caller says which hashes exist; the write re-checks that (`guards`) atomically.
 */

/** A hash whose existence the placement relied on. */
export interface Guard {
  domain: string;
  exists: boolean;
}

/** Where a record of one DNS name goes. */
export interface Placement {
  fqdn: string;
  /** The hash (domain, no trailing dot) and field DNS servers read the name from after the write. */
  domain: string;
  field: string;
  /** The configured zone containing `fqdn`. */
  zone: string;
  /** Checked again inside the write; a change meanwhile makes it start over. */
  guards: Guard[];
  /**
   * Set when the write creates the hash `domain`: the fields of `parent` at or below `label` move
   * into it first, and the current value of `field` is `from` in `parent` until then.
   */
  split?: { parent: string; label: string; from: string };
}

/**
 * Places a record for `fqdn`, asked for in hash `requested`, inside configured `zone`.
 * `owner` is the phonebook name that owns `fqdn`: a write may create a hash only at or below the
 * owner's own name (`alice.gateway.tf.`, `x.alice.gateway.tf.`); creating one above it would make
 * a zone apex nobody owns, so such a request is written into the answering hash instead, which
 * DNS answers identically.
 * @param exists whether the hash of a domain exists, for every domain of `placesOf(fqdn, zone)`.
 * @throws ERR_PARAMS_INVALID when `requested` is above `zone` (CoreDNS would never read it there);
 * the message and `data.hash`/`data.name` name the hash that answers.
 */
export function place(fqdn: string, requested: string, zone: string, owner: string, exists: (domain: string) => boolean): Placement {
  const chain = placesOf(fqdn, zone);
  let answering = chain.findIndex((p) => exists(p.domain));
  if (answering < 0) answering = chain.length - 1;
  const here = chain[answering]!;
  if (!isAtOrBelow(requested, zone)) {
    throw new PlexusError('ERR_PARAMS_INVALID', `'${fqdn}' is answered from hash ${here.domain}.: register name '${here.field}' in domain '${here.domain}'`, {
      data: { path: 'domain', hash: here.domain, name: here.field },
    });
  }
  // Nothing more specific may appear meanwhile, and the answering hash must still be there
  // (the zone's own hash is the bottom: writing there is right whether it exists or not).
  const guards: Guard[] = chain.slice(0, answering).map((p) => ({ domain: p.domain, exists: false }));
  if (answering < chain.length - 1) guards.push({ domain: here.domain, exists: true });
  const wanted = chain.findIndex((p) => p.domain === requested);
  const ownerFqdn = fqdnOf(owner, zone);
  if (wanted < 0 || wanted >= answering || !isAtOrBelow(requested, ownerFqdn)) {
    return { fqdn, domain: here.domain, field: here.field, zone, guards };
  }
  const field = chain[wanted]!.field;
  const label = relativeName(requested, here.domain);
  const from = field === '@' ? label : `${field}.${label}`;
  return { fqdn, domain: requested, field, zone, guards, split: { parent: here.domain, label, from } };
}
