import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeProcess, freePort, removeDir, tempDir, writeConfig } from '../../lib/harness.js';

/** The protocols an attack node serves: two, as on an explorer, so streams per connection double. */
export const PHONEBOOK = '/plexus/phonebook/1';
export const HELLO = '/plexus/hello/1';

/** Source addresses on loopback: per-host limits tell them apart, as they would two machines. */
export const CANARY_IP = '127.0.0.1';
export const ATTACKER_IP = '127.0.0.2';
/** More attacker hosts, for attacks spread over several addresses. */
export function attackerIps(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `127.0.0.${10 + i}`);
}

/** RSS bound every attack must keep the node under. */
export const RSS_LIMIT_MB = 300;

export interface TargetOptions {
  /** YAML lines inserted under `node:` (indented by the caller with 2 spaces), e.g. `  rpc: { frameTimeoutMs: 2000 }`. */
  nodeExtra?: string;
  /** The `store:` block; default a managed redis with fsync always. */
  store?: string;
  /** Listen address without the port; default `/ip4/127.0.0.1`. */
  listenHost?: string;
  /** Runs the node through this prefix, e.g. `nsenter --net=...` into a test namespace. */
  prefix?: string[];
}

/**
 * A real `plexus start` node for one attack file: store (managed redis), phonebook and hello on a
 * loopback port; data in a temp dir removed by `stop()`. `restart()` keeps the data dir.
 */
export class Target {
  node!: NodeProcess;

  private constructor(
    readonly dir: string,
    readonly configFile: string,
    private readonly prefix: string[],
  ) {}

  static async start(options: TargetOptions = {}): Promise<Target> {
    const dir = await tempDir('plexus-attack-');
    const port = await freePort();
    const store = options.store ?? `{ port: ${await freePort()}, fsync: always }`;
    const file = await writeConfig(
      dir,
      'target',
      `node:
  name: target
  dataDir: ${join(dir, 'data')}
  listen: [${options.listenHost ?? '/ip4/127.0.0.1'}/tcp/${port}]
${options.nodeExtra ?? ''}
plugins:
  store: ${store}
  phonebook: {}
  hello: {}
`,
    );
    const target = new Target(dir, file, options.prefix ?? []);
    try {
      target.node = await NodeProcess.start(file, 30_000, target.prefix);
    } catch (err) {
      await removeDir(dir);
      throw err;
    }
    return target;
  }

  /** `/ip4/127.0.0.1/tcp/<port>/p2p/<peer id>`. */
  get multiaddr(): string {
    return this.node.multiaddr;
  }

  get port(): number {
    return Number(/\/tcp\/(\d+)/.exec(this.multiaddr)![1]);
  }

  get pid(): number {
    return this.node.pid;
  }

  /** Stops the node (SIGTERM, or SIGKILL of its process group: a crash) and starts it again on the same data dir. */
  async restart(how: 'graceful' | 'crash'): Promise<void> {
    if (how === 'crash') {
      this.node.killGroup('SIGKILL');
      await this.node.waitExit();
    } else {
      await this.node.stop('SIGTERM');
    }
    this.node = await NodeProcess.start(this.configFile, 30_000, this.prefix);
  }

  /** Parsed JSON log lines of the current node process so far. */
  logLines(): Record<string, any>[] {
    return this.node.stderr.split('\n').flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, any>];
      } catch {
        return [];
      }
    });
  }

  async stop(): Promise<void> {
    try {
      await this.node?.stop('SIGTERM');
    } finally {
      await removeDir(this.dir);
    }
  }
}

/** Resident memory of a process in MB, from /proc/<pid>/status (VmRSS). */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Samples a process's RSS every `everyMs` until stopped; keeps the peak. */
export class RssWatch {
  peakMb = 0;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();

  constructor(
    private readonly pid: number,
    everyMs = 50,
  ) {
    this.timer = setInterval(() => {
      this.sampling = rssMb(this.pid).then(
        (mb) => {
          this.peakMb = Math.max(this.peakMb, mb);
        },
        () => undefined,
      );
    }, everyMs);
  }

  /** Stops sampling after one last sample; returns the peak in MB. */
  async stop(): Promise<number> {
    clearInterval(this.timer);
    await this.sampling;
    this.peakMb = Math.max(this.peakMb, await rssMb(this.pid).catch(() => 0));
    return this.peakMb;
  }
}
