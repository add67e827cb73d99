import { protocolId } from '@plexus/core/client';

/** The protocol the methods are served on; apart from methods.ts so the plugin's CLI loads no schema. */
export const GATEWAY_PROTOCOL = protocolId('gateway', 1);
