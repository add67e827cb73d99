import { z } from '@plexus/core';
import { canonicalIp, isHostname, normalizeDomain } from './validation.js';

const zone = z
  .string()
  .transform(normalizeDomain)
  .refine(isHostname, 'expected a domain name such as gateway.tf');

const publicIp = z.string().refine((s) => canonicalIp(s) !== undefined, 'expected an IPv4 or IPv6 address');

/** `plugins.gateway`. */
export const GatewayConfigSchema = z
  .strictObject({
    /** Domains this gateway manages, one Redis hash each (e.g. gateway.tf, threebot.gateway.tf). At least one. */
    zones: z.array(zone).min(1, 'list at least one zone'),
    /** Zone that `domain_tcpservice_*_expose` put names under (`NAME.<threebotDomain>`). Default: the first zone. */
    threebotDomain: zone.optional(),
    /** The gateway's own public addresses; client expose points names at them. Default none (client expose refused). */
    publicIps: z.array(publicIp).default([]),
    /** TTL written into every record, in seconds. Default 300, the CoreDNS redis plugin's default. */
    ttl: z.number().int().min(1).max(2_147_483_647).default(300),
    /** Prepended to each zone hash key, like the redis plugin's `prefix`. Default ''. */
    keyPrefix: z.string().max(128).default(''),
    /** Appended to each zone hash key, like the redis plugin's `suffix`. Default ''. */
    keySuffix: z.string().max(128).default(''),
  })
  .superRefine((c, ctx) => {
    if (new Set(c.zones).size !== c.zones.length) ctx.addIssue({ code: 'custom', path: ['zones'], message: 'zones must not repeat' });
    if (c.threebotDomain !== undefined && !c.zones.includes(c.threebotDomain)) {
      ctx.addIssue({ code: 'custom', path: ['threebotDomain'], message: `must be one of zones (${c.zones.join(', ')})` });
    }
  })
  .transform((c) => ({
    ...c,
    threebotDomain: c.threebotDomain ?? c.zones[0]!,
    publicIps: c.publicIps.map((ip) => canonicalIp(ip)!.ip),
  }));

export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
