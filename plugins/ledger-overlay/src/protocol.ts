import { protocolId } from '@plexus/core/client';

/** The protocol the methods are served on; apart from methods.ts so the plugin's CLI loads no schema. */
export const LEASE_PROTOCOL = protocolId('ledger-overlay', 1);
