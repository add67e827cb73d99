import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { trackProcessGroup, untrackProcessGroup } from './cleanup.js';
import { freePort } from './ports.js';

/**
 * HAProxy as the reference SNI/Host router: our own instance (`haproxy -db`, foreground, a
 * generated config, free loopback ports), never the system service. Layer 4 like ours: `mode tcp`
 * with `tcp-request inspect-delay`, routing TLS by `req.ssl_sni` and HTTP by `req.hdr(host)`.
 */

export interface HaproxyRoutes {
  /** The one routed name. */
  name: string;
  /** Backend ports for the TLS and the HTTP frontend. */
  tlsBackend: number;
  httpBackend: number;
  /** Worker threads (HAProxy's default is one per CPU; 1 compares like for like with one node thread). */
  threads: number;
}

export interface Haproxy {
  tls: number;
  http: number;
  pid: number;
  version: string;
  stop(): Promise<void>;
}

export function haproxyVersion(): string {
  try {
    return /HAProxy version (\S+)/.exec(execFileSync('haproxy', ['-v'], { encoding: 'utf8' }))?.[1] ?? '?';
  } catch {
    throw new Error('haproxy is not installed (apt-get install -y haproxy, or bash scripts/setup.sh --test)');
  }
}

export async function startHaproxy(dir: string, r: HaproxyRoutes): Promise<Haproxy> {
  const version = haproxyVersion();
  const tls = await freePort();
  let http = await freePort();
  while (http === tls) http = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  await writeFile(
    cfg,
    `global
  nbthread ${r.threads}
  maxconn 8192
defaults
  mode tcp
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend tls_in
  bind 127.0.0.1:${tls}
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.ssl_hello_type 1 }
  use_backend tls_out if { req.ssl_sni -i ${r.name} }
frontend http_in
  bind 127.0.0.1:${http}
  tcp-request inspect-delay 5s
  tcp-request content accept if HTTP
  use_backend http_out if { req.hdr(host),field(1,:) -i ${r.name} }
backend tls_out
  server b 127.0.0.1:${r.tlsBackend}
backend http_out
  server b 127.0.0.1:${r.httpBackend}
`,
  );
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', cfg], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  trackProcessGroup(child.pid!);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // gone
    }
    await exited;
    untrackProcessGroup(child.pid!);
  };
  // Ready once both frontends accept; a config error makes it exit instead.
  const deadline = Date.now() + 10_000;
  for (const port of [tls, http]) {
    while (!(await accepts(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`haproxy did not start:\n${stderr}`);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  return { tls, http, pid: child.pid!, version, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
