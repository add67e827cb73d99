import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, removeDir, tempDir } from './lib/harness.js';

/**
 * deploy/: the systemd units and the Ansible playbook. The playbook is linted, then applied for
 * real to machines that are this one (`ansible_connection: local`), each with its own /etc/plexus
 * and unit directory under a temp dir, one /opt/plexus there, and a plexus user of the test's own.
 * What it cannot do here: start the units (systemd is not PID 1), so `plexus_manage_services` is
 * false; deploy/README.md says so.
 */

const ANSIBLE_DIR = join(ROOT, 'deploy/ansible');
const UNIT_DIR = join(ROOT, 'deploy/systemd');
const ROLES = ['explorer', 'dns', 'host', 'threebot'] as const;
/** Which Debian package brings each tool the test runs. */
const PACKAGES: Record<string, string> = {
  'ansible-playbook': 'ansible',
  'ansible-lint': 'ansible-lint',
  'systemd-analyze': 'systemd',
  runuser: 'util-linux',
  tar: 'tar',
};

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool to the end; a missing tool fails naming its Debian package. */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      rej(err.code === 'ENOENT' ? new Error(`${cmd} is missing: apt-get install -y ${PACKAGES[cmd] ?? cmd} (scripts/setup.sh --test does it)`) : err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

const ANSIBLE_ENV = { ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ANSIBLE_CONFIG: join(ANSIBLE_DIR, 'ansible.cfg') };

test('the playbook passes ansible-playbook --syntax-check and ansible-lint (production profile)', async () => {
  const syntax = await run('ansible-playbook', ['--syntax-check', '-i', 'inventory.example.yml', 'site.yml'], { cwd: ANSIBLE_DIR, env: ANSIBLE_ENV });
  assert.equal(syntax.code, 0, `--syntax-check failed:\n${syntax.stdout}\n${syntax.stderr}`);
  const lint = await run('ansible-lint', ['--profile', 'production', '--nocolor'], { cwd: ANSIBLE_DIR, env: ANSIBLE_ENV, timeoutMs: 300_000 });
  assert.equal(lint.code, 0, `ansible-lint failed:\n${lint.stdout}\n${lint.stderr}`);
});

test('every role unit is rated OK by systemd-analyze security (exposure under 3.0 of 10)', async () => {
  const units = (await readdir(UNIT_DIR)).filter((f) => f.endsWith('.service')).sort();
  assert.deepEqual(units, ROLES.map((r) => `plexus-${r}.service`).sort());
  for (const unit of units) {
    const r = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', join(UNIT_DIR, unit)]);
    assert.equal(r.code, 0, `${unit}: ${r.stderr}`);
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
    assert.ok(m !== null, `${unit}: no exposure level in\n${r.stdout}`);
    assert.ok(Number(m[1]) < 3, `${unit}: exposure ${m[1]} (the units were tightened to about 2)`);
  }
});

/** "changed=N" etc. of one host in the PLAY RECAP. */
function recap(stdout: string, host: string): { ok: number; changed: number; failed: number; unreachable: number } {
  const m = new RegExp(`^${host}\\s+:\\s+ok=(\\d+)\\s+changed=(\\d+)\\s+unreachable=(\\d+)\\s+failed=(\\d+)`, 'm').exec(stdout);
  assert.ok(m !== null, `no recap for ${host} in\n${stdout.slice(-3000)}`);
  return { ok: Number(m[1]), changed: Number(m[2]), unreachable: Number(m[3]), failed: Number(m[4]) };
}

/** What a failed run printed: every failed task, then the end. */
function failures(r: Ran): string {
  return [...r.stdout.split('\n').filter((l) => /^(fatal|failed):/.test(l)), '...', r.stdout.slice(-3000), r.stderr].join('\n');
}

/** mode (e.g. 0o600) and owner uid of a path. */
async function modeOf(path: string): Promise<{ mode: number; uid: number }> {
  const s = await stat(path);
  return { mode: s.mode & 0o777, uid: s.uid };
}

test('the playbook deploys a plan to local machines: files, modes, owners, valid configs and units; a second run changes nothing', { timeout: 1_200_000 }, async () => {
  for (const tool of ['ansible-playbook', 'systemd-analyze', 'runuser', 'tar']) await run(tool, ['--version']);
  const tmp = await tempDir('plexus-deploy-');
  const user = `plexus-t${randomBytes(3).toString('hex')}`;
  try {
    // The machines' roots are under it: their plexus user must reach its files (mkdtemp makes 0700).
    await chmod(tmp, 0o755);
    // The plan: one node of each role, each machine its own inventory host; data under tmp.
    const machines = { explorer: 'm-explorer', dns: 'm-dns', host: 'm-host', threebot: 'm-bot' } as const;
    const plan = join(tmp, 'net.yaml');
    await writeFile(
      plan,
      `network: { name: deploytest, zones: [gateway.tf] }
networks:
  redis: { cidr: 10.1.0.0/24, store: true }
  main: { cidr: 10.2.0.0/24, topology: { hub: dns1 } }
machines:
  ${machines.explorer}: { address: 10.80.0.1 }
  ${machines.dns}: { address: 10.80.0.11 }
  ${machines.host}: { address: 10.80.0.21 }
  ${machines.threebot}: { address: 192.168.80.2, nat: { router: 10.80.0.30 } }
nodes:
  explorer: { machine: ${machines.explorer}, role: explorer }
  dns1: { machine: ${machines.dns}, role: dns }
  host1: { machine: ${machines.host}, role: host, hosting: { disk: dir } }
  bot: { machine: ${machines.threebot}, role: threebot }
defaults: { dataDir: ${join(tmp, 'var/lib/plexus')} }
`,
    );
    // A release archive of this checkout, made as deploy/README.md says (uncompressed: faster here).
    const archive = join(tmp, 'plexus.tar');
    const tar = await run('tar', ['-C', ROOT, '--exclude=./.git', '--exclude=./test', '--exclude=./bench', '--exclude=./.plexus-*', '--exclude=*.tsbuildinfo', '-cf', archive, '.'], { timeoutMs: 300_000 });
    // 1: a file changed while it was read (another build running): the archive is still whole.
    assert.ok(tar.code === 0 || tar.code === 1, `tar: ${tar.stderr}`);

    const rootOf = (m: string): string => join(tmp, 'machines', m);
    // One install for all: the machines are one OS here, and the three after the first find the
    // archive installed (unpacking it once instead of four times saves ~1 GB of writes).
    const prefix = join(tmp, 'opt/plexus');
    const hosts = Object.fromEntries(
      Object.values(machines).map((m) => [
        m,
        {
          ansible_connection: 'local',
          ansible_python_interpreter: '/usr/bin/python3',
          ansible_become: false,
          plexus_prefix: prefix,
          plexus_config_dir: join(rootOf(m), 'etc/plexus'),
          plexus_unit_dir: join(rootOf(m), 'etc/systemd/system'),
        },
      ]),
    );
    const inventory = join(tmp, 'inventory.yml');
    await writeFile(inventory, JSON.stringify({ plexus: { hosts } }));
    const vars = join(tmp, 'vars.json');
    await writeFile(
      vars,
      JSON.stringify({
        plexus_plan: plan,
        plexus_install_method: 'archive',
        plexus_archive: archive,
        plexus_user: user,
        plexus_group: user,
        plexus_manage_services: false,
        // One machine at a time: here they share one /etc/passwd (useradd locks it) and one prefix.
        plexus_serial: 1,
      }),
    );
    const playbook = (): Promise<Ran> => run('ansible-playbook', ['-i', inventory, '-e', `@${vars}`, 'site.yml'], { cwd: ANSIBLE_DIR, env: ANSIBLE_ENV, timeoutMs: 900_000 });

    const first = await playbook();
    assert.equal(first.code, 0, `first run failed:\n${failures(first)}`);
    for (const m of Object.values(machines)) assert.ok(recap(first.stdout, m).changed > 0, `${m}: nothing changed on the first run`);

    const uid = Number((await run('id', ['-u', user])).stdout.trim());
    assert.ok(uid > 0, `user ${user} was not created`);
    const manifest = JSON.parse(await readFile(join(tmp, 'net.rendered/manifest.json'), 'utf8')) as { nodes: { name: string; role: string; machine: string; files: string[] }[] };
    assert.deepEqual(manifest.nodes.map((n) => n.role).sort(), [...ROLES].sort());
    for (const node of manifest.nodes) {
      const root = rootOf(node.machine);
      const conf = join(root, 'etc/plexus', node.role);
      // Every rendered file is there; secrets (and files render made 0600) the plexus user's alone.
      for (const file of node.files) {
        const rel = file.slice(node.name.length + 1);
        const rendered = await modeOf(join(tmp, 'net.rendered', file));
        const deployed = await modeOf(join(conf, rel));
        const secret = rel.startsWith('secrets/') || rendered.mode === 0o600;
        assert.deepEqual(deployed, secret ? { mode: 0o600, uid } : { mode: 0o640, uid: 0 }, `${node.name}: ${rel}`);
        assert.equal(await readFile(join(conf, rel), 'utf8'), await readFile(join(tmp, 'net.rendered', file), 'utf8'), `${node.name}: ${rel} differs from the render`);
      }
      assert.deepEqual(await modeOf(join(conf, 'secrets')), { mode: 0o700, uid });
      assert.deepEqual(await modeOf(join(tmp, 'var/lib/plexus', node.name)), { mode: 0o700, uid }, `${node.name}: data dir`);
      // Another account reads none of it.
      const nobody = await run('runuser', ['-u', 'nobody', '--', 'cat', join(conf, 'secrets', (await readdir(join(conf, 'secrets')))[0]!)]);
      assert.notEqual(nobody.code, 0, `${node.name}: nobody could read a secret`);
      // The deployed config is valid as the unit's user reads it, with the deployed plexus.
      const check = await run('runuser', ['-u', user, '--', join(prefix, 'bin/plexus'), 'check-config', '--config', join(conf, 'plexus.yaml')]);
      assert.equal(check.code, 0, `${node.name}: check-config as ${user}: ${check.stdout}${check.stderr}`);
      // The role's unit and its drop-in, as systemd would load them (any warning fails too).
      const unit = join(root, 'etc/systemd/system', `plexus-${node.role}.service`);
      assert.equal(await readFile(unit, 'utf8'), await readFile(join(UNIT_DIR, `plexus-${node.role}.service`), 'utf8'));
      const dropIn = await readFile(join(`${unit}.d`, 'plexus-paths.conf'), 'utf8');
      assert.match(dropIn, new RegExp(`^User=${user}$`, 'm'));
      assert.match(dropIn, new RegExp(`^ReadWritePaths=${join(tmp, 'var/lib/plexus', node.name)}$`, 'm'));
      const verify = await run('systemd-analyze', ['verify', unit]);
      assert.equal(verify.code, 0, `${unit}: ${verify.stderr}`);
      assert.equal(verify.stderr.trim(), '', `${unit}: systemd-analyze verify warned:\n${verify.stderr}`);
    }

    const second = await playbook();
    assert.equal(second.code, 0, `second run failed:\n${failures(second)}`);
    for (const m of Object.values(machines)) assert.equal(recap(second.stdout, m).changed, 0, `${m}: the second run changed something:\n${second.stdout.slice(-6000)}`);
  } finally {
    await run('userdel', [user]).catch(() => undefined);
    await run('groupdel', [user]).catch(() => undefined);
    await removeDir(tmp);
  }
});

test('a machine of the inventory on which the plan puts no node stops the run, naming it', { timeout: 300_000 }, async () => {
  const tmp = await tempDir('plexus-deploy-');
  try {
    const plan = join(tmp, 'one.yaml');
    await writeFile(plan, `network: { name: one, zones: [gateway.tf] }\nmachines:\n  m1: { address: 10.81.0.1 }\nnodes:\n  explorer: { machine: m1, role: explorer }\ndefaults: { dataDir: ${join(tmp, 'data')} }\n`);
    const inventory = join(tmp, 'inventory.yml');
    await writeFile(inventory, JSON.stringify({ plexus: { hosts: { stray: { ansible_connection: 'local', ansible_python_interpreter: '/usr/bin/python3', ansible_become: false } } } }));
    const r = await run('ansible-playbook', ['-i', inventory, '-e', `plexus_plan=${plan}`, '-e', 'plexus_install_method=archive', '-e', `plexus_archive=${join(tmp, 'none.tar')}`, 'site.yml'], {
      cwd: ANSIBLE_DIR,
      env: ANSIBLE_ENV,
      timeoutMs: 240_000,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /machine stray: the plan must place at least one node on it/);
    assert.equal(recap(r.stdout, 'stray').changed, 0);
  } finally {
    await removeDir(tmp);
  }
});
