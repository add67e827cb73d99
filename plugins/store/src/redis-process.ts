import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { PlexusError } from '@plexus/core';
import { probeRedis } from './client.js';
import { TIMED_OUT, withDeadline } from './deadline.js';
import { redisPaths } from './redis-conf.js';

/** How a child ended. `error` is set when it could not be spawned at all. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Pause between readiness probes; waiting ends early when the child exits. */
const PROBE_INTERVAL_MS = 50;
/** While stopping, SIGTERM is sent again this often (see `RedisChild.stop`). */
const SIGTERM_REPEAT_MS = 500;
/** Lines of redis's own log quoted in errors. */
const LOG_TAIL_LINES = 15;

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Finds the redis-server binary: a bare name is looked up on PATH, anything with a slash is a path
 * (relative ones against `baseDir`, the config file's directory).
 * @returns the absolute path, or undefined when there is no such executable.
 */
export async function resolveBinary(name: string, baseDir: string): Promise<string | undefined> {
  if (name.includes('/')) {
    const path = isAbsolute(name) ? name : resolve(baseDir, name);
    return (await isExecutableFile(path)) ? path : undefined;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, name);
    if (await isExecutableFile(path)) return path;
  }
  return undefined;
}

/** Last lines of `file` written after byte `from`: what one run of redis logged. */
export async function readLogTail(file: string, from: number, maxLines = LOG_TAIL_LINES): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
    const size = (await handle.stat()).size;
    const start = Math.max(from, size - 8192);
    const buf = Buffer.alloc(Math.max(0, size - start));
    await handle.read(buf, 0, buf.length, start);
    return buf.toString('utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}

/** Everything needed to run one managed redis-server. */
export interface RedisChildOptions {
  /** Absolute path of the binary (see `resolveBinary`). */
  binary: string;
  /** Directory holding redis.conf; redis's working directory. */
  dir: string;
  /** Address and port our clients use to reach it. */
  host: string;
  port: number;
  password?: string | undefined;
  /** Arguments after the config file (`--sentinel` for a sentinel). */
  extraArgs?: readonly string[];
  /** How long redis may take to answer at all, and to make progress while it loads. Default 10 s. */
  readyTimeoutMs?: number;
}

/** One running redis-server child, started from `<dir>/redis.conf` and known to answer. */
export class RedisChild {
  /** Settles when the process has exited. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** Settles when stderr is drained too ('close' may come after 'exit'). */
  private readonly closed: Promise<void>;
  private exitInfo: ExitInfo | undefined;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly logfile: string,
    private readonly logOffset: number,
  ) {
    this.exited = new Promise<ExitInfo>((done) => {
      child.once('exit', (code, signal) => done({ code, signal }));
      // A spawn failure (EACCES, ...) emits 'error' and possibly no 'exit'.
      child.once('error', (error) => done({ code: null, signal: null, error }));
    }).then((info) => (this.exitInfo = info));
    this.closed = new Promise((done) => child.once('close', () => done()));
    // Only errors before the log file is open (a bad config line) land here; keep the end of them.
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4096);
    });
  }

  /** Process id of the child (redis's `process_id`). */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Whether the process has exited. */
  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** What this run of redis printed last: its log since spawn, or its stderr. */
  async logTail(): Promise<string> {
    const tail = await readLogTail(this.logfile, this.logOffset);
    return [tail, this.stderr.trim()].filter((s) => s !== '').join('\n');
  }

  /**
   * Spawns redis-server and resolves once the process answers on host:port with its own pid and has
   * loaded its data. Throws ERR_PLUGIN_START, with the end of redis's log, when it exits first
   * (port in use, bad config) or does not answer in time; the child is gone by then.
   */
  static async start(options: RedisChildOptions): Promise<RedisChild> {
    const paths = redisPaths(options.dir);
    const logOffset = await stat(paths.logfile).then((s) => s.size, () => 0);
    const proc = spawn(options.binary, [paths.conf, ...(options.extraArgs ?? [])], { cwd: options.dir, detached: false, stdio: ['ignore', 'ignore', 'pipe'] });
    const child = new RedisChild(proc, paths.logfile, logOffset);
    const timeout = options.readyTimeoutMs ?? 10_000;
    let deadline = Date.now() + timeout;
    let other: number | undefined;
    while (!child.hasExited && Date.now() < deadline) {
      // An exit ends the wait at once, even while a probe hangs on a silent socket.
      const probe = await Promise.race([probeRedis(options.host, options.port, options.password), child.exited.then(() => undefined)]);
      if (probe?.pid === child.pid) {
        if (!probe.loading) return child;
        deadline = Date.now() + timeout; // a large AOF may take long to load; it is progress, not a hang
      } else if (probe !== undefined) {
        other = probe.pid; // someone else answers there; ours will fail to bind and exit
      }
      await withDeadline(child.exited, PROBE_INTERVAL_MS);
    }
    let why: string;
    if (child.hasExited) {
      // stderr may still be in flight after 'exit'; give it a moment to arrive for the message.
      await withDeadline(child.closed, 500);
      const info = child.exitInfo as ExitInfo;
      why = info.error !== undefined
        ? `could not be run (${info.error.message})`
        : `exited during start-up (${info.signal ?? `code ${info.code}`})`;
    } else {
      await child.stop();
      why = `did not answer on ${options.host}:${options.port} within ${timeout} ms` +
        (other === undefined ? '' : ` (another redis-server, pid ${other}, answers there)`);
    }
    const tail = await child.logTail();
    throw new PlexusError('ERR_PLUGIN_START', `redis-server ${why}; its log (${paths.logfile}) ends with:\n${tail || '(empty)'}`, {
      data: { port: options.port, logfile: paths.logfile },
    });
  }

  /**
   * Stops redis: SIGTERM makes it fsync the AOF and exit (like SHUTDOWN); SIGKILL after `timeoutMs`.
   * Safe to call when it already exited.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.hasExited) return;
    const deadline = Date.now() + timeoutMs;
    // Redis refuses a shutdown it cannot do cleanly right now and then forgets the signal: a replica
    // that just loaded a full sync logs "Writing initial AOF, can't exit" until its AOF rewrite ends
    // (milliseconds later). Repeating SIGTERM lets it exit as soon as it can, instead of being killed.
    while (Date.now() < deadline) {
      this.child.kill('SIGTERM');
      if ((await withDeadline(this.exited, Math.min(SIGTERM_REPEAT_MS, deadline - Date.now()))) !== TIMED_OUT) return;
    }
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
