import { open, readFile, rename } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PlexusError } from '@plexus/core';

/**
 * A password given inline or in a file (relative to `configDir`, one trailing newline ignored).
 * `what` names it in errors, e.g. "the store's passwordFile".
 * @throws ERR_PLUGIN_START when the file cannot be read or is empty.
 */
export async function readSecret(
  inline: string | undefined,
  file: string | undefined,
  configDir: string,
  what: string,
): Promise<string | undefined> {
  if (file === undefined) return inline;
  const path = resolve(configDir, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new PlexusError('ERR_PLUGIN_START', `cannot read ${what} ${path}: ${(cause as Error).message}`, { cause });
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw new PlexusError('ERR_PLUGIN_START', `${what} ${path} is empty`);
  return secret;
}

/** Writes a file only its owner can read (it may hold `requirepass`/`masterauth`), replacing it atomically. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.chmod(0o600); // the file may have existed with looser bits
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
