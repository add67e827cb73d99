import { z } from '@plexus/core';

/**
 * Input rules of the gateway's own params. Names, addresses, ports and signatures use the shared
 * schemas of `@plexus/core` (formats); what is here exists only in the gateway.
 */

/** Longest TXT text accepted, in UTF-8 bytes; answers are split in 255-byte strings (COMPAT §1). */
export const MAX_TXT_BYTES = 2048;
/** Longest tunnel secret; the handshake carries it with a uint16 length, we stay far below. */
export const MAX_SECRET_LENGTH = 256;

/** True when `text` fits a TXT record: 1..MAX_TXT_BYTES UTF-8 bytes, no control characters. */
export function isTxtText(text: string): boolean {
  return text.length > 0 && Buffer.byteLength(text, 'utf8') <= MAX_TXT_BYTES && !/[\u0000-\u001f\u007f]/.test(text);
}

/** Tunnel secret: printable ASCII without spaces, so it survives shells, TOML and logs' redaction. */
export const secretParam = z
  .string()
  .min(1)
  .max(MAX_SECRET_LENGTH)
  .regex(/^[\x21-\x7e]+$/, 'expected printable ASCII without spaces');
