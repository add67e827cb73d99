import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { trackProcessGroup, untrackProcessGroup } from './cleanup.js';
import { freePort } from './ports.js';
import { within } from './time.js';

/** Repository root (this file runs from bench/dist/lib/) and the `plexus` launcher. */
export const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
export const PLEXUS_BIN = join(ROOT, 'bin/plexus');

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface ExplorerConfigOptions {
  fsync: 'always' | 'everysec';
  logLevel: LogLevel;
  /** `node.rpc.verifyThreads`; omitted: the node's default. */
  verifyThreads?: number;
}

/** Writes an explorer role config (store + phonebook, loopback only) into `dir`. */
export async function writeExplorerConfig(dir: string, opts: ExplorerConfigOptions): Promise<{ file: string; p2pPort: number; redisPort: number }> {
  const p2pPort = await freePort();
  let redisPort = await freePort();
  while (redisPort === p2pPort) redisPort = await freePort();
  const file = join(dir, 'explorer.yaml');
  const yaml = [
    'node:',
    '  name: bench-explorer',
    `  dataDir: ${join(dir, 'data')}`,
    `  listen: [/ip4/127.0.0.1/tcp/${p2pPort}]`,
    `  log: { level: ${opts.logLevel} }`,
    '  # The benchmark wants the ceiling, not the limiters: its 100 clients all come from 127.0.0.1,',
    '  # so the per-peer and per-host rate limits are off and loopback is exempt from connection limits.',
    `  rpc: { ${opts.verifyThreads === undefined ? '' : `verifyThreads: ${opts.verifyThreads}, `}rateLimit: { perSecond: 0, burst: 1, perHostPerSecond: 0 } }`,
    '  p2p: { allow: [/ip4/127.0.0.0/ipcidr/8] }',
    'plugins:',
    `  store: { port: ${redisPort}, fsync: ${opts.fsync} }`,
    '  phonebook: {}',
    '',
  ].join('\n');
  await writeFile(file, yaml);
  return { file, p2pPort, redisPort };
}

/** `plexus ARGS` through the launcher; resolves with its stdout, rejects on a non-zero exit. */
export async function plexusCli(args: string[], timeoutMs = 30_000): Promise<string> {
  return (await promisify(execFile)(PLEXUS_BIN, args, { timeout: timeoutMs })).stdout;
}

/** `plexus id --config FILE --json`: the node's PeerId and dialable multiaddrs (creates the key). */
export async function plexusId(configFile: string): Promise<{ peerId: string; multiaddrs: string[] }> {
  const stdout = await plexusCli(['id', '--config', configFile, '--json', '--create']);
  return JSON.parse(stdout) as { peerId: string; multiaddrs: string[] };
}

const LOGS_NODE_STARTED = new Set<LogLevel>(['trace', 'debug', 'info']);

export interface StartOptions {
  logLevel: LogLevel;
  /** Gives up (and kills the node) after this long. Default 60 s. */
  readyTimeoutMs?: number;
  /**
   * Readiness check for log levels above `info`, where the node does not print "node started":
   * resolves once the node serves, rejects to be retried. Called until it resolves.
   */
  probe?: () => Promise<void>;
  /** Extra environment for the node (e.g. NODE_OPTIONS=--cpu-prof). */
  env?: Record<string, string>;
}

/**
 * A `plexus start` process in its own process group, so that stopping or killing the group also
 * reaches its redis-server child. `bin/plexus` execs node, so `pid` is the node process itself.
 */
export class PlexusProcess {
  private stderrTail = '';
  private lineCount = 0;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly configFile: string,
  ) {
    this.exited = new Promise((res) =>
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        res();
      }),
    );
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      // Keep only the tail: under load at level info every registration logs a line.
      this.stderrTail = (this.stderrTail + d).slice(-16_384);
      for (let i = d.indexOf('\n'); i >= 0; i = d.indexOf('\n', i + 1)) this.lineCount++;
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts the node and resolves when it is ready: the "node started" line, or the probe. */
  static async start(configFile: string, opts: StartOptions): Promise<PlexusProcess> {
    const child = spawn(PLEXUS_BIN, ['start', '--config', configFile], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    const node = new PlexusProcess(child, configFile);
    if (child.pid === undefined) throw new Error(`could not spawn ${PLEXUS_BIN}`);
    trackProcessGroup(child.pid);
    try {
      await node.waitReady(opts);
    } catch (err) {
      await node.stop();
      throw err;
    }
    return node;
  }

  private async waitReady(opts: StartOptions): Promise<void> {
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    const ac = new AbortController();
    const failed = (why: string): Error => new Error(`plexus start --config ${this.configFile} ${why}\n--- stderr (tail) ---\n${this.stderrTail}`);
    const conditions: Promise<void>[] = [
      this.exited.then(() => {
        // After readiness an exit is stop()'s business, not a rejection nobody awaits.
        if (!ac.signal.aborted) throw failed(`exited before it was ready (code ${this.exitInfo?.code}, signal ${this.exitInfo?.signal})`);
      }),
      new Promise<void>((_, rej) => {
        const t = setTimeout(() => rej(failed(`was not ready within ${timeoutMs} ms`)), timeoutMs);
        ac.signal.addEventListener('abort', () => clearTimeout(t));
      }),
    ];
    if (LOGS_NODE_STARTED.has(opts.logLevel)) {
      conditions.push(
        new Promise<void>((res) => {
          let buf = '';
          const onData = (d: string): void => {
            buf += d;
            let nl;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (isNodeStarted(line)) {
                this.child.stderr!.off('data', onData);
                res();
                return;
              }
            }
          };
          this.child.stderr!.on('data', onData);
          ac.signal.addEventListener('abort', () => this.child.stderr!.off('data', onData));
        }),
      );
    } else if (opts.probe !== undefined) {
      const probe = opts.probe;
      conditions.push(
        (async () => {
          let lastError: unknown;
          while (!ac.signal.aborted) {
            try {
              await probe();
              return;
            } catch (err) {
              lastError = err;
            }
            // A failed probe returns at once while the port is closed: pace the retries.
            await new Promise((r) => setTimeout(r, 100));
          }
          if (lastError !== undefined && !ac.signal.aborted) throw lastError;
        })(),
      );
    } else {
      throw new Error(`log level ${opts.logLevel} hides "node started" and no probe was given`);
    }
    try {
      await Promise.race(conditions);
    } finally {
      ac.abort();
    }
  }

  /** SIGTERM to the group, wait for the node to exit (it stops redis itself), SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    const pgid = this.pid;
    if (this.exitInfo === undefined) {
      try {
        // Only the node: it stops its redis child in order (a group-wide TERM would race it).
        process.kill(pgid, 'SIGTERM');
      } catch {
        // gone already
      }
      await within(this.exited, graceMs);
    }
    try {
      process.kill(-pgid, 'SIGKILL'); // whatever is left in the group (nothing, normally)
    } catch {
      // empty group
    }
    untrackProcessGroup(pgid);
    return this.exitInfo;
  }

  get tail(): string {
    return this.stderrTail;
  }

  /** Lines the node wrote to stderr so far (at level warn: its warnings and errors). */
  get stderrLines(): number {
    return this.lineCount;
  }

  /** How the process ended, or undefined while it runs. */
  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exitInfo;
  }
}

function isNodeStarted(line: string): boolean {
  if (!line.includes('node started')) return false;
  try {
    return (JSON.parse(line) as { msg?: unknown }).msg === 'node started';
  } catch {
    return /\bnode started\b/.test(line); // pretty output
  }
}
