import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { trackProcessGroup, untrackProcessGroup } from './cleanup.js';
import { freePort } from './ports.js';
import { childPids } from './proc.js';

/**
 * `ssh -R` as the reference reverse tunnel: our own sshd (`/usr/sbin/sshd -D -e -f CONFIG`, a temp
 * host key, a temp authorized key, a free loopback port; never the system service) and one
 * `ssh -N -R 127.0.0.1:PUB:127.0.0.1:LOCAL ...` per benchmark carrying every forward. Default
 * ciphers; the negotiated one is read from a separate `ssh -v ... true` login.
 */
const SSHD = '/usr/sbin/sshd';
const PRIVSEP_DIR = '/run/sshd';
const run = promisify(execFile);

export interface SshTunnel {
  /** Public (remote-forwarded) port for each local port given. */
  publicPort: Map<number, number>;
  sshdPid: number;
  sshPid: number;
  version: string;
  /** e.g. `chacha20-poly1305@openssh.com MAC: <implicit>`. */
  cipher: string;
  /** The per-connection sshd processes of the session (children of the listener). */
  sessionPids(): number[];
  stop(): Promise<void>;
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

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of childPids(pid)) out.push(c, ...descendants(c));
  return out;
}

function tail(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (text = (text + d).slice(-4000)));
  return () => text;
}

async function killGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // gone
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  }
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // empty group
  }
  untrackProcessGroup(child.pid!);
}

export async function startSshTunnel(dir: string, localPorts: number[]): Promise<SshTunnel> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing (apt-get install -y openssh-server)`);
  // sshd refuses to start without its privilege-separation directory; the Debian service creates it
  // at boot, a machine where the service never ran has none. Created here, removed again at exit.
  let madePrivsep = false;
  if (!existsSync(PRIVSEP_DIR)) {
    mkdirSync(PRIVSEP_DIR, { mode: 0o755 });
    madePrivsep = true;
    process.once('exit', () => {
      try {
        rmdirSync(PRIVSEP_DIR);
      } catch {
        // not empty or gone: leave it
      }
    });
  }
  const sshDir = join(dir, 'ssh');
  mkdirSync(sshDir);
  const hostKey = join(sshDir, 'host_ed25519');
  const userKey = join(sshDir, 'user_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', userKey]);
  await copyFile(`${userKey}.pub`, join(sshDir, 'authorized_keys'));
  const sshdPort = await freePort();
  const publicPort = new Map<number, number>();
  const taken = new Set([sshdPort, ...localPorts]);
  for (const local of localPorts) {
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    publicPort.set(local, p);
  }
  const cfg = join(sshDir, 'sshd_config');
  await writeFile(
    cfg,
    [
      `Port ${sshdPort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(sshDir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(sshDir, 'authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'AllowTcpForwarding yes',
      'GatewayPorts no',
      'MaxStartups 100',
      '',
    ].join('\n'),
  );
  try {
    await run(SSHD, ['-t', '-f', cfg]);
  } catch (err) {
    throw new Error(`sshd -t rejected the generated config: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  const version = (await run('ssh', ['-V']).then((r) => r.stderr + r.stdout)).trim();

  const sshd = spawn(SSHD, ['-D', '-e', '-f', cfg], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  trackProcessGroup(sshd.pid!);
  const sshdTail = tail(sshd);
  let ssh: ChildProcess | undefined;
  const sessions = new Set<number>();
  const stop = async (): Promise<void> => {
    if (ssh !== undefined) await killGroup(ssh);
    await killGroup(sshd);
    // The session processes are their own process groups (sshd calls setsid): kill what is left.
    for (const pid of sessions) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone with the client
      }
      untrackProcessGroup(pid);
    }
    if (madePrivsep) {
      try {
        rmdirSync(PRIVSEP_DIR);
        madePrivsep = false;
      } catch {
        // another sshd uses it now
      }
    }
  };
  try {
    const deadline = Date.now() + 10_000;
    while (!(await accepts(sshdPort))) {
      if (sshd.exitCode !== null || Date.now() > deadline) throw new Error(`sshd did not start:\n${sshdTail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const common = ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes', '-i', userKey, '-p', String(sshdPort)];
    // The negotiated cipher, from a throwaway login (the tunnel itself runs quiet).
    const probe = await run('ssh', ['-v', ...common, 'root@127.0.0.1', 'true'], { timeout: 20_000 }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`ssh login to our sshd failed: ${err.stderr ?? err.message}\nsshd: ${sshdTail()}`);
    });
    const cipher = /kex: client->server cipher: (\S+) MAC: (\S+)/.exec(probe.stderr);
    const forwards = [...publicPort].flatMap(([local, pub]) => ['-R', `127.0.0.1:${pub}:127.0.0.1:${local}`]);
    ssh = spawn('ssh', ['-N', '-o', 'ExitOnForwardFailure=yes', '-o', 'ServerAliveInterval=0', '-o', 'LogLevel=ERROR', ...common, ...forwards, 'root@127.0.0.1'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    trackProcessGroup(ssh.pid!);
    const sshTail = tail(ssh);
    for (const pub of publicPort.values()) {
      while (!(await accepts(pub))) {
        if (ssh.exitCode !== null || Date.now() > deadline + 10_000) throw new Error(`ssh -R did not open 127.0.0.1:${pub}:\n${sshTail()}\nsshd: ${sshdTail()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const sessionPids = (): number[] => {
      const pids = descendants(sshd.pid!);
      for (const p of pids) {
        if (!sessions.has(p)) {
          sessions.add(p);
          trackProcessGroup(p);
        }
      }
      return pids;
    };
    sessionPids();
    return { publicPort, sshdPid: sshd.pid!, sshPid: ssh.pid!, version, cipher: cipher === null ? '?' : `${cipher[1]} MAC: ${cipher[2]}`, sessionPids, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
