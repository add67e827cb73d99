import { isIP } from 'node:net';
import { z } from '@plexus/core';

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const NAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/** Names are lowercase DNS names (they become `NAME.gateway.tf`), at most 128 chars. */
export function isValidName(name: string): boolean {
  return name.length <= 128 && NAME_RE.test(name);
}

export const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex chars (Ed25519 public key)');
export const hex128 = z.string().regex(/^[0-9a-f]{128}$/, 'expected 128 lowercase hex chars (Ed25519 signature)');
export const email = z.string().max(254).regex(/^[^\s@]+@[^\s@]+$/, 'expected an email address');
export const ipaddr = z
  .string()
  .max(45)
  .refine((s) => s === '' || isIP(s) !== 0, 'expected an IPv4 or IPv6 address, or empty');
export const description = z.string().max(1024);
export const tid = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
