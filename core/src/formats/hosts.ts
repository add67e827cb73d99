import { z } from 'zod';

/**
 * The explorer's host list: hosts report what they rent out (`host_report`, signed by the host
 * node's key) and tenants list them (`hosts_list`). Shared by the `hosts` plugin (explorer side)
 * and the `hosting` plugin (the reporting host).
 */

/** `protocolId('hosts', 1)`, spelled out so the two plugins need not import each other. */
export const HOSTS_PROTOCOL = '/plexus/hosts/1';

/** What a host reports (params of `host_report`). */
export const hostReportSchema = z.strictObject({
  /** Multiaddrs tenants dial for `plexus lease` (with /p2p/<peer id>). */
  multiaddrs: z.array(z.string().min(1).max(512)).min(1).max(16),
  /** The name tenants reach instances by. */
  public_host: z.string().min(1).max(253),
  /** `overlay`, `xahau`, ...: where it takes lease requests. */
  lease_source: z.string().min(1).max(32),
  capacity: z.strictObject({
    instances: z.number().int().min(0).max(1_000_000),
    cpus: z.number().min(0).max(1_000_000),
    memory_mb: z.number().int().min(0),
    disk_mb: z.number().int().min(0),
  }),
  /** Instances it could still start now. */
  free_instances: z.number().int().min(0),
  /** False while draining: listed, but taking no leases. */
  available: z.boolean(),
  /** Images it offers (patterns ending in `*`), empty: any local image. */
  images: z.array(z.string().min(1).max(256)).max(64),
});

export type HostReport = z.output<typeof hostReportSchema>;

/** One row of `hosts_list`: the report, who signed it and when it arrived. */
export interface HostListing extends HostReport {
  /** The host node's Ed25519 key (hex), which signed the report. */
  key: string;
  /** The libp2p peer id the report came over. */
  peer_id: string;
  reported_at: string;
}
