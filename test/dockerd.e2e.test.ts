import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, removeDir, tempDir } from './lib/harness.js';
import { type Dockerd, dockerApi, dockerExec, ensureDockerd, ensureTestImage } from './lib/dockerd.js';

const exec = promisify(execFile);
const MIB = 1024 * 1024;

/** The gap between two polls of a condition. */
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

/** Status and body of GET http://127.0.0.1:port/path, or undefined while nothing answers. */
async function httpGet(port: number, path = '/'): Promise<{ status: number; body: string } | undefined> {
  return new Promise((res) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 2_000 }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
      r.on('error', () => res(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => res(undefined));
    req.end();
  });
}

/**
 * The Docker test infrastructure itself: a daemon (ours or the machine's), the registry-free
 * busybox image, and one instance run the way the hosting plugin runs tenants: resource limits,
 * read-only root, a tmpfs /tmp, a bind-mounted /data and a port published on 127.0.0.1 only.
 */
describe('the test Docker daemon runs an instance with limits, a read-only root and a published port', () => {
  const name = `plexus-dockerd-e2e-${randomBytes(4).toString('hex')}`;
  const config = { tenant: 'alice', plan: 'small', nonce: randomBytes(4).toString('hex') };
  let docker: Dockerd | undefined;
  let image: string;
  let dir: string | undefined;
  let id: string | undefined;
  let userPort: number;
  let peerPort: number;
  let setup = '';

  before(async () => {
    await exec('sh', ['-c', 'command -v curl']).catch(() => {
      throw new Error('curl is missing: apt-get install -y curl (bash scripts/setup.sh --test does it)');
    });
    let t0 = Date.now();
    docker = await ensureDockerd();
    const daemonMs = Date.now() - t0;
    t0 = Date.now();
    image = await ensureTestImage(docker.socket);
    const info = (await dockerApi(docker.socket, 'GET', '/info')).json;
    setup = `docker ${info.ServerVersion} on ${docker.socket}: daemon ready in ${daemonMs} ms, image in ${Date.now() - t0} ms; storage ${info.Driver}, cgroup v${info.CgroupVersion ?? 1} (${info.CgroupDriver})`;
    dir = await tempDir('plexus-dockerd-e2e-');
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    userPort = await freePort();
    peerPort = await freePort();
  });

  after(async () => {
    if (docker !== undefined) {
      // By name: also removes a container whose create call failed after the daemon made it.
      const r = await dockerApi(docker.socket, 'DELETE', `/containers/${name}?force=true&v=true`);
      if (r.status !== 204 && r.status !== 404) console.error(`removing container ${name}: ${r.status} ${r.text}`);
    }
    await docker?.stop();
    if (dir !== undefined) await removeDir(dir);
  });

  test('create, start and answer on the published port', async (t) => {
    t.diagnostic(setup);
    const socket = docker!.socket;
    const t0 = Date.now();
    const created = await dockerApi(socket, 'POST', `/containers/create?name=${name}`, {
      Image: image,
      Env: [`USER_PORT=${userPort}`, `PEER_PORT=${peerPort}`, `INSTANCE_NAME=${name}`],
      ExposedPorts: { [`${userPort}/tcp`]: {}, [`${peerPort}/tcp`]: {} },
      HostConfig: {
        Memory: 64 * MIB,
        NanoCpus: 0.5e9,
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'size=16m' },
        Binds: [`${dir}:/data`],
        PortBindings: {
          [`${userPort}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(userPort) }],
          [`${peerPort}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(peerPort) }],
        },
      },
    });
    assert.equal(created.status, 201, created.text);
    id = created.json.Id as string;
    const started = await dockerApi(socket, 'POST', `/containers/${id}/start`);
    assert.equal(started.status, 204, started.text);

    const deadline = Date.now() + 30_000;
    let answer = await httpGet(userPort);
    while (answer?.status !== 200 && Date.now() < deadline) {
      const state: { Running: boolean; ExitCode: number } | undefined = (await dockerApi(socket, 'GET', `/containers/${id}/json`)).json?.State;
      if (state?.Running === false) {
        const logs = await dockerApi(socket, 'GET', `/containers/${id}/logs?stdout=true&stderr=true`);
        assert.fail(`the instance exited (${state.ExitCode}): ${logs.body.toString('latin1')}`);
      }
      await pause();
      answer = await httpGet(userPort);
    }
    t.diagnostic(`create + start + first HTTP answer: ${Date.now() - t0} ms`);
    assert.equal(answer?.status, 200, 'the instance did not answer on its user port within 30 s');

    const { stdout: index } = await exec('curl', ['-sS', '--fail', '--max-time', '5', `http://127.0.0.1:${userPort}/`]);
    assert.match(index, new RegExp(`^instance ${name} ok\n`));
    assert.ok(index.includes(config.nonce), `the index carries /data/config.json: ${index}`);
    const { stdout: served } = await exec('curl', ['-sS', '--fail', '--max-time', '5', `http://127.0.0.1:${userPort}/config.json`]);
    assert.deepEqual(JSON.parse(served), config);
    const { stdout: peer } = await exec('curl', ['-sS', '--fail', '--max-time', '5', `http://127.0.0.1:${peerPort}/`]);
    assert.equal(peer.trim(), `peer ${name} ok`);
    // /data is the bind mount, written by the instance.
    assert.equal((await readFile(join(dir!, 'starts'), 'utf8')).trim(), '1');
  });

  test('the limits are in the container config and in its cgroup; the root is read-only', async () => {
    assert.ok(id, 'the container was not created');
    const socket = docker!.socket;
    const inspect = (await dockerApi(socket, 'GET', `/containers/${id}/json`)).json;
    assert.equal(inspect.HostConfig.Memory, 64 * MIB);
    assert.equal(inspect.HostConfig.NanoCpus, 0.5e9);
    assert.equal(inspect.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(inspect.HostConfig.Tmpfs, { '/tmp': 'size=16m' });
    assert.deepEqual(inspect.NetworkSettings.Ports[`${userPort}/tcp`], [{ HostIp: '127.0.0.1', HostPort: String(userPort) }]);

    // What the kernel enforces: the container's cgroup, read on the host (inside, a chroot's
    // daemon shows the container the whole hierarchy), v1 controller files or else v2 ones.
    const cgroups = await readFile(`/proc/${inspect.State.Pid}/cgroup`, 'utf8');
    const v1 = (controller: string): string | undefined => cgroups.match(new RegExp(`^\\d+:[^:]*\\b${controller}\\b[^:]*:(.*)$`, 'm'))?.[1];
    const v2 = cgroups.match(/^0::(.*)$/m)?.[1];
    const memV1 = v1('memory');
    const cpuV1 = v1('cpu');
    const memLimit = memV1 !== undefined ? await readFile(`/sys/fs/cgroup/memory${memV1}/memory.limit_in_bytes`, 'utf8') : await readFile(`/sys/fs/cgroup${v2}/memory.max`, 'utf8');
    assert.equal(memLimit.trim(), String(64 * MIB), cgroups);
    const cpuLimit =
      cpuV1 !== undefined
        ? `${(await readFile(`/sys/fs/cgroup/cpu${cpuV1}/cpu.cfs_quota_us`, 'utf8')).trim()} ${(await readFile(`/sys/fs/cgroup/cpu${cpuV1}/cpu.cfs_period_us`, 'utf8')).trim()}`
        : await readFile(`/sys/fs/cgroup${v2}/cpu.max`, 'utf8');
    assert.equal(cpuLimit.trim(), '50000 100000', cgroups);
    // And a process that wants more memory than the limit (and its swap allowance, 2x) is killed.
    const hog = await dockerExec(socket, id, ['sh', '-c', 'head -c 300m /dev/zero | tail']);
    assert.equal(hog.exitCode, 137, `a 300 MiB process was not OOM-killed: ${hog.output}`);

    // exec must run in the container (a daemon in a chroot can put it in the outer root) before it writes.
    const marker = await dockerExec(socket, id, ['cat', '/etc/plexus-test-image']);
    assert.equal(marker.output.trim(), 'plexus test instance', 'docker exec does not run inside the container');
    const ro = await dockerExec(socket, id, ['touch', '/bin/x']);
    assert.notEqual(ro.exitCode, 0, 'writing to the root succeeded');
    assert.match(ro.output, /Read-only file system/);
    const tmp = await dockerExec(socket, id, ['sh', '-c', 'touch /tmp/x && grep " /tmp " /proc/mounts']);
    assert.equal(tmp.exitCode, 0, tmp.output);
    assert.match(tmp.output, /^tmpfs \/tmp tmpfs .*size=16384k/);
  });

  test('stop is prompt (SIGTERM handled by the entrypoint) and a restart keeps /data', async () => {
    assert.ok(id, 'the container was not created');
    const socket = docker!.socket;
    const t0 = Date.now();
    const stopped = await dockerApi(socket, 'POST', `/containers/${id}/stop?t=10`);
    assert.equal(stopped.status, 204, stopped.text);
    assert.ok(Date.now() - t0 < 5_000, `stop took ${Date.now() - t0} ms: the entrypoint ignored SIGTERM`);
    assert.equal((await dockerApi(socket, 'GET', `/containers/${id}/json`)).json.State.ExitCode, 0);
    assert.equal((await dockerApi(socket, 'POST', `/containers/${id}/start`)).status, 204);
    const deadline = Date.now() + 30_000;
    let starts: string | undefined;
    while (Date.now() < deadline && starts !== '2') {
      starts = (await httpGet(userPort, '/starts'))?.body.trim();
      if (starts !== '2') await pause();
    }
    assert.equal(starts, '2');
  });
});
