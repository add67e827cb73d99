import { MAX_TUNNEL_SECRET_BYTES, parseHostPort, z } from '@plexus/core';

/** Defaults of the `tunnel` block, next to the schema that applies them (the README lists the same). */
export const TUNNEL_DEFAULTS = {
  /** Reconnect delays: doubling from initialMs, capped at maxMs, each drawn between half and all of it (jitter). */
  backoff: { initialMs: 100, maxMs: 1_000 },
  /** A router must accept the TCP connection within this long. */
  connectTimeoutMs: 5_000,
  /** Tunnelled connections open at once per router session; the router's next one is refused (RST). */
  maxStreams: 1_024,
  /** Ping each router this often; one unanswered for pingTimeoutMs ends the session and reconnects. */
  pingIntervalMs: 30_000,
  pingTimeoutMs: 10_000,
  /** Largest receive window a tunnelled stream grows to while it is fast. */
  maxStreamWindowBytes: 8 * 1024 * 1024,
} as const;

const hostPort = (what: string) =>
  z.string().refine((v) => parseHostPort(v, false) !== undefined, { message: `expected HOST:PORT ${what}, e.g. 127.0.0.1:80 or [::1]:443` });

/**
 * `plugins.tunnel` (the `trc` equivalent). Strict: unknown keys are errors. The secret comes from
 * `secret`, else `secretFile` (relative to the config file), else `$PLEXUS_TUNNEL_SECRET`.
 */
export const TunnelConfigSchema = z
  .strictObject({
    /** The routers' clients ports (tcprouter `listen.clients`, usually 18000), HOST:PORT; one session each, all kept up. */
    remotes: z.array(hostPort('of a router clients port')).min(1).max(64),
    /** The secret the name was exposed with (`plexus gateway expose --client-secret`). Prefer secretFile. */
    secret: z.string().min(1).max(MAX_TUNNEL_SECRET_BYTES).optional(),
    /** A file holding the secret (one line; trailing newline ignored). */
    secretFile: z.string().min(1).optional(),
    /** Where connections go whose first byte is not 0x16 (plain HTTP, and TLS when localTls is unset). */
    local: hostPort('of the local service'),
    /** Where TLS connections (first byte 0x16) go. Default: `local`. */
    localTls: hostPort('of the local TLS service').optional(),
    backoff: z
      .strictObject({
        initialMs: z.number().int().min(10).max(60_000).default(TUNNEL_DEFAULTS.backoff.initialMs),
        maxMs: z.number().int().min(10).max(600_000).default(TUNNEL_DEFAULTS.backoff.maxMs),
      })
      .prefault({}),
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(TUNNEL_DEFAULTS.connectTimeoutMs),
    maxStreams: z.number().int().min(1).max(65_536).default(TUNNEL_DEFAULTS.maxStreams),
    pingIntervalMs: z.number().int().min(100).max(3_600_000).default(TUNNEL_DEFAULTS.pingIntervalMs),
    pingTimeoutMs: z.number().int().min(100).max(600_000).default(TUNNEL_DEFAULTS.pingTimeoutMs),
    maxStreamWindowBytes: z.number().int().min(256 * 1024).max(64 * 1024 * 1024).default(TUNNEL_DEFAULTS.maxStreamWindowBytes),
  })
  .superRefine((c, ctx) => {
    if (c.secret !== undefined && c.secretFile !== undefined) ctx.addIssue({ code: 'custom', path: ['secretFile'], message: 'set either secret or secretFile, not both' });
    if (c.secret === undefined && c.secretFile === undefined && !process.env.PLEXUS_TUNNEL_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'no tunnel secret: set secret or secretFile, or $PLEXUS_TUNNEL_SECRET' });
    }
    if (c.backoff.maxMs < c.backoff.initialMs) ctx.addIssue({ code: 'custom', path: ['backoff', 'maxMs'], message: 'must be at least backoff.initialMs' });
    const seen = new Set<string>();
    c.remotes.forEach((r, i) => {
      if (seen.has(r)) ctx.addIssue({ code: 'custom', path: ['remotes', i], message: `${r} is listed twice` });
      seen.add(r);
    });
  });

/** The validated block, defaults applied: what `ctx.config` holds. */
export type TunnelConfig = z.output<typeof TunnelConfigSchema>;
