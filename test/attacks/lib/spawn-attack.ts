import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ATTACKER = fileURLToPath(new URL('./attacker.js', import.meta.url));
const RUNNING = new Set<ChildProcess>();

/**
 * Runs one attack (see attacker.ts) in a child process and resolves with its JSON result.
 * Rejects if the tool fails or outlives `timeoutMs`; the child is killed in every case. `prefix`
 * runs it elsewhere, e.g. inside a network namespace.
 */
export function runAttack<R>(kind: 'slowFrames' | 'peerFlood' | 'connFlood' | 'silentTcp', args: object, timeoutMs: number, prefix: string[] = []): Promise<R> {
  return new Promise((resolve, reject) => {
    // With a prefix (`nsenter --net=...`), the prefix execs node in place, so killing the child kills the tool.
    const argv = [...prefix, process.execPath, ATTACKER, kind, JSON.stringify(args)];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    RUNNING.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      RUNNING.delete(child);
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line !== '') resolve(JSON.parse(line) as R);
      else reject(new Error(`attack ${kind} ended with ${code ?? signal} (limit ${timeoutMs} ms): ${err.slice(-2000)}`));
    });
  });
}

/** Kills every attack still running; call it from `after` so a failing test leaves none behind. */
export function killAttacks(): void {
  for (const child of RUNNING) child.kill('SIGKILL');
  RUNNING.clear();
}
