import { defineErrors } from '@plexus/core';

/** The tunnel client's codes: start failures (thrown) and the `code` of the warnings it logs. */
export const TUNNEL_ERRORS = defineErrors('tunnel', {
  ERR_TUNNEL_SECRET:
    'No tunnel secret: set plugins.tunnel.secret or secretFile, or $PLEXUS_TUNNEL_SECRET (with `plexus tunnel`: --secret). It is the --client-secret the name was exposed with.',
  ERR_TUNNEL_ROUTER:
    'A router cannot be reached or closed the session; the client retries with capped backoff. If the router closes right after the handshake, no route there has this secret: `plexus gateway expose --name N --client-secret S`.',
  ERR_TUNNEL_LOCAL: 'The local service (plugins.tunnel.local / localTls) refused or failed a tunnelled connection; check that it runs on that address.',
});
