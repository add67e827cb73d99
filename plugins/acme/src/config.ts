import { isHostname, normalizeName, parseHostPort, z } from '@plexus/core';

/** Defaults of the `acme` block, beside the schema (README lists them). */
export const ACME_DEFAULTS = {
  challenge: 'dns-01',
  renewBeforeDays: 30,
  jitterSeconds: 3600,
  retryMinSeconds: 60,
  retryMaxSeconds: 6 * 3600,
  propagationTimeoutSeconds: 120,
  http01TtlSeconds: 600,
  hookTimeoutSeconds: 60,
  serveIssue: false,
} as const;

export const CHALLENGES = ['dns-01', 'http-01'] as const;
export type ChallengeType = (typeof CHALLENGES)[number];

/** A name a certificate may carry: a host name, or `*.` and one (wildcards need DNS-01). */
export function isCertName(name: string): boolean {
  const n = normalizeName(name);
  return n.length <= 253 && isHostname(n.startsWith('*.') ? n.slice(2) : n) && !n.slice(2).includes('*');
}

export const certNameSchema = z
  .string()
  .max(254)
  .transform(normalizeName)
  .refine(isCertName, "expected a DNS name such as host1.gateway.tf, or '*.' and one");

const CertificateSchema = z
  .strictObject({
    /** Names on the certificate, the first one names its directory. Wildcards need DNS-01. */
    names: z.array(certNameSchema).min(1).max(100),
    /** Overrides `challenge` for this certificate. */
    challenge: z.enum(CHALLENGES).optional(),
  })
  .refine((c) => new Set(c.names).size === c.names.length, { message: 'names repeat', path: ['names'] });

export const AcmeConfigSchema = z
  .strictObject({
    /** ACME directory URL (Let's Encrypt, its staging, or a test CA such as pebble). Required. */
    directory: z.url({ protocol: /^https?$/ }),
    /** Contact address given to the CA with the account. */
    email: z.email().optional(),
    /**
     * PEM file with the root(s) that sign the ACME server's own HTTPS certificate, for a private CA
     * (pebble); trusted besides the system's roots. Relative to the config file.
     */
    caCertFile: z.string().min(1).optional(),
    /** How the CA checks control of a name. Default `dns-01`. */
    challenge: z.enum(CHALLENGES).default(ACME_DEFAULTS.challenge),
    /** The certificates this node keeps current. Default none. */
    certificates: z.array(CertificateSchema).max(1000).default(() => []),
    /** Renew this many days before expiry, at most a third of the lifetime before it. Default 30. */
    renewBeforeDays: z.number().positive().max(365).default(ACME_DEFAULTS.renewBeforeDays),
    /** Renewals start up to this much earlier, at random, so nodes do not hit the CA together. Default 3600. */
    jitterSeconds: z.number().int().min(0).max(86_400).default(ACME_DEFAULTS.jitterSeconds),
    /** First wait after a failed attempt; doubles each failure up to `retryMaxSeconds`. Default 60. */
    retryMinSeconds: z.number().int().min(1).max(86_400).default(ACME_DEFAULTS.retryMinSeconds),
    /** Longest wait between failed attempts. Default 21600 (6 h). */
    retryMaxSeconds: z.number().int().min(1).max(7 * 86_400).default(ACME_DEFAULTS.retryMaxSeconds),
    /**
     * DNS-01: `host:port` of every DNS node that must answer the TXT record before the CA is asked
     * to validate. Default none: the CA is asked at once (fine when the gateway's own store serves DNS).
     */
    dnsServers: z
      .array(z.string().refine((v) => parseHostPort(v, true) !== undefined, { message: 'expected IP:PORT of a DNS server, e.g. 192.0.2.53:53' }))
      .max(32)
      .default(() => []),
    /** DNS-01: how long to wait for every `dnsServers` entry to answer. Default 120. */
    propagationTimeoutSeconds: z.number().int().min(1).max(3600).default(ACME_DEFAULTS.propagationTimeoutSeconds),
    /** DNS-01: multiaddr of the gateway that writes the TXT records. Default: `node.explorer`. */
    gateway: z.string().min(1).max(512).optional(),
    /** HTTP-01: lifetime of a key authorization in the store, after which routers stop answering it. Default 600. */
    http01TtlSeconds: z.number().int().min(30).max(86_400).default(ACME_DEFAULTS.http01TtlSeconds),
    /** Runs after each new certificate (execFile, no shell); env carries the paths. Failure is logged, not fatal. */
    onRenew: z
      .strictObject({
        command: z.array(z.string().min(1)).min(1).max(64),
        timeoutSeconds: z.number().int().min(1).max(3600).default(ACME_DEFAULTS.hookTimeoutSeconds),
      })
      .optional(),
    /**
     * Serve `cert_issue` (`/plexus/acme/1`) so names' owners get certificates for their CSRs. Needs
     * the gateway (and for HTTP-01 the store master) on this node. Default false.
     */
    serveIssue: z.boolean().default(ACME_DEFAULTS.serveIssue),
  })
  .refine((c) => c.retryMinSeconds <= c.retryMaxSeconds, { message: 'must not exceed retryMaxSeconds', path: ['retryMinSeconds'] })
  .superRefine((c, ctx) => {
    c.certificates.forEach((cert, i) => {
      if ((cert.challenge ?? c.challenge) === 'http-01' && cert.names?.some((n) => n.startsWith('*.'))) {
        ctx.addIssue({ code: 'custom', message: 'wildcard names need the dns-01 challenge', path: ['certificates', i, 'names'] });
      }
    });
    // Refinements run on partly invalid input too: a certificate without names is reported by its own schema.
    const ids = c.certificates.map((cert) => (cert.names?.[0] === undefined ? undefined : certId(cert.names[0])));
    ids.forEach((id, i) => {
      if (id !== undefined && ids.indexOf(id) !== i) ctx.addIssue({ code: 'custom', message: `a certificate whose first name is '${c.certificates[i]!.names[0]}' is already listed`, path: ['certificates', i, 'names', 0] });
    });
  });

export type AcmeConfig = z.output<typeof AcmeConfigSchema>;

/** Directory name of a certificate under `<dataDir>/certs/`: its first name, `*.` spelled `_wildcard.`. */
export function certId(firstName: string): string {
  return firstName.startsWith('*.') ? `_wildcard.${firstName.slice(2)}` : firstName;
}
