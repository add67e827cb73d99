import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, closeSync, openSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/**
 * A Docker daemon and a local image for tests, without any registry.
 *
 * Daemon: a daemon already answering on TEST_SOCKET (started by another test file) is shared; else
 * the machine's own `/var/run/docker.sock` is used when it answers; else (root only) this module
 * starts `dockerd` on TEST_SOCKET with its own data and exec roots, detached in its own session so
 * that killing a test does not kill it. Test files that use it register their pid; `stop()` of
 * the last live user stops it (a killed file's entry is dropped when its pid is gone). Leaving it
 * running would save 1-2 s a file (start ~0.3-1 s, stop ~1-2 s), but a daemon that outlives the
 * suite is a root daemon left on a developer's machine and, in a throw-away root (the
 * fresh-machine check), a daemon running in a directory that is being deleted.
 * PLEXUS_TEST_DOCKERD_KEEP=1 keeps it running (later files and runs reuse it). Everything that
 * decides whether to start, share or stop the daemon runs under an flock, so test files running
 * in parallel (node --test) are safe.
 *
 * Our daemon runs with `--iptables=false --ip-forward=false`: it leaves the machine's firewall
 * and forwarding alone (dockerd otherwise sets the FORWARD policy to DROP); ports published on
 * 127.0.0.1 go through docker-proxy either way. Its default network uses a bridge of its own
 * (`pxt-…`, a free 10.231.x.0/24), not docker0: two daemons on one machine (the machine's and the
 * fresh-machine chroot's, which has its own /run) would otherwise hand out the same addresses on
 * one bridge. Storage: dockerd's own choice (overlay2 where the kernel and the backing filesystem
 * allow, else another driver), or PLEXUS_TEST_DOCKER_STORAGE_DRIVER.
 * Where `/` is not a mount point (a plain chroot) we refuse to start: dockerd cannot import a layer
 * there (it makes `/` rslave: EINVAL), and working around it is unsafe: runc's pivot_root puts the
 * container's root where the chroot is, while `docker exec` (setns) enters at the top of the mount
 * namespace, i.e. in the outer machine's `/`. A root for docker must be the top of its own mount
 * namespace (unshare --mount, rbind, pivot_root), as on a VM.
 */
export const TEST_SOCKET = '/run/plexus-test-docker.sock';
export const SYSTEM_SOCKET = '/var/run/docker.sock';
export const TEST_IMAGE = 'plexus-test/instance:1';

const PIDFILE = '/run/plexus-test-docker.pid';
const DATA_ROOT = '/var/lib/plexus-test-docker';
const EXEC_ROOT = '/run/plexus-test-docker-exec';
const LOCK = '/run/plexus-test-docker.lock';
const USERS = '/run/plexus-test-docker.users';
const CONFIG = '/run/plexus-test-docker.json';
const LOG = '/run/plexus-test-docker.log';
const IMAGE_LOCK = '/run/plexus-test-docker-image.lock';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

export interface DockerResponse {
  status: number;
  body: Buffer;
  text: string;
  /** The body parsed as JSON, when it is. */
  json: any;
}

/** One Engine API call over a unix socket. `body`: an object (sent as JSON) or raw bytes (a tar). */
export async function dockerApi(socket: string, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<DockerResponse> {
  const raw = body === undefined ? undefined : body instanceof Uint8Array ? body : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = {};
  if (raw !== undefined) {
    headers['content-type'] = body instanceof Uint8Array ? 'application/x-tar' : 'application/json';
    headers['content-length'] = raw.length;
  }
  return new Promise((res, rej) => {
    const req = request({ socketPath: socket, method, path, headers, timeout: timeoutMs }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('error', rej);
      r.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        res({ status: r.statusCode ?? 0, body: buf, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`docker ${method} ${path} on ${socket}: no answer in ${timeoutMs} ms`)));
    req.on('error', rej);
    req.end(raw);
  });
}

/** Runs `cmd` in a running container and collects its exit code and output (stdout and stderr together). */
export async function dockerExec(socket: string, id: string, cmd: string[]): Promise<{ exitCode: number; output: string }> {
  const created = await dockerApi(socket, 'POST', `/containers/${id}/exec`, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
  if (created.status !== 201) throw new Error(`exec create in ${id}: ${created.status} ${created.text}`);
  // Without a TTY the stream is multiplexed: frames of [stream, 0, 0, 0, size (u32 BE)] + payload.
  const started = await dockerApi(socket, 'POST', `/exec/${created.json.Id}/start`, { Detach: false, Tty: false });
  if (started.status !== 200) throw new Error(`exec start in ${id}: ${started.status} ${started.text}`);
  const buf = started.body;
  let output = '';
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    output += buf.subarray(i + 8, i + 8 + size).toString();
    i += 8 + size;
  }
  const inspected = await dockerApi(socket, 'GET', `/exec/${created.json.Id}/json`);
  return { exitCode: inspected.json.ExitCode, output };
}

async function ping(socket: string): Promise<boolean> {
  try {
    const r = await dockerApi(socket, 'GET', '/_ping', undefined, 3_000);
    return r.status === 200 && r.text === 'OK';
  } catch {
    return false;
  }
}

function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const d of dirs) {
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * Runs `fn` holding an exclusive flock on `file`. The lock is held by a `flock ... cat` child
 * reading our stdin: when this process ends, even by SIGKILL, the pipe closes and the lock goes.
 */
async function withLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 180_000): Promise<T> {
  if (findTool('flock') === undefined) throw new Error('flock is missing: apt-get install -y util-linux');
  const holder = spawn('flock', ['--exclusive', '--timeout', String(Math.ceil(timeoutMs / 1000)), file, 'sh', '-c', 'echo locked && exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => holder.on('exit', (code) => r(code)));
  let stderr = '';
  holder.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const locked = await new Promise<boolean>((res, rej) => {
    holder.on('error', rej);
    holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && res(true));
    void exited.then(() => res(false));
  });
  if (!locked) throw new Error(`could not lock ${file} within ${timeoutMs} ms (held by another test process?) ${stderr}`);
  try {
    return await fn();
  } finally {
    holder.stdin!.end();
    await exited;
  }
}

/** Waits for `cond` (polled every `everyMs`) until `timeoutMs`; returns whether it came true. */
async function until(cond: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Alive and not a zombie (a zombie answers kill(0) until its parent reaps it). */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return !/^\d+ \(.*\) Z/.test(stat);
}

async function commOf(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

async function pidFromFile(): Promise<number | undefined> {
  const n = Number.parseInt(await readFile(PIDFILE, 'utf8').catch(() => ''), 10);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** pids of test processes using our daemon; drops the entries of processes that are gone. */
async function liveUsers(): Promise<number[]> {
  await mkdir(USERS, { recursive: true });
  const live: number[] = [];
  for (const f of await readdir(USERS)) {
    const pid = Number(f);
    if (Number.isInteger(pid) && (await alive(pid))) live.push(pid);
    else await rm(join(USERS, f), { force: true });
  }
  return live;
}

/** Stops the dockerd of PIDFILE if it is one (SIGTERM, then SIGKILL after STOP_TIMEOUT_MS). */
async function stopOurDaemon(): Promise<void> {
  const pid = await pidFromFile();
  if (pid === undefined || !(await alive(pid)) || (await commOf(pid)) !== 'dockerd') return;
  process.kill(pid, 'SIGTERM');
  if (!(await until(async () => !(await alive(pid)), STOP_TIMEOUT_MS))) {
    process.kill(pid, 'SIGKILL');
    await until(async () => !(await alive(pid)), 5_000);
  }
  await ip('link', 'del', await bridgeName()).catch(() => undefined);
}

async function rootIsMountPoint(): Promise<boolean> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return mountinfo.split('\n').some((l) => l.split(' ')[4] === '/');
}

/** The bridge of our daemon, named after this root (a chroot gets its own). */
async function bridgeName(): Promise<string> {
  const st = await stat('/');
  return `pxt-${createHash('sha256').update(`${st.dev}:${st.ino}`).digest('hex').slice(0, 8)}`;
}

async function ip(...args: string[]): Promise<string> {
  return (await execFileP('ip', args)).stdout;
}

/** Creates our bridge with a free 10.231.x.1/24 (or keeps the one a killed daemon left). */
async function ensureBridge(name: string): Promise<void> {
  if (findTool('ip') === undefined) throw new Error('ip is missing: apt-get install -y iproute2 (bash scripts/setup.sh --test does it)');
  const existing = await ip('-4', '-o', 'addr', 'show', 'dev', name).catch(() => undefined);
  if (existing?.includes(' inet ')) return;
  if (existing !== undefined) await ip('link', 'del', name);
  const used = new Set(
    Object.values(networkInterfaces())
      .flat()
      .map((a) => a?.address ?? ''),
  );
  const seed = Number.parseInt(name.slice(4, 6), 16);
  for (let k = 0; k < 256; k++) {
    const net = `10.231.${(seed + k) % 256}`;
    if ([...used].some((a) => a.startsWith(`${net}.`))) continue;
    await ip('link', 'add', name, 'type', 'bridge');
    await ip('addr', 'add', `${net}.1/24`, 'dev', name);
    await ip('link', 'set', name, 'up');
    return;
  }
  throw new Error('no free 10.231.x.0/24 for the test daemon bridge');
}

async function logTail(): Promise<string> {
  return (await readFile(LOG, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n');
}

/** Starts our dockerd (caller holds LOCK and has checked that nothing answers on TEST_SOCKET). */
async function startDaemon(): Promise<void> {
  if (!(await rootIsMountPoint())) {
    throw new Error(
      'cannot run dockerd here: / is not a mount point (a plain chroot). Run the tests on a machine or VM, or enter the root the way ' +
        'a container runtime does (unshare --mount; mount --rbind ROOT ROOT; pivot_root), not with chroot alone',
    );
  }
  const dockerd = findTool('dockerd');
  if (dockerd === undefined) throw new Error('dockerd is missing: apt-get install -y docker.io (bash scripts/setup.sh --test does it)');
  for (const t of ['containerd', 'runc', 'docker-proxy']) {
    if (findTool(t) === undefined) throw new Error(`${t} is missing (dockerd needs it): apt-get install -y docker.io (bash scripts/setup.sh --test does it)`);
  }
  // A daemon of ours that does not answer: still starting or shutting down for another file, or hung.
  const old = await pidFromFile();
  if (old !== undefined && (await alive(old))) {
    if ((await commOf(old)) !== 'dockerd') await unlink(PIDFILE).catch(() => undefined); // pid reused
    else if (await until(async () => (await ping(TEST_SOCKET)) || !(await alive(old)), STOP_TIMEOUT_MS)) {
      if (await ping(TEST_SOCKET)) return;
    } else await stopOurDaemon();
  }
  const bridge = await bridgeName();
  await ensureBridge(bridge);
  // An empty config file: a daemon.json written for the machine's own daemon (hosts, data-root) must not apply.
  await writeFile(CONFIG, '{}\n');
  const args = [
    `--host=unix://${TEST_SOCKET}`,
    `--data-root=${DATA_ROOT}`,
    `--exec-root=${EXEC_ROOT}`,
    `--pidfile=${PIDFILE}`,
    `--config-file=${CONFIG}`,
    // Own containerd namespaces: never share containers with a daemon using the system containerd.
    '--containerd-namespace=plexus-test',
    '--containerd-plugins-namespace=plexus-test-plugins',
    `--bridge=${bridge}`,
    '--iptables=false',
    '--ip-forward=false',
    '--log-level=warn',
  ];
  // Applies when we start the daemon; a running one keeps its driver.
  const driver = process.env.PLEXUS_TEST_DOCKER_STORAGE_DRIVER;
  if (driver) args.push(`--storage-driver=${driver}`);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` };
  const log = openSync(LOG, 'w');
  let child: ChildProcess;
  try {
    child = spawn(dockerd, args, { detached: true, stdio: ['ignore', log, log], env });
  } finally {
    closeSync(log);
  }
  let exit: string | undefined;
  child.on('exit', (code, signal) => (exit = `exited (${code ?? signal})`));
  child.on('error', (e) => (exit = e.message));
  child.unref();
  const ok = await until(async () => exit !== undefined || (await ping(TEST_SOCKET)), START_TIMEOUT_MS);
  if (exit !== undefined || !ok) {
    if (exit === undefined) child.kill('SIGKILL');
    throw new Error(`dockerd ${exit ?? `did not answer on ${TEST_SOCKET} within ${START_TIMEOUT_MS} ms`}; its log (${LOG}):\n${await logTail()}`);
  }
}

export interface Dockerd {
  /** The unix socket of the Engine API (for dockerode: `new Docker({ socketPath })`). */
  socket: string;
  /** Releases this file's use of the daemon; the last user stops a daemon we started. Idempotent. */
  stop(): Promise<void>;
}

let shared: { socket: string; refs: number; registered: boolean } | undefined;
let pending: Promise<void> | undefined;

/**
 * A Docker daemon for this test file: ours on TEST_SOCKET (shared with other test files), else the
 * machine's, else a new one of ours. Fails with what to install when it cannot have one.
 */
export async function ensureDockerd(): Promise<Dockerd> {
  while (pending !== undefined) await pending;
  if (shared === undefined) {
    pending = acquire().finally(() => (pending = undefined));
    await pending;
  }
  const s = shared!;
  s.refs++;
  let released = false;
  return {
    socket: s.socket,
    stop: async () => {
      if (released) return;
      released = true;
      if (--s.refs > 0 || !s.registered) return;
      shared = undefined;
      await withLock(LOCK, async () => {
        if (shared !== undefined) return; // this process took the daemon again meanwhile
        await rm(join(USERS, String(process.pid)), { force: true });
        if (process.env.PLEXUS_TEST_DOCKERD_KEEP) return;
        if ((await liveUsers()).length === 0) await stopOurDaemon();
      });
    },
  };
}

async function acquire(): Promise<void> {
  if (process.getuid?.() !== 0) {
    for (const socket of [TEST_SOCKET, SYSTEM_SOCKET]) {
      if (await ping(socket)) {
        shared = { socket, refs: 0, registered: false };
        return;
      }
    }
    throw new Error(`no Docker daemon answers on ${SYSTEM_SOCKET}, and starting one for the tests needs root: run the suite as root (as CI does) or start docker (apt-get install -y docker.io)`);
  }
  await withLock(LOCK, async () => {
    await liveUsers();
    if (!(await ping(TEST_SOCKET))) {
      if (await ping(SYSTEM_SOCKET)) {
        shared = { socket: SYSTEM_SOCKET, refs: 0, registered: false };
        return;
      }
      await startDaemon();
      // Containers left by test processes that were killed (stopped when their daemon stopped).
      await dockerApi(TEST_SOCKET, 'POST', '/containers/prune');
    }
    await writeFile(join(USERS, String(process.pid)), '');
    shared = { socket: TEST_SOCKET, refs: 0, registered: true };
  });
}

// ---- the test image -------------------------------------------------------------------------

/**
 * The instance's entrypoint: a stand-in for a tenant's contract instance. It writes only to /tmp
 * (a tmpfs) and /data (a bind mount), so it runs with a read-only root. USER_PORT (default 8080)
 * serves `instance NAME ok` + /data/config.json at `/`, the live /data/config.json at
 * `/config.json`, and the number of starts seen in /data at `/starts`; PEER_PORT (if set) serves
 * `peer NAME ok`. SIGTERM stops it at once (sh as pid 1 needs the trap, httpd has no handler).
 */
const ENTRYPOINT = `#!/bin/sh
USER_PORT=\${USER_PORT:-8080}
PEER_PORT=\${PEER_PORT:-}
INSTANCE_NAME=\${INSTANCE_NAME:-instance}
www=/tmp/www
mkdir -p $www/user $www/peer || exit 1
starts=0
if [ -d /data ]; then
  starts=$(( $(cat /data/starts 2>/dev/null || echo 0) + 1 ))
  echo $starts > /data/starts 2>/dev/null || echo "warning: /data is not writable" >&2
fi
{ echo "instance $INSTANCE_NAME ok"; if [ -f /data/config.json ]; then cat /data/config.json; fi; } > $www/user/index.html
ln -s /data/config.json $www/user/config.json
echo $starts > $www/user/starts
echo "peer $INSTANCE_NAME ok" > $www/peer/index.html
httpd -f -p "$USER_PORT" -h $www/user &
user=$!
peer=
if [ -n "$PEER_PORT" ]; then httpd -f -p "$PEER_PORT" -h $www/peer & peer=$!; fi
trap 'kill $user $peer 2>/dev/null; exit 0' TERM INT
echo "instance $INSTANCE_NAME serving on $USER_PORT\${PEER_PORT:+, peer on $PEER_PORT}"
wait $user
`;

const APPLETS = ['sh', 'ash', 'cat', 'echo', 'env', 'mkdir', 'ln', 'ls', 'rm', 'cp', 'mv', 'touch', 'sleep', 'kill', 'ps', 'id', 'httpd', 'nc', 'wget', 'printf', 'test', '[', 'grep', 'sed', 'head', 'tail', 'wc', 'true', 'false', 'date', 'hostname', 'df', 'mount', 'uname', 'timeout'];

interface TarEntry {
  name: string;
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  data?: Buffer;
  target?: string;
}

/** A deterministic ustar archive (fixed mtime, uid 0), so that its hash names the image content. */
function tar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    const data = e.data ?? Buffer.alloc(0);
    const field = (off: number, len: number, s: string): void => void h.write(s, off, len, 'utf8');
    const octal = (off: number, len: number, n: number): void => field(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
    field(0, 100, e.name);
    octal(100, 8, e.mode);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, e.type === 'file' ? data.length : 0);
    octal(136, 12, 1_700_000_000);
    field(148, 8, '        ');
    field(156, 1, e.type === 'dir' ? '5' : e.type === 'symlink' ? '2' : '0');
    if (e.target !== undefined) field(157, 100, e.target);
    field(257, 8, 'ustar\u000000');
    let sum = 0;
    for (const b of h) sum += b;
    field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    blocks.push(h);
    if (e.type === 'file') blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Whether an ELF64 little-endian binary names a dynamic loader (has a PT_INTERP program header). */
function hasInterpreter(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const size = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  for (let i = 0; i < count; i++) if (elf.readUInt32LE(phoff + i * size) === 3) return true;
  return false;
}

async function imageTar(): Promise<Buffer> {
  const busybox = await readFile('/bin/busybox').catch(() => {
    throw new Error('/bin/busybox is missing: apt-get install -y busybox-static (bash scripts/setup.sh --test does it)');
  });
  // A dynamically linked busybox (Debian's `busybox` package) would not run in an empty root.
  if (hasInterpreter(busybox)) throw new Error('/bin/busybox is not static: apt-get install -y busybox-static (bash scripts/setup.sh --test does it)');
  const dirs = ['bin', 'etc', 'data', 'dev', 'proc', 'sys', 'tmp'];
  return tar([
    ...dirs.map((d): TarEntry => ({ name: `${d}/`, type: 'dir', mode: d === 'tmp' ? 0o1777 : 0o755 })),
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: busybox },
    ...APPLETS.map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', mode: 0o777, target: 'busybox' })),
    { name: 'bin/instance', type: 'file', mode: 0o755, data: Buffer.from(ENTRYPOINT) },
    { name: 'etc/passwd', type: 'file', mode: 0o644, data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { name: 'etc/group', type: 'file', mode: 0o644, data: Buffer.from('root:x:0:\n') },
    // Lets a test check that `docker exec` runs inside the container before it writes anything.
    { name: 'etc/plexus-test-image', type: 'file', mode: 0o644, data: Buffer.from('plexus test instance\n') },
  ]);
}

const HASH_LABEL = 'org.plexus.test-image.hash';

async function imageHash(socket: string, image: string): Promise<string | undefined> {
  const r = await dockerApi(socket, 'GET', `/images/${encodeURIComponent(image)}/json`);
  return r.status === 200 ? (r.json?.Config?.Labels?.[HASH_LABEL] as string | undefined) : undefined;
}

/**
 * Makes the local image TEST_IMAGE (once; a later call with the same content is a cheap inspect)
 * from /bin/busybox, imported through the Engine API: no registry, no docker CLI. Its default
 * command is the instance entrypoint above. Returns the image name.
 */
export async function ensureTestImage(socket: string): Promise<string> {
  const content = await imageTar();
  const changes = ['ENV PATH=/bin', 'WORKDIR /', 'CMD ["/bin/instance"]'];
  const hash = createHash('sha256').update(content).update(JSON.stringify(changes)).digest('hex').slice(0, 16);
  if ((await imageHash(socket, TEST_IMAGE)) === hash) return TEST_IMAGE;
  const make = async (): Promise<string> => {
    if ((await imageHash(socket, TEST_IMAGE)) === hash) return TEST_IMAGE;
    const [repo, tag] = TEST_IMAGE.split(':') as [string, string];
    const q = new URLSearchParams({ fromSrc: '-', repo, tag });
    for (const c of [...changes, `LABEL ${HASH_LABEL}=${hash}`]) q.append('changes', c);
    const r = await dockerApi(socket, 'POST', `/images/create?${q}`, content, 120_000);
    // Errors after the headers come as {"errorDetail":...} lines in a 200 response.
    if (r.status !== 200 || /"errorDetail"/.test(r.text)) throw new Error(`importing ${TEST_IMAGE}: ${r.status} ${r.text}`);
    const got = await imageHash(socket, TEST_IMAGE);
    if (got !== hash) throw new Error(`importing ${TEST_IMAGE}: the image has label ${got}, expected ${hash}: ${r.text}`);
    return TEST_IMAGE;
  };
  // Locking needs root (/run); without root two racing imports are harmless, the tag ends on one of them.
  return process.getuid?.() === 0 ? withLock(IMAGE_LOCK, make) : make();
}
