import { readFile, readlink, realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '@plexus/core';

/** How often a process we signalled is checked for exit. It is not our child, so no exit event. */
const EXIT_POLL_MS = 25;

/** True while `pid` runs. A zombie has exited already: only its parent's bookkeeping is left. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself contain ") ".
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * True when `pid` is a redis-server. Redis rewrites its title to `redis-server host:port`, so the first
 * word of the command line is checked, not the config path.
 */
export async function isRedisServer(pid: number): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const argv0 = cmdline.split(/[\0 ]/, 1)[0] ?? '';
    return basename(argv0).startsWith('redis-server');
  } catch {
    return false;
  }
}

/** Sends `signal`, then waits until `pid` is gone or `timeoutMs` passed. Returns whether it is gone. */
export async function signalAndWait(pid: number, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  try {
    process.kill(pid, signal);
  } catch {
    return !(await isAlive(pid));
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await isAlive(pid))) return true;
    await delay(EXIT_POLL_MS);
  }
  return !(await isAlive(pid));
}

/**
 * Stops a redis-server left running by a previous plexus that was killed with -9: its child outlives
 * it and still holds the port and the AOF. Only a live redis-server named by our pidfile and working
 * in our directory is stopped; any other process is left alone, and a stale pidfile is ignored
 * (redis overwrites it). SIGTERM first so redis fsyncs its AOF, SIGKILL after `timeoutMs`.
 *
 * @returns the pid that was stopped, or undefined when there was none.
 */
export async function stopLeftoverRedis(pidfile: string, dir: string, log: Logger, timeoutMs = 10_000): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(pidfile, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
  if (!(await isAlive(pid))) return undefined;
  if (!(await isRedisServer(pid))) {
    log.warn({ pid, pidfile }, 'pidfile names a process that is not redis-server; leaving it alone');
    return undefined;
  }
  // A recycled pid could belong to another redis; ours runs with `dir` as its working directory.
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => undefined);
  if (cwd !== undefined && cwd !== (await realpath(dir).catch(() => dir))) {
    log.warn({ pid, pidfile, cwd }, 'pidfile names a redis-server of another directory; leaving it alone');
    return undefined;
  }
  log.warn({ pid }, 'stopping a redis-server left over from a previous run');
  if (await signalAndWait(pid, 'SIGTERM', timeoutMs)) return pid;
  log.warn({ pid }, 'leftover redis-server ignored SIGTERM; killing it');
  await signalAndWait(pid, 'SIGKILL', timeoutMs);
  return pid;
}
