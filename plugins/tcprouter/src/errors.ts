import { defineErrors } from '@plexus/core';

/**
 * The tcprouter's own codes. `ERR_TCPROUTER_LISTEN` fails the start; the others are never thrown
 * at a caller (the router has no RPC methods): they are the `code` of the warnings it logs, so an
 * operator can grep for them and find the hint here and in the README.
 */
export const TCPROUTER_ERRORS = defineErrors('tcprouter', {
  ERR_TCPROUTER_LISTEN:
    'Another process holds plugins.tcprouter.listen.http/tls, the address is not one of this machine, or a port below 1024 needs root or CAP_NET_BIND_SERVICE; free it or change the address.',
  ERR_TCPROUTER_ROUTE_INVALID:
    'A /tcprouter/service/<name> value in the store cannot be read as a route (COMPAT §2: base64 JSON with an IP addr, or a clientsecret); rewrite it with `plexus gateway service`.',
  ERR_TCPROUTER_BACKEND: "The route's backend did not accept the connection in time (limits.connectTimeoutMs) or refused it; check that it runs and is reachable from the router.",
  ERR_TCPROUTER_LIMIT: 'A client hit plugins.tcprouter.limits (connections in total or per IP, peek deadline or size, idle timeout); raise the limit if the traffic is legitimate.',
  ERR_TCPROUTER_NO_TUNNEL: 'The route goes to a tunnel client (clientsecret) and no tunnel session with that secret is open; start the tunnel client (plexus tunnel, or trc) against this router\'s clients port.',
  ERR_TCPROUTER_TUNNEL_SECRET:
    'A tunnel client presented a secret that no /tcprouter/service route in the store has; expose the name with `plexus gateway expose --name N --client-secret S` first, and check that the client uses the same secret.',
  ERR_TCPROUTER_TUNNEL_HANDSHAKE:
    'A connection on the clients port did not send the tunnel handshake (yamux stream 1: 0x11 0x11, length, secret) in time or sent something else; it is not a tunnel client, or not one of this protocol.',
  ERR_TCPROUTER_TUNNEL_LIMIT:
    'A tunnel client hit plugins.tcprouter.tunnel limits (sessions in total, per IP or per secret); raise them if the clients are legitimate.',
});
