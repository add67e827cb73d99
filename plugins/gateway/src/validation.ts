import { isIP } from 'node:net';
import { z } from '@plexus/core';

/**
 * Input checks shared by the config schema and the RPC params. Everything the gateway writes ends
 * up in DNS answers and tcprouter routes, so names and addresses are validated and put in one
 * canonical form before they are compared or stored.
 */

/** Longest DNS name in presentation form without the trailing dot (RFC 1035). */
export const MAX_DOMAIN_LENGTH = 253;
/** Longest TXT text accepted, in UTF-8 bytes; answers are split in 255-byte strings (COMPAT §1). */
export const MAX_TXT_BYTES = 2048;
/** Longest tunnel secret; the handshake carries it with a uint16 length, we stay far below. */
export const MAX_SECRET_LENGTH = 256;

// Hostname labels also allow `_` because service labels (`_acme-challenge`, `_ssh._tcp`) are
// what TXT and CNAME records are most often registered for.
const HOST_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;
// Phonebook names: lowercase letters, digits and inner hyphens (same rule as the phonebook).
const NAME_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Lowercases and drops one trailing dot: `Alice.Gateway.TF.` → `alice.gateway.tf`. */
export function normalizeDomain(input: string): string {
  const lower = input.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** A domain name made of hostname labels (no wildcard, no `@`), already normalized. */
export function isHostname(name: string): boolean {
  return name.length > 0 && name.length <= MAX_DOMAIN_LENGTH && name.split('.').every((l) => HOST_LABEL.test(l));
}

/** A name the phonebook can hold (`alice`, `carol.example`). */
export function isPhonebookName(name: string): boolean {
  return name.length > 0 && name.length <= 128 && name.split('.').every((l) => NAME_LABEL.test(l));
}

/**
 * A record name relative to its hash, as a CoreDNS field: `@` (the hash's apex), or hostname
 * labels where only the leftmost may be `*` (a wildcard, answered by CoreDNS's wildcard lookup).
 */
export function isRecordName(name: string): boolean {
  if (name === '@' || name === '*') return true;
  if (name.length > MAX_DOMAIN_LENGTH) return false;
  const labels = name.split('.');
  return labels.every((l, i) => (i === 0 && l === '*') || HOST_LABEL.test(l));
}

/**
 * The canonical text of an IP address, or undefined when `ip` is not one. IPv4 must be dotted
 * quad without leading zeros; IPv6 is compressed and lowercased (RFC 5952 via the URL parser) so
 * `2001:DB8:0::1` and `2001:db8::1` are one record, not two. Zone ids (`%eth0`) are refused.
 */
export function canonicalIp(ip: string): { ip: string; family: 4 | 6 } | undefined {
  if (ip.includes('%')) return undefined;
  const family = isIP(ip);
  if (family === 4) return { ip, family };
  if (family === 6) return { ip: new URL(`http://[${ip}]`).hostname.slice(1, -1), family };
  return undefined;
}

/** True when `text` fits a TXT record: 1..MAX_TXT_BYTES UTF-8 bytes, no control characters. */
export function isTxtText(text: string): boolean {
  return text.length > 0 && Buffer.byteLength(text, 'utf8') <= MAX_TXT_BYTES && !/[\u0000-\u001f\u007f]/.test(text);
}

/** Domain param: normalized, then checked as a hostname. */
export const domainParam = z
  .string()
  .max(MAX_DOMAIN_LENGTH + 1)
  .transform(normalizeDomain)
  .refine(isHostname, 'expected a domain name (letters, digits, - and _ labels joined by dots)');

/** Record name param (`@`, `alice`, `www.alice`, `*.alice`, `_acme-challenge.alice`). */
export const recordNameParam = z
  .string()
  .max(MAX_DOMAIN_LENGTH)
  .transform((s) => s.toLowerCase())
  .refine(isRecordName, "expected '@', or labels relative to the domain (the leftmost may be '*')");

/** Phonebook name param (owner of the records). */
export const ownerNameParam = z.string().max(128).refine(isPhonebookName, 'expected a phonebook name (lowercase DNS labels)');

/** Any IP address, returned in canonical form. */
export const ipParam = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const c = canonicalIp(s);
    if (c === undefined) {
      ctx.addIssue({ code: 'custom', message: `'${s.slice(0, 64)}' is not an IPv4 or IPv6 address` });
      return z.NEVER;
    }
    return c.ip;
  });

/** A TCP port, 1..65535. */
export const portParam = z.number().int().min(1).max(65535);

/** Tunnel secret: printable ASCII without spaces, so it survives shells, TOML and logs' redaction. */
export const secretParam = z
  .string()
  .min(1)
  .max(MAX_SECRET_LENGTH)
  .regex(/^[\x21-\x7e]+$/, 'expected printable ASCII without spaces');

/** Ed25519 signature as 128 lowercase hex chars (COMPAT §4). */
export const signatureParam = z.string().regex(/^[0-9a-f]{128}$/, 'expected 128 lowercase hex chars (Ed25519 signature)');
