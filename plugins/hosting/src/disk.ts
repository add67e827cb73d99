import { execFile } from 'node:child_process';
import { open, readFile, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { PlexusError } from '@plexus/core';
import { HOSTING_ERRORS } from './errors.js';

const exec = promisify(execFile);

/**
 * Per-instance disk with a hard limit: a sparse ext4 image of the instance's share, loop-mounted
 * on the directory the container sees as /data. The container's root is read-only and /tmp a
 * small tmpfs, so this image is all it can fill. Needs root, mkfs.ext4 (e2fsprogs) and loop
 * devices; `disk: dir` skips it (no limit).
 */

/** Makes `image` (diskMb, sparse), formats it and mounts it on `mountpoint`. Undoes itself on failure. */
export async function mountLoopDisk(image: string, mountpoint: string, diskMb: number): Promise<void> {
  const f = await open(image, 'wx', 0o600);
  try {
    await f.truncate(diskMb * 1024 * 1024);
  } finally {
    await f.close();
  }
  try {
    // -m 0: no blocks reserved for root (the tenant gets the whole share); no lazy init, so the
    // image is ready (and its size final) when mount returns.
    await exec('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image], { timeout: 60_000 });
    await exec('mount', ['-o', 'loop,nodev,nosuid', image, mountpoint], { timeout: 30_000 });
  } catch (err) {
    await rm(image, { force: true });
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_DISK, `the instance disk could not be made: ${e.code === 'ENOENT' ? `${e.path ?? 'mkfs.ext4/mount'} is missing` : (e.stderr?.trim() ?? e.message)}`, { cause: err });
  }
}

/** Mount points under `root` (from /proc/mounts). */
export async function mountsUnder(root: string): Promise<string[]> {
  const text = await readFile('/proc/mounts', 'utf8').catch(() => '');
  const prefix = root.endsWith('/') ? root : `${root}/`;
  return text
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => m !== undefined && m.startsWith(prefix));
}

/** Unmounts `mountpoint` if mounted (the loop device is freed with it). */
export async function unmount(mountpoint: string): Promise<void> {
  if (!(await mountsUnder(mountpoint.replace(/\/[^/]*$/, ''))).includes(mountpoint)) return;
  try {
    await exec('umount', [mountpoint], { timeout: 30_000 });
  } catch {
    // Busy (a process still holds a file): detach lazily, the loop device goes when it lets go.
    await exec('umount', ['-l', mountpoint], { timeout: 30_000 });
  }
}
