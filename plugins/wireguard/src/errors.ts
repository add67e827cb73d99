import { defineErrors } from '@plexus/core';

/** The wireguard plugin's error codes, each with how to fix it. */
export const WIREGUARD_ERRORS = defineErrors('wireguard', {
  ERR_WIREGUARD_NETWORK_UNKNOWN: "The registry does not allocate this network; add it to the explorer's wireguard.registry block.",
  ERR_WIREGUARD_NETWORK_FULL: "Every host address of the network's CIDR is allocated; widen the CIDR in the registry or remove members.",
  ERR_WIREGUARD_NOT_ALLOWED: "The network's `allow` list does not hold this node's key; add it on the explorer (plexus id prints it).",
  ERR_WIREGUARD_REMOVED: 'An operator removed this node from the network; `plexus wg readmit` on the explorer lets it join again.',
  ERR_WIREGUARD_NAME_TAKEN: 'Another node key already joined this network under this node name; rename the node or remove the other member.',
  ERR_WIREGUARD_NOT_MEMBER: 'This key has not joined the network; join it first (the plugin does so at start).',
  ERR_WIREGUARD_KEY_TAKEN: 'Another member already uses this WireGuard public key; generate a new key.',
  ERR_WIREGUARD_COMMAND: 'A wg or ip command failed; the message has its output (wireguard-tools, iproute2 and, without the kernel module, wireguard-go must be installed).',
  ERR_WIREGUARD_REGISTRY_DATA: 'The registry answered data that fails validation; it was not applied. Check the explorer.',
});
