import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir } from './lib/cleanup.js';
import { PLEXUS_BIN, PlexusProcess, plexusId, writeExplorerConfig } from './lib/plexus-node.js';
import { median } from './lib/stats.js';

/**
 * One-shot CLI start-up: wall time of `plexus phonebook get NAME` against a running explorer,
 * with Node's module compile cache (on since the CLI entry enables it) and without it
 * (NODE_DISABLE_COMPILE_CACHE=1), beside the reference of the same run: a bare `node -e ''`, the
 * floor any Node CLI pays. Never fails on a number.
 */
const USAGE = 'usage: node bench/dist/cli-startup.js [--runs N] [--json]\n';
const run = promisify(execFile);

async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const start = performance.now();
  // `get` of a name nobody registered exits 1 with ERR_NOT_FOUND: a full round trip all the same.
  await run(cmd, args, { env: { ...process.env, ...env }, timeout: 30_000 }).catch((err: { code?: unknown }) => {
    if (typeof err.code !== 'number') throw err;
  });
  return performance.now() - start;
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { runs: { type: 'string' }, json: { type: 'boolean' } } }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  installCleanup();
  const runs = positiveNumber('runs', v.runs, 15);
  const dir = await makeTempDir('plexus-bench-cli-');
  const { file } = await writeExplorerConfig(dir, { fsync: 'everysec', logLevel: 'info' });
  const node = await PlexusProcess.start(file, { logLevel: 'info' });
  try {
    const addr = (await plexusId(file)).multiaddrs[0]!;
    const get = ['phonebook', 'get', 'nobody', '--explorer', addr, '--json'];
    const series = { cached: [] as number[], uncached: [] as number[], bareNode: [] as number[] };
    // The first cached run fills the cache; runs alternate so load on the machine hits all alike.
    await timed(PLEXUS_BIN, get, {});
    for (let i = 0; i < runs; i++) {
      series.cached.push(await timed(PLEXUS_BIN, get, {}));
      series.uncached.push(await timed(PLEXUS_BIN, get, { NODE_DISABLE_COMPILE_CACHE: '1' }));
      series.bareNode.push(await timed(process.execPath, ['-e', ''], {}));
    }
    const out = { date: new Date().toISOString(), runs, medianMs: { cached: median(series.cached), uncached: median(series.uncached), bareNode: median(series.bareNode) } };
    const f = (n: number): string => n.toFixed(0).padStart(6);
    const table = [
      `CLI start-up, plexus phonebook get against a running explorer, median of ${runs} runs`,
      `  with compile cache      ${f(out.medianMs.cached)} ms   (aim < 150 ms)`,
      `  without compile cache   ${f(out.medianMs.uncached)} ms   ratio cached/uncached ${(out.medianMs.cached / out.medianMs.uncached).toFixed(2)}`,
      `  reference: node -e ''   ${f(out.medianMs.bareNode)} ms   ratio cached/bare node ${(out.medianMs.cached / out.medianMs.bareNode).toFixed(1)}`,
    ].join('\n');
    if (v.json === true) {
      process.stderr.write(`${table}\n`);
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else process.stdout.write(`${table}\n`);
  } finally {
    await node.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench cli-startup: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
