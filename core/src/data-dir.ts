import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PlexusError } from './errors.js';

/**
 * Creates `dir` (mode 0700) and its missing parents one level at a time, and checks it is a
 * writable directory. Not `mkdir({recursive: true})`: under a file system that refuses creation
 * with ENOENT although the parent exists (`/proc`), Node's recursive mkdir retries forever at
 * full CPU, deaf to signals.
 * @throws ERR_DATA_DIR naming the path and the reason.
 */
export async function ensureDataDir(dir: string): Promise<void> {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    const kind = await kindOf(p);
    if (kind === 'dir') break;
    if (kind === 'other') throw dataDirError(target, `${p} exists and is not a directory`);
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      await mkdir(p, { mode: 0o700 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await kindOf(p)) === 'dir') continue;
      throw dataDirError(target, `cannot create ${p} (${code ?? (err as Error).message})`, err);
    }
  }
  try {
    await access(target, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw dataDirError(target, `${target} is not writable (${(err as NodeJS.ErrnoException).code})`, err);
  }
}

async function kindOf(p: string): Promise<'dir' | 'other' | 'missing'> {
  try {
    return (await stat(p)).isDirectory() ? 'dir' : 'other';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') throw dataDirError(p, `a parent of ${p} is not a directory`, err);
    throw dataDirError(p, `cannot inspect ${p} (${code})`, err);
  }
}

function dataDirError(dir: string, reason: string, cause?: unknown): PlexusError {
  return new PlexusError('ERR_DATA_DIR', `data dir ${dir}: ${reason}`, { data: { dataDir: dir }, ...(cause === undefined ? {} : { cause }) });
}
