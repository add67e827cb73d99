import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { PlexusError } from '../errors.js';
import { PLAN_ERRORS } from './errors.js';
import { alive, inNs, nsenter, unmountUnder } from './netns.js';

/**
 * The Docker daemon of a host node under `plexus net up`: started inside the node's namespace so
 * the ports its instances publish are on the node's address, with a bridge, a containerd namespace
 * and roots of its own, leaving the machine's firewall alone (--iptables=false).
 */
export interface NetDockerd {
  node: string;
  pid: number;
  socket: string;
  execRoot: string;
}

/** One Engine API call over the unix socket; resolves with status and parsed body. */
export function dockerApi(socket: string, method: string, path: string, timeoutMs = 10_000): Promise<{ status: number; json: any }> {
  return new Promise((res, rej) => {
    const req = request({ socketPath: socket, method, path, timeout: timeoutMs }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = body;
        }
        res({ status: r.statusCode ?? 0, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
    req.end();
  });
}

export async function startDockerd(opts: { node: string; ns: string; id: string; index: number; runDir: string; log: string }): Promise<NetDockerd> {
  const base = `/run/pxnet-${opts.id}-${opts.node}`;
  const socket = `${base}.sock`;
  const execRoot = `${base}-exec`;
  const dataRoot = join(opts.runDir, 'docker', opts.node);
  await mkdir(dataRoot, { recursive: true, mode: 0o700 });
  const bridge = 'pxdocker0';
  await inNs(opts.ns, ['ip', 'link', 'add', bridge, 'type', 'bridge']);
  await inNs(opts.ns, ['ip', 'addr', 'add', `172.30.${opts.index}.1/24`, 'dev', bridge]);
  await inNs(opts.ns, ['ip', 'link', 'set', bridge, 'up']);
  const config = join(opts.runDir, 'docker', `${opts.node}.json`);
  // An empty config: a daemon.json written for the machine's own daemon must not apply.
  await writeFile(config, '{}\n');
  const args = [
    'dockerd',
    `--host=unix://${socket}`,
    `--data-root=${dataRoot}`,
    `--exec-root=${execRoot}`,
    `--pidfile=${base}.pid`,
    `--config-file=${config}`,
    `--containerd-namespace=pxnet-${opts.id}`,
    `--containerd-plugins-namespace=pxnet-${opts.id}-plugins`,
    `--bridge=${bridge}`,
    '--iptables=false',
    '--ip-forward=false',
    '--log-level=warn',
  ];
  const fd = openSync(opts.log, 'a');
  const argv = nsenter(opts.ns, args);
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const pid = child.pid!;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if ((await dockerApi(socket, 'GET', '/_ping', 2000).catch(() => undefined))?.status === 200) break;
    if (!alive(pid) || Date.now() > deadline) {
      throw new PlexusError(PLAN_ERRORS.ERR_NET, `dockerd for ${opts.node} ${alive(pid) ? 'did not answer within 60 s' : 'exited'}; see ${opts.log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { node: opts.node, pid, socket, execRoot };
}

/** Removes every container of the daemon, stops it and its roots; returns how many containers went. */
export async function stopDockerd(d: NetDockerd): Promise<number> {
  let removed = 0;
  const list = await dockerApi(d.socket, 'GET', '/containers/json?all=1').catch(() => undefined);
  for (const c of Array.isArray(list?.json) ? (list.json as { Id: string }[]) : []) {
    const r = await dockerApi(d.socket, 'DELETE', `/containers/${c.Id}?force=1&v=1`, 30_000).catch(() => undefined);
    if (r !== undefined && r.status < 300) removed++;
  }
  if (alive(d.pid)) process.kill(d.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (alive(d.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(d.pid)) process.kill(d.pid, 'SIGKILL');
  await rm(d.socket, { force: true });
  await unmountUnder(d.execRoot);
  await rm(d.execRoot, { recursive: true, force: true });
  return removed;
}
