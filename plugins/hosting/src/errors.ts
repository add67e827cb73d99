import { defineErrors } from '@plexus/core';

/** The hosting plugin's refusals (answered to the tenant through the lease source) and logged codes. */
export const HOSTING_ERRORS = defineErrors('hosting', {
  ERR_HOSTING_CAPACITY: 'The host runs as many instances as plugins.hosting.capacity.instances allows; try another host (plexus hosts list) or later.',
  ERR_HOSTING_DRAINING: 'The host is draining (plexus host drain) and takes no new leases; try another host.',
  ERR_HOSTING_IMAGE: 'The image is not one this host offers: it must be present on the host and match plugins.hosting.images; ask the host operator which images it runs.',
  ERR_HOSTING_LEASE_TOO_LONG: 'The lease would end later than plugins.hosting.maxLeaseSeconds from now; ask for less, and extend later.',
  ERR_HOSTING_PROVISION: 'The instance could not be created or did not start (the message says which step); nothing of it was left behind. A bad image or config is the usual cause.',
  ERR_HOSTING_DOCKER: 'The Docker daemon does not answer on plugins.hosting.docker.socket; start dockerd (apt-get install docker.io) or fix the socket path.',
  ERR_HOSTING_DISK: 'The per-instance disk (plugins.hosting.disk: loop) needs root, mkfs.ext4 and loop devices; run the host as root or set disk: dir (no disk limit).',
});
