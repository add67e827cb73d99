import { ipSchema, isHostname, normalizeName, portSchema, z } from '@plexus/core';

/** Defaults of the `hosting` block, next to the schema that applies them (the README lists the same). */
export const HOSTING_DEFAULTS = {
  docker: { socket: '/var/run/docker.sock' },
  capacity: { instances: 8, cpus: 4, memoryMb: 8_192, diskMb: 40_960 },
  /** Sashimono's port plan: instance i gets peer port `peer + i` and user port `user + i`. */
  ports: { peer: 22_861, user: 26_201 },
  /** Where published ports listen on the host. */
  bindIp: '0.0.0.0',
  /** Per-instance disk: `loop` — an ext4 image of diskMb/instances mounted as the instance's /data (a hard limit); `dir` — a plain directory, no limit. */
  disk: 'loop',
  perInstanceUser: false,
  /** Longest a lease may run from now (acquire and extend). */
  maxLeaseSeconds: 30 * 24 * 3600,
  /** Images tenants may ask for: exact names, or prefixes ending in `*`. Empty: any image present on the host. */
  images: [] as string[],
  /** How long the container gets to start before the acquire fails. */
  startTimeoutMs: 30_000,
  /** Re-report capacity to the explorer this often even without a change. */
  reportEveryMs: 300_000,
} as const;

const D = HOSTING_DEFAULTS;

const hostSchema = z
  .string()
  .min(1)
  .max(253)
  .refine((h) => ipSchema.safeParse(h).success || isHostname(normalizeName(h)), 'expected the host name or IP tenants reach this machine by');

/** `plugins.hosting`. Strict: unknown keys are errors. */
export const HostingConfigSchema = z
  .strictObject({
    docker: z.strictObject({ socket: z.string().min(1).default(D.docker.socket) }).prefault({}),
    /** What this host rents out in all; each instance gets an equal share (total / instances). */
    capacity: z
      .strictObject({
        instances: z.number().int().min(1).max(1_000).default(D.capacity.instances),
        cpus: z.number().positive().max(1_024).default(D.capacity.cpus),
        memoryMb: z.number().int().min(16).max(16 * 1024 * 1024).default(D.capacity.memoryMb),
        diskMb: z.number().int().min(16).max(1024 * 1024 * 1024).default(D.capacity.diskMb),
      })
      .prefault({}),
    /** First port of each range (Sashimono: peer 22861, user 26201). */
    ports: z.strictObject({ peer: portSchema.default(D.ports.peer), user: portSchema.default(D.ports.user) }).prefault({}),
    /** The name tenants reach instances by (in the lease reply). Required. */
    publicHost: hostSchema,
    bindIp: ipSchema.default(D.bindIp),
    disk: z.enum(['loop', 'dir']).default(D.disk),
    perInstanceUser: z.boolean().default(D.perInstanceUser),
    maxLeaseSeconds: z.number().int().min(60).max(10 * 365 * 24 * 3600).default(D.maxLeaseSeconds),
    images: z.array(z.string().min(1).max(256)).default(() => []),
    startTimeoutMs: z.number().int().min(1_000).max(600_000).default(D.startTimeoutMs),
    reportEveryMs: z.number().int().min(1_000).max(86_400_000).default(D.reportEveryMs),
    /** Multiaddrs tenants dial (in the explorer's host list). Default: the node's listen addresses. */
    announce: z.array(z.string().min(1)).optional(),
  })
  .superRefine((c, ctx) => {
    const n = c.capacity.instances;
    for (const [key, first] of [['peer', c.ports.peer], ['user', c.ports.user]] as const) {
      if (first + n - 1 > 65_535) ctx.addIssue({ code: 'custom', path: ['ports', key], message: `${n} instances from port ${first} run past 65535` });
    }
    const overlap = c.ports.peer < c.ports.user + n && c.ports.user < c.ports.peer + n;
    if (overlap) ctx.addIssue({ code: 'custom', path: ['ports', 'user'], message: `the user ports ${c.ports.user}-${c.ports.user + n - 1} overlap the peer ports ${c.ports.peer}-${c.ports.peer + n - 1}` });
    if (c.capacity.memoryMb / n < 16) ctx.addIssue({ code: 'custom', path: ['capacity', 'memoryMb'], message: `${c.capacity.memoryMb} MB for ${n} instances is under 16 MB each` });
    if (c.disk === 'loop' && c.capacity.diskMb / n < 16) ctx.addIssue({ code: 'custom', path: ['capacity', 'diskMb'], message: `${c.capacity.diskMb} MB for ${n} instances is under 16 MB each (an ext4 image needs more)` });
  });

export type HostingConfig = z.output<typeof HostingConfigSchema>;

/** What one instance gets: the host's capacity divided by `capacity.instances`. */
export function shareOf(c: HostingConfig): { cpus: number; memoryMb: number; diskMb: number } {
  const n = c.capacity.instances;
  return { cpus: Math.floor((c.capacity.cpus / n) * 1000) / 1000, memoryMb: Math.floor(c.capacity.memoryMb / n), diskMb: Math.floor(c.capacity.diskMb / n) };
}
