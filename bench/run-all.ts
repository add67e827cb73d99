import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';

/**
 * Runs every benchmark in turn, each as its own process (a crashed or leaked benchmark cannot skew
 * the next one). Forwards the common flags (--seconds, --json); a benchmark's own extras are fixed
 * here so that `npm run bench` is the complete, comparable run. Exits non-zero only when a
 * benchmark could not run (setup broke), never because of a number.
 */
const BENCHMARKS: { name: string; file: string; args: string[]; /** false: it has no --seconds (counts instead). */ seconds?: false }[] = [
  { name: 'registrations', file: 'registrations.js', args: ['--fsync-compare', '--open-rate', '500,1000,1500', '--wait-quiet', '120'] },
  { name: 'dns', file: 'dns.js', args: [] },
  { name: 'tcprouter', file: 'tcprouter.js', args: [] },
  { name: 'tunnel', file: 'tunnel.js', args: [] },
  { name: 'hosting', file: 'hosting.js', args: [] },
  { name: 'xahau', file: 'xahau.js', args: [], seconds: false },
  { name: 'wireguard', file: 'wireguard.js', args: [] },
  { name: 'acme', file: 'acme.js', args: ['--count', '10'], seconds: false },
  { name: 'api', file: 'api.js', args: [] },
  { name: 'cli-startup', file: 'cli-startup.js', args: [], seconds: false },
  { name: 'net-scale', file: 'net-scale.js', args: [], seconds: false },
];

const USAGE = `usage: node bench/dist/run-all.js [--seconds N] [--json] [--only NAME]
  --seconds N   measured seconds per level, passed to every benchmark that measures by time
  --json        one JSON document on stdout ({date, benchmarks: {name: result}}); tables on stderr
  --only NAME   run just this benchmark (${BENCHMARKS.map((b) => b.name).join(', ')})
`;

function run(file: string, args: string[], json: boolean): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(`./${file}`, import.meta.url)), ...args], {
      stdio: ['ignore', json ? 'pipe' : 'inherit', 'inherit'],
    });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    // Ctrl-C reaches the benchmark too (same process group); it cleans up after itself.
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout }));
  });
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { seconds: { type: 'string' }, json: { type: 'boolean' }, only: { type: 'string' }, help: { type: 'boolean' } } }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (v.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const json = v.json === true;
  const seconds = v.seconds === undefined ? [] : ['--seconds', String(positiveNumber('seconds', v.seconds, 8))];
  const selected = BENCHMARKS.filter((b) => v.only === undefined || b.name === v.only);
  if (selected.length === 0) usageError(`--only: no benchmark named '${v.only}'\n${USAGE}`);
  const results: Record<string, unknown> = {};
  let failed = 0;
  for (const b of selected) {
    process.stderr.write(`\n=== ${b.name} ===\n`);
    const { code, stdout } = await run(b.file, [...b.args, ...(b.seconds === false ? [] : seconds), ...(json ? ['--json'] : [])], json);
    if (code !== 0) {
      failed++;
      process.stderr.write(`=== ${b.name}: could not run (exit ${code}) ===\n`);
      continue;
    }
    if (json) results[b.name] = JSON.parse(stdout) as unknown;
  }
  if (json) process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), benchmarks: results }, null, 2)}\n`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench run-all: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
