import { DEFAULT_HTTP_PORT, DEFAULT_TLS_PORT, ipSchema, isHostname, listenAddressSchema, normalizeName, portSchema, z } from '@plexus/core';

/** Defaults of the `tcprouter` block, next to the schema that applies them (the README lists the same). */
export const TCPROUTER_DEFAULTS = {
  listen: { http: '0.0.0.0:80', tls: '0.0.0.0:443' },
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
  })
  .superRefine((c, ctx) => {
    if (c.listen.http === c.listen.tls && !c.listen.http.endsWith(':0')) {
      ctx.addIssue({ code: 'custom', path: ['listen', 'tls'], message: `the TLS and HTTP listeners cannot share ${c.listen.tls}` });
    }
  });

/** The validated block, defaults applied: what `ctx.config` holds. `routes` is a Map by normalized name. */
export type TcprouterConfig = z.output<typeof TcprouterConfigSchema>;

/** The limits every port applies. */
export type RouterLimits = TcprouterConfig['limits'];
