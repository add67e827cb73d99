import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root and the real `plexus` entry point the tests run. */
export const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
export const PLEXUS = join(ROOT, 'core/dist/src/cli/main.js');
/** The launcher users run: nodes under test start through it, with the node flags it picks for `start`. */
export const PLEXUS_BIN = join(ROOT, 'bin/plexus');

import { freePort } from '@plexus/core';
export { freePort };

export async function tempDir(prefix = 'plexus-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when it is. */
  json: any;
}

/** Runs `plexus ARGS` as a separate process and collects its output. */
export async function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000, prefix: string[] = []): Promise<CliResult> {
  return new Promise((res, rej) => {
    const argv = [...prefix, process.execPath, PLEXUS, ...args];
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`plexus ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', rej);
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      res({ code, stdout, stderr, json });
    });
  });
}

/**
 * A `plexus start` process. Spawned in its own process group so that a test can kill the node
 * together with its redis-server child (a whole-node crash), and so cleanup catches every child.
 */
export class NodeProcess {
  readonly child: ChildProcess;
  stderr = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private startedInfo: { peerId: string; listen: string[] } | undefined;
  private readonly waiters = new Set<() => void>();

  private notify(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  private constructor(
    readonly configFile: string,
    prefix: string[] = [],
  ) {
    // With a prefix (`nsenter --net=...`), the prefix and the launcher exec node in place, so the pid is still the node's.
    const argv = [...prefix, PLEXUS_BIN, 'start', '--config', configFile];
    this.child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.notify();
    });
    this.exited = new Promise((res) =>
      this.child.on('exit', (code, signal) => {
        res({ code, signal });
        this.notify();
      }),
    );
    ALL.add(this);
  }

  /** Starts a node and resolves once it logged "node started"; rejects if it exits first. */
  static async start(configFile: string, timeoutMs = 30_000, prefix: string[] = []): Promise<NodeProcess> {
    const node = new NodeProcess(configFile, prefix);
    await node.waitForLog((l) => l.msg === 'node started', timeoutMs);
    return node;
  }

  /** Starts a node that is expected to fail; resolves with its exit status and output. */
  static async startExpectingFailure(configFile: string, timeoutMs = 30_000): Promise<{ code: number | null; stderr: string }> {
    const node = new NodeProcess(configFile);
    const timer = setTimeout(() => node.kill('SIGKILL'), timeoutMs);
    const { code } = await node.exited;
    clearTimeout(timer);
    ALL.delete(node);
    return { code, stderr: node.stderr };
  }

  get multiaddr(): string {
    const addr = this.startedInfo?.listen[0];
    if (addr === undefined) throw new Error('node has not started');
    return addr;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Waits until a JSON log line satisfies `pred` (a condition, not a sleep). */
  async waitForLog(pred: (line: Record<string, any>) => boolean, timeoutMs = 30_000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    let scanned = 0;
    for (;;) {
      const lines = this.stderr.split('\n');
      for (let i = scanned; i < lines.length - 1; i++) {
        let line: Record<string, any>;
        try {
          line = JSON.parse(lines[i]!) as Record<string, any>;
        } catch {
          continue;
        }
        if (line.msg === 'node started') this.startedInfo = { peerId: line.peerId, listen: line.listen };
        if (pred(line)) return line;
      }
      scanned = Math.max(0, lines.length - 1);
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`plexus exited (${this.child.exitCode ?? this.child.signalCode}) before the expected log line:\n${this.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for a log line:\n${this.stderr}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.max(0, deadline - Date.now()));
        this.waiters.add(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGKILL to the whole process group: the node and its redis-server die at once, like a crash. */
  killGroup(signal: NodeJS.Signals = 'SIGKILL'): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // already gone
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.kill(signal);
    const timer = setTimeout(() => this.killGroup(), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    ALL.delete(this);
    return result;
  }

  async waitExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const r = await this.exited;
    ALL.delete(this);
    return r;
  }
}

const ALL = new Set<NodeProcess>();

/** Kills every node process group still alive; tests call it from t.after so failures clean up too. */
export async function killAllNodes(): Promise<void> {
  for (const n of ALL) n.killGroup();
  await Promise.all([...ALL].map((n) => n.waitExit()));
}

/** Writes a YAML config into `dir` and returns its path. */
export async function writeConfig(dir: string, name: string, yaml: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, yaml);
  return file;
}

export interface ExplorerPorts {
  p2p: number;
  redis: number;
}

export async function explorerConfig(dir: string, extra = ''): Promise<{ file: string; ports: ExplorerPorts }> {
  const ports = { p2p: await freePort(), redis: await freePort() };
  const file = await writeConfig(
    dir,
    'explorer',
    `node:
  name: explorer
  dataDir: ${join(dir, 'data')}
  listen: [/ip4/127.0.0.1/tcp/${ports.p2p}]
  log: { level: info }
plugins:
  store: { port: ${ports.redis}, fsync: always }
  phonebook: {}
${extra}`,
  );
  return { file, ports };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** True while something accepts TCP connections on 127.0.0.1:port. */
export async function isListening(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}
