import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PlexusError } from '@plexus/core';

/**
 * A password given inline or in a file (relative to `configDir`, one trailing newline ignored).
 * `what` names it in errors, e.g. "the store's passwordFile"; `whenMissing` says how to make a
 * missing file (a first start from an example config).
 * @throws ERR_PLUGIN_START when the file cannot be read or is empty.
 */
export async function readSecret(
  inline: string | undefined,
  file: string | undefined,
  configDir: string,
  what: string,
  whenMissing?: (path: string) => string,
): Promise<string | undefined> {
  if (file === undefined) return inline;
  const path = resolve(configDir, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const how = (cause as NodeJS.ErrnoException).code === 'ENOENT' && whenMissing !== undefined ? `; ${whenMissing(path)}` : '';
    throw new PlexusError('ERR_PLUGIN_START', `cannot read ${what} ${path}: ${(cause as Error).message}${how}`, { cause });
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw new PlexusError('ERR_PLUGIN_START', `${what} ${path} is empty`);
  return secret;
}

/** Where a managed store keeps the password it generated for itself, inside the plugin's data dir. */
export const GENERATED_PASSWORD_FILE = 'redis.password';

/**
 * The password of a managed redis that was configured without one: generated once (24 random bytes,
 * base64url) into `<dataDir>/redis.password`, mode 0600, and reused on every start. Even on
 * loopback, a store without a password is writable by every local account, which could then
 * rewrite who owns a name.
 */
export async function generatedPassword(dataDir: string): Promise<{ password: string; file: string; created: boolean }> {
  const file = join(dataDir, GENERATED_PASSWORD_FILE);
  try {
    const password = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    if (password === '') throw new PlexusError('ERR_PLUGIN_START', `${file} is empty; delete it to have a new password generated`);
    // Tighten a copy restored with looser bits: anyone who reads it owns the store.
    if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
    return { password, file, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const password = randomBytes(24).toString('base64url');
  await writePrivateFile(file, `${password}\n`);
  return { password, file, created: true };
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
