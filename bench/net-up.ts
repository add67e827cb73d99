import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adminGet } from '@plexus/core';
import { parseArgs, positiveNumber } from './lib/args.js';
import { installCleanup, makeTempDir } from './lib/cleanup.js';
import { ROOT } from './lib/plexus-node.js';
import { median, round } from './lib/stats.js';
import { formatTable } from './lib/table.js';

const exec = promisify(execFile);

/**
 * `plexus net up` of the seed plan (configs/plans/seed.yaml) to the first successful visitor
 * `curl` of a name exposed through the NATed threebot's tunnel (the aim: < 30 s), then
 * `plexus net down` and what it left (must be nothing). Reference, same run: one all-in-one dev
 * node (configs/dev.yaml) started in a namespace of its own until its admin status answers, the
 * floor any network of plexus nodes pays. Needs root, wireguard-go, nftables, dockerd, curl.
 */
const USAGE = `usage: node bench/dist/net-up.js [--runs N] [--json]
  --runs N   net up / first curl / net down cycles, and as many reference starts (default 3)
  --json     results as JSON on stdout; the table goes to stderr
`;

const PLEXUS = join(ROOT, 'core/dist/src/cli/main.js');

async function plexus(args: string[], prefix: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [...prefix, process.execPath, PLEXUS, ...args];
  return exec(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, timeout: 300_000, maxBuffer: 16 << 20 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Cycle {
  upS: number;
  firstCurlS: number;
  downS: number;
  left: number;
  phases: Record<string, number>;
}

async function cycle(dir: string, i: number): Promise<Cycle> {
  const plan = join(dir, 'seed.yaml');
  const runDir = join(dir, `run-${i}`);
  const net = (verb: string, extra: string[] = []) => plexus(['net', verb, '--plan', plan, '--run-dir', runDir, '--json', ...extra]);
  const t0 = Date.now();
  const up = await net('up');
  if (up.code !== 0) throw new Error(`net up: ${up.stdout}${up.stderr}`);
  const upS = (Date.now() - t0) / 1000;
  const st = JSON.parse(up.stdout);
  const bot = ['nsenter', `--net=/run/netns/${st.nodes.find((n: any) => n.node === 'bot').netns}`];
  const visitor = ['nsenter', `--net=/run/netns/${st.visitor.ns}`];
  const www = join(dir, 'www');
  await mkdir(www, { recursive: true });
  await writeFile(join(www, 'index.html'), 'bench\n');
  const web = spawn(bot[0]!, [...bot.slice(1), 'busybox', 'httpd', '-f', '-p', '127.0.0.1:80', '-h', www], { stdio: 'ignore' });
  try {
    const key = join(dir, `bot-${i}.key`);
    const secret = (await readFile(join(runDir, 'config/bot/secrets/tunnel.secret'), 'utf8')).trim();
    for (const args of [['phonebook', 'register', '--name', `bot${i}`, '--email', 'b@example.org'], ['gateway', 'expose', '--name', `bot${i}`, '--client-secret', secret]]) {
      const r = await plexus([...args, '--key', key, '--explorer', st.explorer, '--json'], bot);
      if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    await until(
      async () =>
        (await exec(visitor[0]!, [...visitor.slice(1), 'curl', '-s', '--max-time', '2', '--resolve', `bot${i}.gateway.tf:80:10.70.0.11`, `http://bot${i}.gateway.tf/`]).then((r) => r.stdout, () => '')) === 'bench\n',
      60_000,
      'visitor curl through the tunnel',
    );
  } finally {
    web.kill('SIGKILL');
  }
  const firstCurlS = (Date.now() - t0) / 1000;
  const t1 = Date.now();
  const down = await net('down');
  const downS = (Date.now() - t1) / 1000;
  const left = Object.values(JSON.parse(down.stdout).left as Record<string, number>).reduce((a, b) => a + b, 0);
  return { upS, firstCurlS, downS, left, phases: st.phases };
}

/** Reference: one all-in-one dev node in a namespace of its own, from spawn to its admin status answering. */
async function devNodeStart(dir: string, i: number): Promise<number> {
  const ns = `pxbench-dev-${process.pid}-${i}`;
  const data = join(dir, `dev-${i}`);
  await exec('ip', ['netns', 'add', ns]);
  try {
    await exec('nsenter', [`--net=/run/netns/${ns}`, 'ip', 'link', 'set', 'lo', 'up']);
    const t0 = Date.now();
    const child = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, PLEXUS, 'start', '--config', join(ROOT, 'configs/dev.yaml')], { env: { ...process.env, PLEXUS_DATA_DIR: data }, stdio: 'ignore', detached: true });
    try {
      await until(async () => (await adminGet(join(data, 'admin.sock'), '/status', 1000).catch(() => undefined)) !== undefined, 60_000, 'dev node status');
      return (Date.now() - t0) / 1000;
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const runs = positiveNumber('runs', values.runs, 3);
  installCleanup();
  const dir = await makeTempDir('plexus-bench-net-');
  await writeFile(join(dir, 'seed.yaml'), await readFile(join(ROOT, 'configs/plans/seed.yaml')));
  const load = loadavg()[0]!;
  const cycles: Cycle[] = [];
  const refs: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      cycles.push(await cycle(dir, i));
      refs.push(await devNodeStart(dir, i));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const med = (f: (c: Cycle) => number): number => round(median(cycles.map(f)), 1);
  const ref = round(median(refs), 1);
  const rows = [
    ['net up (5 nodes ready)', med((c) => c.upS), ref, round(med((c) => c.upS) / ref, 1)],
    ['net up to first visitor curl (aim < 30 s)', med((c) => c.firstCurlS), ref, round(med((c) => c.firstCurlS) / ref, 1)],
    ['net down', med((c) => c.downS), '-', '-'],
    ['left after down (must be 0)', Math.max(...cycles.map((c) => c.left)), '-', '-'],
  ];
  const table = formatTable(['seed plan, median of runs (s)', 'plexus net', 'one dev node start (ref)', 'ratio'], rows);
  const phases = Object.keys(cycles[0]!.phases).map((k) => `${k} ${round(median(cycles.map((c) => c.phases[k]!)), 1)} s`).join(', ');
  const text = `${table}\nnet up steps (median): ${phases}\nruns ${runs}, load average at start ${load.toFixed(2)}\n`;
  if (values.json === true) {
    process.stderr.write(text);
    process.stdout.write(`${JSON.stringify({ runs, load, cycles, referenceStartS: refs }, null, 2)}\n`);
  } else process.stdout.write(text);
}

await main();
