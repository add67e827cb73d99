import { DEFAULT_HTTP_PORT, DEFAULT_TLS_PORT, DEFAULT_TUNNEL_PORT, ipSchema, isHostname, listenAddressSchema, normalizeName, portSchema, z } from '@plexus/core';

/** Defaults of the `tcprouter` block, next to the schema that applies them (the README lists the same). */
export const TCPROUTER_DEFAULTS = {
  listen: { http: '0.0.0.0:80', tls: '0.0.0.0:443', clients: `0.0.0.0:${DEFAULT_TUNNEL_PORT}` },
  limits: {
    /** Open connections per port, peeking and relayed alike (each relayed one holds two sockets). */
    maxConnections: 8192,
    /** Open connections per port from one host (IPv4 address or IPv6 /64). */
    maxPerIp: 256,
    /** The whole ClientHello / HTTP header must arrive within this long of the accept. */
    peekTimeoutMs: 5_000,
    /** Bytes read before a name is known: a ClientHello reassembled across segments, or an HTTP header. */
    maxPeekBytes: 16_384,
    /** The backend must accept within this long. */
    connectTimeoutMs: 5_000,
    /** A relayed connection with no byte in either direction for this long is closed. */
    idleTimeoutMs: 300_000,
  },
  tunnel: {
    /** Connections on the clients port, sessions and handshakes in progress together. */
    maxSessions: 4_096,
    /** Of those, from one host (IPv4 address or IPv6 /64): a NAT may hide many tunnel clients. */
    maxPerIp: 128,
    /**
     * Connections that have not finished their handshake yet. When full, the oldest is dropped for
     * the newcomer: a real client sends its handshake at once, so idle floods cannot lock it out.
     */
    maxHandshaking: 512,
    /** Sessions kept per secret (one per tunnel client and router is normal; several are spread over). */
    maxSessionsPerSecret: 16,
    /** Streams (tunnelled connections) open at once in one session; past it the next session is used. */
    maxStreamsPerSession: 1_024,
    /** The handshake (stream 1: 0x11 0x11, length, secret) must arrive within this long of the accept. */
    handshakeTimeoutMs: 10_000,
    /** Ping every session this often; one unanswered for pingTimeoutMs ends it (dead client dropped). */
    pingIntervalMs: 30_000,
    pingTimeoutMs: 10_000,
    /** Largest receive window a tunnelled stream grows to while it is fast (memory bound per stream). */
    maxStreamWindowBytes: 8 * 1024 * 1024,
  },
} as const;

/** A route to an IP: `addr` and the backend ports the HTTP and TLS listeners connect to. */
const routeSchema = z.strictObject({
  /** Backend IP (IPv4 or IPv6). */
  addr: ipSchema,
  /** Backend port for connections to the HTTP listener. Default 80. */
  httpPort: portSchema.default(DEFAULT_HTTP_PORT),
  /** Backend port for connections to the TLS listener. Default 443. */
  tlsPort: portSchema.default(DEFAULT_TLS_PORT),
});

/** A configured route, defaults applied. */
export type StaticRouteConfig = z.output<typeof routeSchema>;

const limitsSchema = z.strictObject({
  maxConnections: z.number().int().min(1).max(1_000_000).default(TCPROUTER_DEFAULTS.limits.maxConnections),
  maxPerIp: z.number().int().min(1).max(1_000_000).default(TCPROUTER_DEFAULTS.limits.maxPerIp),
  peekTimeoutMs: z.number().int().min(100).max(120_000).default(TCPROUTER_DEFAULTS.limits.peekTimeoutMs),
  // A post-quantum ClientHello is ~2 KB; below 4 KB real browsers would be refused.
  maxPeekBytes: z.number().int().min(4_096).max(65_536).default(TCPROUTER_DEFAULTS.limits.maxPeekBytes),
  connectTimeoutMs: z.number().int().min(100).max(120_000).default(TCPROUTER_DEFAULTS.limits.connectTimeoutMs),
  idleTimeoutMs: z.number().int().min(1_000).max(86_400_000).default(TCPROUTER_DEFAULTS.limits.idleTimeoutMs),
});

const T = TCPROUTER_DEFAULTS.tunnel;
const tunnelSchema = z.strictObject({
  maxSessions: z.number().int().min(1).max(1_000_000).default(T.maxSessions),
  maxPerIp: z.number().int().min(1).max(1_000_000).default(T.maxPerIp),
  maxHandshaking: z.number().int().min(1).max(1_000_000).default(T.maxHandshaking),
  maxSessionsPerSecret: z.number().int().min(1).max(1_024).default(T.maxSessionsPerSecret),
  maxStreamsPerSession: z.number().int().min(1).max(65_536).default(T.maxStreamsPerSession),
  handshakeTimeoutMs: z.number().int().min(100).max(120_000).default(T.handshakeTimeoutMs),
  pingIntervalMs: z.number().int().min(100).max(3_600_000).default(T.pingIntervalMs),
  pingTimeoutMs: z.number().int().min(100).max(600_000).default(T.pingTimeoutMs),
  maxStreamWindowBytes: z.number().int().min(256 * 1024).max(64 * 1024 * 1024).default(T.maxStreamWindowBytes),
});

/**
 * `plugins.tcprouter`. Strict: unknown keys are errors. Route names are matched the way SNI and
 * Host are looked up: lowercased, without a trailing dot.
 */
export const TcprouterConfigSchema = z
  .strictObject({
    /**
     * `IP:PORT` of the two public listeners: `http` routes by the `Host:` header, `tls` by the SNI of
     * the ClientHello. Defaults `0.0.0.0:80` and `0.0.0.0:443` (port 0: any free port, for tests).
     */
    listen: z
      .strictObject({
        http: listenAddressSchema.default(TCPROUTER_DEFAULTS.listen.http),
        tls: listenAddressSchema.default(TCPROUTER_DEFAULTS.listen.tls),
        /** Where tunnel clients (`plexus tunnel`, the original `trc`) connect: yamux + the 0x11 0x11 handshake. */
        clients: listenAddressSchema.default(TCPROUTER_DEFAULTS.listen.clients),
      })
      .prefault({}),
    /** Routes of the operator, looked up before the store's: name → `{addr, httpPort, tlsPort}`. Default `{}`. */
    routes: z
      .record(z.string().max(254).refine((n) => isHostname(normalizeName(n)), 'expected a host name such as www.example.org'), routeSchema)
      .default(() => ({}))
      .transform((routes) => new Map(Object.entries(routes).map(([name, r]) => [normalizeName(name), r]))),
    /** Where names without a static or store route go (the original's `CATCH_ALL`). Default: none, they are closed. */
    catchAll: routeSchema.optional(),
    /** Limits of every port; see TCPROUTER_DEFAULTS. */
    limits: limitsSchema.prefault({}),
    /** Limits and timers of the clients port and its tunnel sessions; see TCPROUTER_DEFAULTS.tunnel. */
    tunnel: tunnelSchema.prefault({}),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, string>();
    for (const k of ['http', 'tls', 'clients'] as const) {
      const a = c.listen[k];
      const other = seen.get(a);
      if (other !== undefined && !a.endsWith(':0')) ctx.addIssue({ code: 'custom', path: ['listen', k], message: `the ${k} and ${other} listeners cannot share ${a}` });
      seen.set(a, k);
    }
  });

/** The validated block, defaults applied: what `ctx.config` holds. `routes` is a Map by normalized name. */
export type TcprouterConfig = z.output<typeof TcprouterConfigSchema>;

/** The limits every port applies. */
export type RouterLimits = TcprouterConfig['limits'];

/** The limits and timers of the clients port. */
export type TunnelLimits = TcprouterConfig['tunnel'];
