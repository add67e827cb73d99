import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';

/**
 * The supervisor `plexus net up` leaves behind for each node: `node supervise.js LOG -- ARGV...`.
 * Runs ARGV with its output appended to LOG and starts it again when it exits on its own (at most
 * MAX_RESTARTS within a minute, then gives up). SIGTERM/SIGINT are passed on; the supervisor exits
 * once the child has, SIGKILLing its process group after STOP_GRACE_MS.
 */
const MAX_RESTARTS = 5;
const STOP_GRACE_MS = 20_000;

const [log, sep, ...argv] = process.argv.slice(2);
if (log === undefined || sep !== '--' || argv.length === 0) {
  process.stderr.write('usage: supervise.js LOG -- COMMAND [ARG...]\n');
  process.exit(2);
}

let child: ChildProcess | undefined;
let stopping = false;
const restarts: number[] = [];

function run(): void {
  const fd = openSync(log!, 'a');
  // Its own process group: a stop reaches the node's redis-server and wireguard-go children too.
  child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], detached: true });
  child.on('exit', (code, signal) => {
    child = undefined;
    if (stopping) process.exit(0);
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift();
    if (restarts.length > MAX_RESTARTS) {
      process.stderr.write(`supervise: ${argv.join(' ')} exited (${code ?? signal}) ${restarts.length} times within a minute; giving up\n`);
      process.exit(1);
    }
    setTimeout(run, 1000);
  });
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  const c = child;
  if (c?.pid === undefined) process.exit(0);
  c.kill('SIGTERM');
  setTimeout(() => {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
    process.exit(0);
  }, STOP_GRACE_MS).unref();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
run();
