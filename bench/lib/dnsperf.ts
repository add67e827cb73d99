import { spawn } from 'node:child_process';
import { percentile } from './stats.js';

export interface DnsperfResult {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  p50Ms: number;
  p99Ms: number;
  /** 99.9th percentile: a stall of the server shows here first. */
  p999Ms: number;
  /** The slowest answer: the longest stall a client saw during the run (lost queries aside). */
  maxMs: number;
  avgMs: number;
}

/**
 * Runs `dnsperf -v` against one server and parses its summary plus the per-response latencies
 * (dnsperf itself prints only the average, so p50/p99 come from the `-v` lines).
 */
export async function dnsperf(opts: { host: string; port: number; queryFile: string; seconds: number; clients?: number; outstanding?: number; rate?: number }): Promise<DnsperfResult> {
  const args = ['-s', opts.host, '-p', String(opts.port), '-d', opts.queryFile, '-l', String(opts.seconds), '-c', String(opts.clients ?? 4), '-q', String(opts.outstanding ?? 100), '-v'];
  // A fixed offered rate (open loop): latency without the queueing a saturating client adds.
  if (opts.rate !== undefined) args.push('-Q', String(opts.rate));
  const latencies: number[] = [];
  let summary = '';
  await new Promise<void>((resolve, reject) => {
    const child = spawn('dnsperf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // "> NOERROR n17.gateway.tf A 0.000123"
        if (line.startsWith('> ')) {
          const s = Number(line.slice(line.lastIndexOf(' ') + 1));
          if (Number.isFinite(s)) latencies.push(s * 1000);
        } else summary += `${line}\n`;
      }
    });
    child.stderr.resume();
    child.once('error', (err) => reject(new Error(`dnsperf: ${err.message} (apt-get install dnsperf)`)));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`dnsperf exited ${code}\n${summary}`))));
  });
  const num = (re: RegExp): number => Number(re.exec(summary)?.[1] ?? NaN);
  latencies.sort((a, b) => a - b);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    p999Ms: percentile(latencies, 99.9),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
  };
}
