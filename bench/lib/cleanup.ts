import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Everything a benchmark leaves behind if it is interrupted: process groups (a plexus node and its
 * redis-server child share one) and temp dirs. On exit, Ctrl-C or SIGTERM the groups get SIGKILL
 * and the dirs are removed. The normal path stops nodes gracefully first and untracks them.
 */
const groups = new Set<number>();
const dirs = new Set<string>();
let installed = false;

function cleanupSync(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  groups.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/** Installs the exit/SIGINT/SIGTERM handlers once per process. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupSync);
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
    cleanupSync();
    process.exit(code);
  };
  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
}

export function trackProcessGroup(pgid: number): void {
  groups.add(pgid);
}

export function untrackProcessGroup(pgid: number): void {
  groups.delete(pgid);
}

/** A fresh temp dir that is removed when the process ends, however it ends. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}
