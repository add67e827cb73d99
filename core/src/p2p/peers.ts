import type { Libp2p } from 'libp2p';
import type { Ed25519KeyPair } from '../crypto/ed25519.js';
import { PlexusError } from '../errors.js';
import type { PeerDialer } from '../plugin.js';
import { RpcClient } from '../rpc/client.js';
import { FailoverClient } from '../rpc/failover.js';

/** How long `explorer()` calls keep following ERR_NOT_MASTER and skipping silent explorers. */
const FOLLOW_MS = 5_000;

/**
 * The `peers` of every plugin context: RPC clients over the node's own libp2p host (one identity,
 * connections shared and limited by libp2p's connection manager), signing with the node's key.
 */
export function peerDialer(libp2p: Libp2p, key: Ed25519KeyPair, explorers: readonly string[]): PeerDialer {
  const connect = (target: string, options: { timeoutMs?: number } = {}): Promise<RpcClient> =>
    RpcClient.connect(target, { libp2p, key, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
  return {
    connect,
    async explorer(options = {}) {
      if (explorers.length === 0) {
        throw new PlexusError('ERR_CONFIG_INVALID', 'node.explorer: no explorer is configured; add its multiaddr (…/p2p/<peer id>) to the node block');
      }
      // A standby of a sentinel group answers changes with ERR_NOT_MASTER naming the master: the
      // client follows it, and skips explorers that stop answering, for a few seconds at most, so
      // plugins keep working through a failover without knowing which explorer leads. Their own
      // retries (report intervals, long-poll loops) still see an explorer that stays down soon.
      const timeoutMs = options.timeoutMs ?? 10_000;
      return new FailoverClient(explorers, { libp2p, key, timeoutMs, failoverMs: Math.min(timeoutMs, FOLLOW_MS) }).open();
    },
  };
}
