import { open, rename } from 'node:fs/promises';

/** Writes a file only its owner can read (a private key), replacing it atomically. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.chmod(0o600); // a leftover tmp file may have had looser bits
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
