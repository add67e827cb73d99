import { defineErrors } from '@plexus/core';

/** The acme plugin's error codes, with how to fix each (README, "Errors"). */
export const ACME_ERRORS = defineErrors('acme', {
  ERR_ACME_REFUSED: 'The CA refused the order or a challenge (its problem document is in the message); fix the name or wait for its rate limit, the old certificate stays in use.',
  ERR_ACME_PROPAGATION: 'A DNS node in plugins.acme.dnsServers did not answer the challenge TXT in time; check that it replicates the store, or raise propagationTimeoutSeconds.',
  ERR_ACME_NO_GATEWAY: 'DNS-01 needs a gateway: run the gateway plugin on this node, or set node.explorer / plugins.acme.gateway.',
  ERR_ACME_NO_STORE: 'HTTP-01 needs the store master on this node (the routers read the challenge from it); run acme on the explorer, or use dns-01.',
  ERR_ACME_CSR_INVALID: 'The CSR is not a PEM certificate request with DNS names; make it with `plexus cert issue` or openssl req.',
  ERR_ACME_BUSY: 'A certificate for these names is being issued right now; retry when it finishes.',
});
