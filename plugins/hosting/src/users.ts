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

/**
 * Runs useradd/userdel, retrying while another one holds the lock on /etc/passwd or /etc/group
 * (exit 1 / 10: "cannot lock ... try again later"): instances are provisioned in parallel.
 */
async function shadowTool(cmd: 'useradd' | 'userdel', args: string[], ok: (code: number) => boolean = () => false): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await exec(cmd, args, { timeout: 30_000 });
      return;
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      if (typeof e.code === 'number' && ok(e.code)) return;
      const locked = (e.code === 1 || e.code === 10) && /lock/i.test(e.stderr ?? '');
      if (!locked || attempt >= 40) throw err;
      await new Promise((r) => setTimeout(r, 25 + Math.random() * 75));
    }
  }
}

/** Creates the user; returns `uid:gid`. */
export async function createUser(name: string): Promise<{ uid: number; gid: number }> {
  await shadowTool('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
  return idsOf(name);
}

/** uid and gid of an existing user. */
export async function idsOf(name: string): Promise<{ uid: number; gid: number }> {
  const uid = Number((await exec('id', ['-u', name])).stdout.trim());
  const gid = Number((await exec('id', ['-g', name])).stdout.trim());
  return { uid, gid };
}

/** Removes the user; gone already (exit 6) is fine. */
export async function deleteUser(name: string): Promise<void> {
  await shadowTool('userdel', [name], (code) => code === 6);
}

/** Users this plugin may have made (name starts with the prefix). */
export async function ourUsers(): Promise<string[]> {
  const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(':')[0] ?? '')
    .filter((n) => n.startsWith(USER_PREFIX));
}
