import type { Logger, StoreCapability } from '@plexus/core';
import type { MembersView } from './records.js';

/**
 * Moves the node's store onto a network marked `store: true`: the master also listens on the
 * node's address there; a replica with `replicaOf.network` follows the registry node's address.
 */
export class StoreOnNetwork {
  /** The address the master was told to listen on. */
  private bound: string | undefined;
  /** The master address the replica was told to follow. */
  private following: string | undefined;
  private warned = false;

  constructor(
    private readonly network: string,
    private readonly store: StoreCapability | undefined,
    private readonly log: Logger,
  ) {}

  /** Applies the network's current view; `own` is this node's address in it. */
  async apply(view: MembersView, own: string): Promise<void> {
    const store = this.store;
    if (store === undefined) return this.warn('networks.store is set but this node runs no store plugin');
    if (store.role === 'master') {
      if (store.listenOn === undefined) return this.warn('the store cannot listen on other addresses');
      if (this.bound === own) return;
      await store.listenOn([own]);
      this.bound = own;
      return;
    }
    if (store.replicaOfNetwork !== this.network || store.replicateFrom === undefined) {
      return this.warn(`the store replicates a fixed replicaOf.host; set replicaOf.network: ${this.network} (and no host) to replicate over this network only`);
    }
    const master = view.members.find((m) => m.signer === view.registry);
    if (master === undefined || this.following === master.address) return;
    await store.replicateFrom(master.address);
    this.following = master.address;
  }

  /** Back to the store's configured bind (the interface is going away). */
  async release(): Promise<void> {
    if (this.bound === undefined) return;
    this.bound = undefined;
    await this.store?.listenOn?.([]).catch((err: unknown) => this.log.warn({ network: this.network, err }, 'the store could not go back to its configured bind'));
  }

  private warn(msg: string): void {
    if (!this.warned) this.log.warn({ network: this.network }, msg);
    this.warned = true;
  }
}
