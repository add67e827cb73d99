import { isIP } from 'node:net';
import { listenAddressSchema, parseHostPort, z } from '@plexus/core';

/** Defaults of `plugins.api`, beside the schema. */
export const API_DEFAULTS = {
  listen: '127.0.0.1:8088',
  defaultPageSize: 50,
  maxPageSize: 500,
  limits: {
    maxConnections: 1024,
    maxPerIp: 64,
    bodyLimitBytes: 16 * 1024,
    requestTimeoutMs: 10_000,
    keepAliveTimeoutMs: 5_000,
    idleTimeoutMs: 60_000,
  },
  events: { maxClients: 100, heartbeatMs: 15_000, replay: 1_000, resyncMs: 600_000, zoneCheckMs: 30_000 },
} as const;

const d = API_DEFAULTS;

/** `plugins.api`. */
export const ApiConfigSchema = z
  .strictObject({
    /** `IP:PORT` the HTTP server binds. Default `127.0.0.1:8088`; any other than loopback needs `token`/`tokenFile`. */
    listen: listenAddressSchema.default(d.listen),
    /**
     * Bearer token for what is not public (node status, `/metrics`, DNS nodes). Unset: those are
     * open, which only a loopback `listen` allows. At least 16 characters.
     */
    token: z.string().min(16).max(512).optional(),
    /** File holding the token (first line), relative to the config file; instead of `token`. */
    tokenFile: z.string().min(1).optional(),
    /** Origins allowed to read the API from a browser page elsewhere (CORS). Default none: CORS off. */
    corsOrigins: z.array(z.url().or(z.literal('*'))).max(64).default([]),
    /** Items per page of a list when the caller gives no `limit`. Default 50. */
    defaultPageSize: z.number().int().min(1).max(1000).default(d.defaultPageSize),
    /** Largest `limit` honoured. Default 500. */
    maxPageSize: z.number().int().min(1).max(10_000).default(d.maxPageSize),
    limits: z
      .strictObject({
        /** Open connections in all (SSE clients included). Default 1024. */
        maxConnections: z.number().int().min(1).max(100_000).default(d.limits.maxConnections),
        /** Open connections from one IP address. Default 64. */
        maxPerIp: z.number().int().min(1).max(100_000).default(d.limits.maxPerIp),
        /** Largest request body; the API reads none, so small. Default 16 KiB. */
        bodyLimitBytes: z.number().int().min(1024).max(1024 * 1024).default(d.limits.bodyLimitBytes),
        /** A request (headers and body) must arrive within this. Default 10 s. */
        requestTimeoutMs: z.number().int().min(100).max(600_000).default(d.limits.requestTimeoutMs),
        /** An idle keep-alive connection is closed after this. Default 5 s. */
        keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(d.limits.keepAliveTimeoutMs),
        /** A connection without a byte either way for this long is closed (SSE heartbeats keep theirs). Default 60 s. */
        idleTimeoutMs: z.number().int().min(1000).max(3_600_000).default(d.limits.idleTimeoutMs),
      })
      .default(() => ({ ...d.limits })),
    events: z
      .strictObject({
        /** `/events` clients at once; one more is answered 503. Default 100. */
        maxClients: z.number().int().min(1).max(10_000).default(d.events.maxClients),
        /** Period of the comment line that keeps proxies from closing a quiet stream. Default 15 s. */
        heartbeatMs: z.number().int().min(1000).max(300_000).default(d.events.heartbeatMs),
        /** Recent events kept for clients that reconnect with `Last-Event-ID`. Default 1000. */
        replay: z.number().int().min(0).max(100_000).default(d.events.replay),
        /** Full re-read of the watched keys (changes that sent no notification). Default 10 min. */
        resyncMs: z.number().int().min(1000).max(86_400_000).default(d.events.resyncMs),
        /**
         * Zone records come from the gateway's change stream, a field read per change; a record
         * written without a stream entry (by hand with redis-cli) is found by a check of every
         * zone hash this often. Default 30 s.
         */
        zoneCheckMs: z.number().int().min(1000).max(86_400_000).default(d.events.zoneCheckMs),
      })
      .default(() => ({ ...d.events })),
  })
  .superRefine((c, ctx) => {
    if (c.token !== undefined && c.tokenFile !== undefined) ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: 'give token or tokenFile, not both' });
    if (c.events.heartbeatMs >= c.limits.idleTimeoutMs) {
      ctx.addIssue({ code: 'custom', path: ['events', 'heartbeatMs'], message: `must be below limits.idleTimeoutMs (${c.limits.idleTimeoutMs}), or quiet event streams are closed as idle` });
    }
    if (c.token === undefined && c.tokenFile === undefined && !isLoopback(c.listen)) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: `listen ${c.listen} is not loopback: set token (or tokenFile) so status and metrics are not open to the network` });
    }
  });

export type ApiConfig = z.output<typeof ApiConfigSchema>;

/** Whether `listen` binds a loopback address only (127.0.0.0/8 or ::1). */
export function isLoopback(listen: string): boolean {
  const host = parseHostPort(listen, true, true)?.host ?? '';
  return isIP(host) === 4 ? host.startsWith('127.') : host === '::1';
}
