import { z } from 'zod';

/**
 * Name rules shared by every plugin that stores, answers or routes names. Inside plexus a name is
 * lowercase (ASCII fold, RFC 4343), without the trailing dot; the DNS root is ''.
 */

/** Longest DNS name in presentation form without the trailing dot (RFC 1035). */
export const MAX_DOMAIN_LENGTH = 253;
/** Longest phonebook name (they become `NAME.<zone>`). */
export const MAX_PHONEBOOK_NAME_LENGTH = 128;

/**
 * A hostname label as the gateway and DNS zones accept it: letters, digits, `-` (not first or
 * last) and `_`, because service labels (`_acme-challenge`, `_ssh._tcp`) are what TXT and CNAME
 * records are most often registered for.
 */
export const HOST_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;
/** A phonebook label: lowercase letters, digits and inner hyphens. */
export const NAME_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** ASCII-only lowercase, so that a non-ASCII label never changes length or meaning. */
export function foldCase(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : name;
}

/** `Alice.Gateway.TF.` → `alice.gateway.tf`; `.` → ''. */
export function normalizeName(name: string): string {
  const folded = foldCase(name);
  return folded.endsWith('.') ? folded.slice(0, -1) : folded;
}

/** RFC 1035 limits of a name on the wire: labels 1..63 bytes, the whole name at most 253 characters. */
export function isWireName(name: string): boolean {
  if (name === '') return true;
  if (Buffer.byteLength(name) > MAX_DOMAIN_LENGTH) return false;
  for (const label of name.split('.')) {
    const bytes = Buffer.byteLength(label);
    if (bytes === 0 || bytes > 63) return false;
  }
  return true;
}

/** A domain name made of hostname labels (no wildcard, no `@`), already normalized. */
export function isHostname(name: string): boolean {
  return name.length > 0 && name.length <= MAX_DOMAIN_LENGTH && name.split('.').every((l) => HOST_LABEL.test(l));
}

/** A name the phonebook can hold (`alice`, `carol.example`). */
export function isPhonebookName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_PHONEBOOK_NAME_LENGTH && name.split('.').every((l) => NAME_LABEL.test(l));
}

/**
 * A record name relative to its zone hash, as a CoreDNS field: `@` (the hash's apex), or hostname
 * labels where only the leftmost may be `*` (a wildcard).
 */
export function isRecordName(name: string): boolean {
  if (name === '@' || name === '*') return true;
  if (name.length > MAX_DOMAIN_LENGTH) return false;
  return name.split('.').every((l, i) => (i === 0 && l === '*') || HOST_LABEL.test(l));
}

/** The parent of a name (`a.b.c` → `b.c`, `c` → ''); undefined for the root. */
export function parentName(name: string): string | undefined {
  if (name === '') return undefined;
  const dot = name.indexOf('.');
  return dot === -1 ? '' : name.slice(dot + 1);
}

/** True when `name` is `zone` or below it (every name is below the root ''). */
export function isAtOrBelow(name: string, zone: string): boolean {
  if (zone === '') return true;
  return name === zone || (name.length > zone.length && name.endsWith(zone) && name.charCodeAt(name.length - zone.length - 1) === 46);
}

/** The most specific of `zones` containing `name`, or undefined. */
export function zoneOf(name: string, zones: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const z of zones) if (isAtOrBelow(name, z) && (best === undefined || z.length > best.length)) best = z;
  return best;
}

/** The field of `name` inside the hash of `zone`: `@` for the apex, else the relative labels. */
export function relativeName(name: string, zone: string): string {
  if (name === zone) return '@';
  return zone === '' ? name : name.slice(0, name.length - zone.length - 1);
}

/** The name a field of `zone`'s hash denotes: `@` is the zone itself. */
export function fqdnOf(field: string, zone: string): string {
  if (field === '@') return zone;
  return zone === '' ? field : `${field}.${zone}`;
}

/** A domain name param or config value: normalized (lowercase, no trailing dot), then checked. */
export const domainNameSchema = z
  .string()
  .max(MAX_DOMAIN_LENGTH + 1)
  .transform(normalizeName)
  .refine(isHostname, 'expected a domain name such as gateway.tf (letters, digits, - and _ labels joined by dots)');

/** A phonebook name (lowercase DNS labels joined by dots, at most 128 chars). */
export const phonebookNameSchema = z.string().max(MAX_PHONEBOOK_NAME_LENGTH).refine(isPhonebookName, 'expected a phonebook name (lowercase DNS labels)');

/** A record name relative to its zone hash (`@`, `alice`, `www.alice`, `*.alice`, `_acme-challenge.alice`). */
export const recordNameSchema = z
  .string()
  .max(MAX_DOMAIN_LENGTH)
  .transform(foldCase)
  .refine(isRecordName, "expected '@', or labels relative to the domain (the leftmost may be '*')");
