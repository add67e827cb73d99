import { execFile, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { trackProcessGroup, untrackProcessGroup } from './cleanup.js';
import { freePort } from './ports.js';

/** iperf3 as a sanity reference: our own server on a free loopback port, clients with `-J`. */
const run = promisify(execFile);
const IPERF3 = '/usr/bin/iperf3';

export interface Iperf3Result {
  streams: number;
  seconds: number;
  /** Received at the server, all streams together. */
  gbitPerSecond: number;
  retransmits: number | undefined;
}

export async function startIperf3Server(): Promise<{ port: number; version: string; stop(): Promise<void> }> {
  const version = await run(IPERF3, ['--version']).then(
    (r) => /iperf (\S+)/.exec(r.stdout)?.[1] ?? '?',
    () => {
      throw new Error(`${IPERF3} is missing (apt-get install -y iperf3)`);
    },
  );
  const port = await freePort();
  const child = spawn(IPERF3, ['-s', '-p', String(port), '-B', '127.0.0.1'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  trackProcessGroup(child.pid!);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const stop = async (): Promise<void> => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    untrackProcessGroup(child.pid!);
  };
  const deadline = Date.now() + 10_000;
  while (
    !(await new Promise<boolean>((resolve) => {
      // A bare connect+close makes iperf3 3.12 log an error and carry on; it stays up.
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    }))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`iperf3 -s did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, version, stop };
}

/** `iperf3 -c 127.0.0.1 -p PORT -t SECONDS -P STREAMS -J` (client → server). */
export async function iperf3(port: number, seconds: number, streams: number): Promise<Iperf3Result> {
  let stdout: string;
  try {
    ({ stdout } = await run(IPERF3, ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-P', String(streams), '-J'], { timeout: (seconds + 60) * 1000, maxBuffer: 64 * 1024 * 1024 }));
  } catch (err) {
    // iperf3 -J prints its error inside the JSON on stdout.
    const out = (err as { stdout?: string }).stdout ?? '';
    let why = (err as Error).message;
    try {
      why = (JSON.parse(out) as { error?: string }).error ?? why;
    } catch {
      // not JSON
    }
    throw new Error(`iperf3 -c ... -p ${port} -P ${streams}: ${why}`);
  }
  const r = JSON.parse(stdout) as { error?: string; end?: { sum_received?: { bits_per_second: number; seconds: number }; sum_sent?: { retransmits?: number } } };
  if (r.error !== undefined || r.end?.sum_received === undefined) throw new Error(`iperf3: ${r.error ?? 'no sum_received in its output'}`);
  return { streams, seconds: r.end.sum_received.seconds, gbitPerSecond: r.end.sum_received.bits_per_second / 1e9, retransmits: r.end.sum_sent?.retransmits };
}
