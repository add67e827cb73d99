import { DEFAULT_TTL, domainNameSchema, ipSchema, ttlSchema, z, zoneKeyPartSchema } from '@plexus/core';

const zone = domainNameSchema;

/** `plugins.gateway`. */
export const GatewayConfigSchema = z
  .strictObject({
    /** Domains this gateway manages, one Redis hash each (e.g. gateway.tf, threebot.gateway.tf). At least one. */
    zones: z.array(zone).min(1, 'list at least one zone'),
    /** Zone that `domain_tcpservice_*_expose` put names under (`NAME.<threebotDomain>`). Default: the first zone. */
    threebotDomain: zone.optional(),
    /** The gateway's own public addresses; client expose points names at them. Default none (client expose refused). */
    publicIps: z.array(ipSchema).default([]),
    /** TTL written into every record, in seconds. Default 300, the CoreDNS redis plugin's default. */
    ttl: ttlSchema.default(DEFAULT_TTL),
    /** Prepended to each zone hash key, like the redis plugin's `prefix`. Default ''. */
    keyPrefix: zoneKeyPartSchema.default(''),
    /** Appended to each zone hash key, like the redis plugin's `suffix`. Default ''. */
    keySuffix: zoneKeyPartSchema.default(''),
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
  }));

export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
