import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PlexusError, generateKeyPair, sealTo, toHex, type InstanceDetails, type LeaseRequest, type LeaseResult, type Logger, type StoreCapability } from '@plexus/core';
import { shareOf, type HostingConfig } from './config.js';
import { DockerHost, HOST_LABEL, LEASE_LABEL } from './docker.js';
import { mountLoopDisk, mountsUnder, unmount } from './disk.js';
import { HOSTING_ERRORS } from './errors.js';
import { USER_PREFIX, createUser, deleteUser, idsOf, ourUsers } from './users.js';

/** How long a new instance must keep running before its lease is granted. */
const START_SETTLE_MS = 300;

/**
 * The host: leases in the store, one container per lease, ports from Sashimono's plan, expiry
 * timers, and reconciliation of containers, disks, directories and users with the lease records
 * at start. Every change goes through one queue, so two requests never race for a slot.
 */

/** A lease as stored (JSON in the host's hash). */
export interface LeaseRecord {
  leaseId: string;
  /** Container and instance name. */
  name: string;
  /** Ed25519 key (hex) of the tenant: only it may extend or terminate. */
  tenant: string;
  image: string;
  contractId: string;
  config: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
  /** `provisioning` until the container runs; a record found so at start was cut short by a crash. */
  state: 'provisioning' | 'running';
  /** Port-plan index: peer port = ports.peer + slot, user port = ports.user + slot. */
  slot: number;
  peerPort: number;
  userPort: number;
  /** Instance public key (hex); the secret is in the instance's /data. */
  pubkey: string;
  /** The per-instance user, when perInstanceUser. */
  user?: string;
}

/** What happened since start (status). */
export interface HostCounters {
  acquired: number;
  extended: number;
  terminated: number;
  expired: number;
  refused: Record<string, number>;
  provisionFailures: number;
  reconcile: { orphanContainers: number; recreated: number; restarted: number; rolledBack: number; expiredAtStart: number; orphanDirs: number };
}

/** Largest timer Node keeps (about 24.8 days); longer leases re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Host {
  readonly docker: DockerHost;
  private readonly leases = new Map<string, LeaseRecord>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Provisionings running outside the queue (stop waits for them). */
  private readonly inflight = new Set<Promise<void>>();
  draining = false;
  private stopped = false;
  readonly counters: HostCounters = {
    acquired: 0,
    extended: 0,
    terminated: 0,
    expired: 0,
    refused: {},
    provisionFailures: 0,
    reconcile: { orphanContainers: 0, recreated: 0, restarted: 0, rolledBack: 0, expiredAtStart: 0, orphanDirs: 0 },
  };
  /** Called after every change of the instance set (the explorer report). */
  onChange: () => void = () => undefined;

  constructor(
    private readonly cfg: HostingConfig,
    private readonly store: StoreCapability,
    /** The host node's peer id: the label on its containers and the key of its lease hash. */
    private readonly hostId: string,
    /** `<plugin data dir>/instances`: one directory per instance. */
    private readonly instancesDir: string,
    private readonly log: Logger,
  ) {
    this.docker = new DockerHost(cfg.docker.socket);
  }

  private get hashKey(): string {
    return `hosting:${this.hostId}:leases`;
  }

  /** Active leases (provisioning or running). */
  get size(): number {
    return this.leases.size;
  }

  list(): LeaseRecord[] {
    return [...this.leases.values()].sort((a, b) => a.slot - b.slot);
  }

  get(nameOrId: string): LeaseRecord | undefined {
    return this.leases.get(nameOrId) ?? [...this.leases.values()].find((l) => l.name === nameOrId);
  }

  /** Loads the leases and brings containers, disks, directories and users in line with them. */
  async start(): Promise<void> {
    await this.docker.ping();
    await mkdir(this.instancesDir, { recursive: true, mode: 0o700 });
    const raw = await this.store.redis.hgetall(this.hashKey);
    for (const [id, json] of Object.entries(raw)) {
      try {
        this.leases.set(id, JSON.parse(json) as LeaseRecord);
      } catch {
        this.log.warn({ lease: id }, 'hosting: an unreadable lease record was dropped');
        await this.store.redis.hdel(this.hashKey, id);
      }
    }
    await this.serial(() => this.reconcile());
  }

  /** Clears timers; instances keep running (they are paid for) and are reconciled at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inflight]);
    await this.queue.catch(() => undefined);
  }

  /**
   * The lease source's handler. Decisions (checks, slot, records, destroys) run one at a time in
   * the queue; the slow part of an acquire — disk, user, container start — runs outside it, so
   * acquires provision in parallel and one slow start holds up nobody else.
   */
  async handle(request: LeaseRequest): Promise<LeaseResult> {
    try {
      switch (request.kind) {
        case 'acquire':
          return await this.acquire(request);
        case 'extend':
          return await this.serial(() => this.extend(request));
        case 'terminate':
          return await this.serial(() => this.terminate(request));
      }
    } catch (err) {
      const code = err instanceof PlexusError ? err.code : 'ERR_INTERNAL';
      this.counters.refused[code] = (this.counters.refused[code] ?? 0) + 1;
      throw err;
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async acquire(r: Extract<LeaseRequest, { kind: 'acquire' }>): Promise<LeaseResult> {
    const { lease, seed } = await this.serial(() => this.reserve(r));
    const done = this.provision(lease, seed, true);
    this.inflight.add(done);
    try {
      await done;
    } catch (err) {
      await this.serial(async () => {
        this.counters.provisionFailures++;
        await this.destroy(lease, 'provisioning failed').catch((e: unknown) => this.log.error({ err: e, lease: lease.leaseId }, 'hosting: cleanup after a failed provisioning failed; the next start finishes it'));
      });
      if (err instanceof PlexusError) throw err;
      throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_PROVISION, `the instance did not start: ${dockerMessage(err)}`, { cause: err, data: { image: r.image } });
    } finally {
      this.inflight.delete(done);
    }
    return this.serial(async () => {
      lease.state = 'running';
      await this.save(lease);
      this.arm(lease);
      this.counters.acquired++;
      this.log.info({ lease: lease.leaseId, name: lease.name, tenant: r.tenant.slice(0, 16), image: r.image, userPort: lease.userPort, expiresAt: new Date(lease.expiresAt).toISOString() }, 'instance up');
      this.onChange();
      const details: InstanceDetails = {
        name: lease.name,
        host: this.cfg.publicHost,
        peerPort: lease.peerPort,
        userPort: lease.userPort,
        contractId: lease.contractId,
        pubkey: lease.pubkey,
        leaseId: lease.leaseId,
        expiresAt: new Date(lease.expiresAt).toISOString(),
      };
      return { kind: 'acquire', leaseId: lease.leaseId, expiresAt: details.expiresAt, instance: sealTo(r.tenant, Buffer.from(JSON.stringify(details))), details };
    });
  }

  /** The checks and the slot of an acquire, and its record (state provisioning). */
  private async reserve(r: Extract<LeaseRequest, { kind: 'acquire' }>): Promise<{ lease: LeaseRecord; seed: Uint8Array }> {
    if (this.draining || this.stopped) throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_DRAINING, 'this host is draining and takes no new leases');
    if (r.durationSeconds > this.cfg.maxLeaseSeconds) {
      throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_LEASE_TOO_LONG, `a lease of ${r.durationSeconds} s is longer than this host allows (${this.cfg.maxLeaseSeconds} s)`, { data: { maxLeaseSeconds: this.cfg.maxLeaseSeconds } });
    }
    if (!this.imageAllowed(r.image)) throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_IMAGE, `image '${r.image}' is not offered by this host`, { data: { image: r.image, offered: this.cfg.images } });
    if (!(await this.docker.imageExists(r.image))) throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_IMAGE, `image '${r.image}' is not present on this host`, { data: { image: r.image } });
    const slot = await this.freeSlot();
    if (slot === undefined) {
      throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_CAPACITY, `this host runs ${this.leases.size} of ${this.cfg.capacity.instances} instances`, { data: { instances: this.cfg.capacity.instances } });
    }
    const leaseId = randomBytes(8).toString('hex');
    const now = Date.now();
    const key = generateKeyPair();
    const lease: LeaseRecord = {
      leaseId,
      name: `sashi-${leaseId}`,
      tenant: r.tenant,
      image: r.image,
      contractId: r.contractId ?? randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'),
      config: r.config,
      createdAt: now,
      expiresAt: now + r.durationSeconds * 1000,
      state: 'provisioning',
      slot,
      peerPort: this.cfg.ports.peer + slot,
      userPort: this.cfg.ports.user + slot,
      pubkey: toHex(key.publicKey),
      ...(this.cfg.perInstanceUser ? { user: `${USER_PREFIX}${leaseId}` } : {}),
    };
    // The record first: a crash from here on leaves something start-up reconciliation finds.
    await this.save(lease);
    return { lease, seed: key.seed };
  }

  private async extend(r: Extract<LeaseRequest, { kind: 'extend' }>): Promise<LeaseResult> {
    const lease = this.ownLease(r.leaseId, r.tenant);
    const expiresAt = Math.max(lease.expiresAt, Date.now()) + r.durationSeconds * 1000;
    if (expiresAt - Date.now() > this.cfg.maxLeaseSeconds * 1000) {
      throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_LEASE_TOO_LONG, `the lease would end more than ${this.cfg.maxLeaseSeconds} s from now`, { data: { maxLeaseSeconds: this.cfg.maxLeaseSeconds, expiresAt: new Date(lease.expiresAt).toISOString() } });
    }
    lease.expiresAt = expiresAt;
    await this.save(lease);
    this.arm(lease);
    this.counters.extended++;
    this.log.info({ lease: lease.leaseId, expiresAt: new Date(expiresAt).toISOString() }, 'lease extended');
    return { kind: 'extend', leaseId: lease.leaseId, expiresAt: new Date(expiresAt).toISOString() };
  }

  private async terminate(r: Extract<LeaseRequest, { kind: 'terminate' }>): Promise<LeaseResult> {
    const lease = this.ownLease(r.leaseId, r.tenant);
    await this.destroy(lease, 'terminated by the tenant');
    this.counters.terminated++;
    this.onChange();
    return { kind: 'terminate', leaseId: lease.leaseId };
  }

  private ownLease(leaseId: string, tenant: string): LeaseRecord {
    const lease = this.leases.get(leaseId);
    if (lease === undefined || lease.state !== 'running') throw new PlexusError('ERR_NOT_FOUND', `no lease ${leaseId} on this host`, { data: { leaseId } });
    if (lease.tenant !== tenant) throw new PlexusError('ERR_FORBIDDEN', `lease ${leaseId} belongs to another key`, { data: { leaseId, tenant: lease.tenant } });
    return lease;
  }

  private imageAllowed(image: string): boolean {
    if (this.cfg.images.length === 0) return true;
    return this.cfg.images.some((p) => (p.endsWith('*') ? image.startsWith(p.slice(0, -1)) : image === p));
  }

  /**
   * The lowest port-plan index no lease holds (freed pairs are reused first) whose two ports no
   * other process holds either: a slot whose port is taken is skipped, not failed on.
   */
  private async freeSlot(): Promise<number | undefined> {
    const used = new Set([...this.leases.values()].map((l) => l.slot));
    if (used.size >= this.cfg.capacity.instances) return undefined;
    for (let i = 0; i < this.cfg.capacity.instances; i++) {
      if (used.has(i)) continue;
      if ((await portFree(this.cfg.bindIp, this.cfg.ports.peer + i)) && (await portFree(this.cfg.bindIp, this.cfg.ports.user + i))) return i;
      this.log.warn({ slot: i, peerPort: this.cfg.ports.peer + i, userPort: this.cfg.ports.user + i }, 'hosting: a port of this slot is held by another process; slot skipped');
    }
    throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_CAPACITY, 'every free slot has a port held by another process; free plugins.hosting.ports ranges', { data: { busySlots: this.cfg.capacity.instances - used.size } });
  }

  private dirOf(lease: LeaseRecord): { root: string; data: string; image: string } {
    const root = join(this.instancesDir, lease.name);
    return { root, data: join(root, 'data'), image: join(root, 'disk.img') };
  }

  /**
   * Directory, disk, user, config, key and container. `fresh`: a new lease (the key is written);
   * otherwise a recreation at start (the disk, if it survived, keeps the tenant's data).
   */
  private async provision(lease: LeaseRecord, seed: Uint8Array | undefined, fresh: boolean): Promise<void> {
    const share = shareOf(this.cfg);
    const dir = this.dirOf(lease);
    await mkdir(dir.data, { recursive: true, mode: 0o700 });
    const mounted = (await mountsUnder(dir.root)).includes(dir.data);
    if (this.cfg.disk === 'loop' && !mounted) {
      if (!fresh) await rm(dir.image, { force: true }); // an unmounted leftover image: start clean
      await mountLoopDisk(dir.image, dir.data, share.diskMb);
    }
    let user: string | undefined;
    if (lease.user !== undefined) {
      const ids = (await ourUsers()).includes(lease.user) ? await idsOf(lease.user) : await createUser(lease.user);
      await chown(dir.data, ids.uid, ids.gid);
      user = `${ids.uid}:${ids.gid}`;
    }
    await writeFile(join(dir.data, 'config.json'), `${JSON.stringify(lease.config, null, 2)}\n`, { mode: 0o600 });
    if (seed !== undefined) await writeFile(join(dir.data, 'instance.key'), `${Buffer.from(seed).toString('hex')}\n`, { mode: 0o600 });
    if (lease.user !== undefined) {
      const ids = await idsOf(lease.user);
      for (const f of ['config.json', 'instance.key']) await chown(join(dir.data, f), ids.uid, ids.gid).catch(() => undefined);
    } else {
      await chmod(dir.data, 0o777); // the image's own user must be able to write its /data
    }
    await this.docker.remove(lease.name); // a half-made container of an earlier attempt
    await this.docker.run({
      name: lease.name,
      image: lease.image,
      cpus: share.cpus,
      memoryMb: share.memoryMb,
      bindIp: this.cfg.bindIp,
      userPort: lease.userPort,
      peerPort: lease.peerPort,
      dataDir: dir.data,
      env: { USER_PORT: String(lease.userPort), PEER_PORT: String(lease.peerPort), INSTANCE_NAME: lease.name, CONTRACT_ID: lease.contractId, LEASE_ID: lease.leaseId },
      labels: { [HOST_LABEL]: this.hostId, [LEASE_LABEL]: lease.leaseId },
      ...(user === undefined ? {} : { user }),
    });
    await this.waitRunning(lease.name);
  }

  /**
   * The container must stay running (a bad command exits at once): seen running for
   * START_SETTLE_MS in a row. Seen running once was not enough — a command that exits at once
   * could still be running at the first look, and its lease was granted.
   */
  private async waitRunning(name: string): Promise<void> {
    const deadline = Date.now() + this.cfg.startTimeoutMs;
    let runningSince: number | undefined;
    for (;;) {
      const info = await this.docker.inspect(name);
      const state = info?.State;
      if (state === undefined) throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_PROVISION, 'the container vanished while starting');
      if (state.Running && !state.Restarting) {
        runningSince ??= Date.now();
        if (Date.now() - runningSince >= START_SETTLE_MS) return;
      } else runningSince = undefined;
      if (state.Status === 'exited' || state.Restarting || state.Status === 'dead') {
        throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_PROVISION, `the instance exited at start (code ${state.ExitCode}${state.Error ? `: ${state.Error}` : ''})`, { data: { exitCode: state.ExitCode } });
      }
      if (Date.now() > deadline) throw new PlexusError(HOSTING_ERRORS.ERR_HOSTING_PROVISION, `the instance did not start within ${this.cfg.startTimeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Container, disk, directory, user and record: all gone, whatever state they were in. */
  private async destroy(lease: LeaseRecord, why: string): Promise<void> {
    clearTimeout(this.timers.get(lease.leaseId));
    this.timers.delete(lease.leaseId);
    const dir = this.dirOf(lease);
    // The container first, and it must go: while it may run, the record stays (retried later).
    await this.docker.remove(lease.name);
    // The rest is best effort, each step on its own: a leftover directory or mount is removed at
    // the next start, and a failure here must not keep the slot taken.
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        this.log.warn({ err, lease: lease.leaseId, step: what }, 'hosting: a cleanup step failed; the next start retries what is left');
      }
    };
    await step('unmount', () => unmount(dir.data));
    await step('remove directory', () => rm(dir.root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
    if (lease.user !== undefined) await step('delete user', () => deleteUser(lease.user!));
    await this.store.redis.hdel(this.hashKey, lease.leaseId);
    this.leases.delete(lease.leaseId);
    this.log.info({ lease: lease.leaseId, name: lease.name, why }, 'instance destroyed');
  }

  private async save(lease: LeaseRecord): Promise<void> {
    this.leases.set(lease.leaseId, lease);
    await this.store.redis.hset(this.hashKey, lease.leaseId, JSON.stringify(lease));
  }

  private arm(lease: LeaseRecord): void {
    clearTimeout(this.timers.get(lease.leaseId));
    if (this.stopped) return;
    const wait = Math.max(0, lease.expiresAt - Date.now());
    const t = setTimeout(() => {
      this.timers.delete(lease.leaseId);
      if (Date.now() < lease.expiresAt) return this.arm(lease); // a long lease: re-armed in steps
      void this.serial(async () => {
        const current = this.leases.get(lease.leaseId);
        if (current === undefined || current.expiresAt > Date.now()) return; // extended meanwhile
        await this.destroy(current, 'lease expired');
        this.counters.expired++;
        this.onChange();
      }).catch((err: unknown) => {
        this.log.error({ err, lease: lease.leaseId }, 'hosting: destroying an expired instance failed; retried in 10 s');
        const retry = setTimeout(() => this.arm(lease), 10_000);
        retry.unref();
        this.timers.set(lease.leaseId, retry);
      });
    }, Math.min(wait, MAX_TIMER_MS));
    t.unref();
    this.timers.set(lease.leaseId, t);
  }

  /**
   * Start-up: every running lease has its container (recreated if missing, started if stopped),
   * expired ones are destroyed, a provisioning cut short by a crash is rolled back (the tenant
   * never got an answer), and containers, instance directories, mounts and users without a lease
   * are removed. Nothing runs that no lease pays for; no live lease is left without its instance.
   * Only this host's things are touched: containers by its label, directories under its data dir.
   */
  private async reconcile(): Promise<void> {
    const rc = this.counters.reconcile;
    const byName = new Map([...this.leases.values()].map((l) => [l.name, l]));
    const containers = await this.docker.list(HOST_LABEL, this.hostId);
    for (const c of containers) {
      if (byName.get(c.name)?.state === 'running') continue;
      await this.docker.remove(c.id);
      if (!byName.has(c.name)) rc.orphanContainers++;
    }
    for (const lease of [...this.leases.values()]) {
      if (lease.state === 'provisioning') {
        rc.rolledBack++;
        await this.destroy(lease, 'provisioning cut short (the node stopped); rolled back');
        continue;
      }
      if (lease.expiresAt <= Date.now()) {
        rc.expiredAtStart++;
        this.counters.expired++;
        await this.destroy(lease, 'lease expired while the node was down');
        continue;
      }
      const c = containers.find((x) => x.name === lease.name);
      try {
        if (c === undefined) {
          rc.recreated++;
          await this.provision(lease, undefined, false);
        } else if (c.state !== 'running') {
          rc.restarted++;
          await this.docker.start(c.id);
          await this.waitRunning(lease.name);
        }
      } catch (err) {
        this.log.error({ err, lease: lease.leaseId }, 'hosting: a running lease could not get its instance back; its container is left for the next start');
      }
      this.arm(lease);
    }
    // Directories, mounts and users nobody's lease owns.
    const names = new Set([...this.leases.values()].map((l) => l.name));
    for (const m of await mountsUnder(this.instancesDir)) {
      const name = m.slice(this.instancesDir.length + 1).split('/')[0]!;
      if (!names.has(name)) await unmount(m);
    }
    for (const entry of await readdir(this.instancesDir).catch(() => [] as string[])) {
      if (names.has(entry)) continue;
      rc.orphanDirs++;
      await rm(join(this.instancesDir, entry), { recursive: true, force: true });
    }
    // Users need no sweep: a lease's record is written before its user is made and deleted after
    // the user is, so a crash anywhere leaves a record, and the rollback above removes the user.
    // (Sweeping every sashipx* user would also take those of another host on this machine.)
    this.log.info({ leases: this.leases.size, ...rc }, 'hosting: instances reconciled with the lease records');
  }
}

/** Whether a TCP port can be bound on `ip` now. */
function portFree(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: ip, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** The Docker daemon's message of an API error (dockerode puts it in `json.message`). */
function dockerMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return e.json?.message ?? e.message ?? String(err);
}
