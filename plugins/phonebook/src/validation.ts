import { isIP } from 'node:net';
import { z } from '@plexus/core';

/** Params only the phonebook has; names, keys and signatures use the shared schemas of @plexus/core. */
export const email = z.string().max(254).regex(/^[^\s@]+@[^\s@]+$/, 'expected an email address');
export const ipaddr = z
  .string()
  .max(45)
  .refine((s) => s === '' || isIP(s) !== 0, 'expected an IPv4 or IPv6 address, or empty');
export const description = z.string().max(1024);
export const tid = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
