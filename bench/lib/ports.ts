/** Free ports below the ephemeral range; see core's free-port.ts for why. */
import { freePort } from '@plexus/core';
export { freePort };
