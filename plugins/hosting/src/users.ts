import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * Sashimono-style users (`sashipx<lease>`; the `px` keeps them apart from a Sashimono install's
 * own `sashi…` users): with `perInstanceUser`, each instance runs as a system user of its own
 * (no home, no shell), owner of its /data, removed with the instance.
 */
export const USER_PREFIX = 'sashipx';

/** Creates the user; returns `uid:gid`. */
export async function createUser(name: string): Promise<{ uid: number; gid: number }> {
  await exec('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name], { timeout: 30_000 });
  return idsOf(name);
}

/** uid and gid of an existing user. */
export async function idsOf(name: string): Promise<{ uid: number; gid: number }> {
  const uid = Number((await exec('id', ['-u', name])).stdout.trim());
  const gid = Number((await exec('id', ['-g', name])).stdout.trim());
  return { uid, gid };
}

export async function deleteUser(name: string): Promise<void> {
  await exec('userdel', [name], { timeout: 30_000 }).catch((err: { code?: number }) => {
    if (err.code !== 6) throw err; // 6: no such user
  });
}

/** Users this plugin may have made (name starts with the prefix). */
export async function ourUsers(): Promise<string[]> {
  const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(':')[0] ?? '')
    .filter((n) => n.startsWith(USER_PREFIX));
}
