import { PlexusError } from '../errors.js';
import type { StoreCapability } from '../capabilities.js';
import type { RpcMethods } from '../rpc/types.js';

/**
 * Wraps a plugin's methods so that every mutating one runs only where the store is the master and
 * is acknowledged only once its writes reached the configured replicas: `store.writable()` before
 * the handler (ERR_NOT_MASTER on a standby, nothing changed), `store.acknowledge()` (Redis `WAIT`)
 * after it. Read-only methods are returned unchanged. A store outside a sentinel group has neither
 * hook, and the methods behave exactly as before.
 *
 * Redis refusals that race a failover are turned into the same codes: `READONLY` (the store was
 * demoted between the check and the write: nothing was written) becomes ERR_NOT_MASTER, and
 * `NOREPLICAS` (an isolated master refusing writes, min-replicas-to-write) ERR_NOT_REPLICATED.
 */
export function masterOnly(methods: RpcMethods, store: StoreCapability): RpcMethods {
  const { writable, acknowledge } = store;
  if (writable === undefined && acknowledge === undefined) return methods;
  const out: RpcMethods = {};
  for (const [name, method] of Object.entries(methods)) {
    if (!method.mutating) {
      out[name] = method;
      continue;
    }
    out[name] = {
      ...method,
      async handler(params, call) {
        await writable?.call(store);
        let result: unknown;
        try {
          result = await method.handler(params, call);
        } catch (err) {
          throw await redisRefusal(err, store);
        }
        await acknowledge?.call(store);
        return result;
      },
    };
  }
  return out;
}

/** The coded error for a write Redis refused because of the store's role; other errors unchanged. */
async function redisRefusal(err: unknown, store: StoreCapability): Promise<unknown> {
  if (!(err instanceof Error) || err instanceof PlexusError) return err;
  if (err.message.startsWith('READONLY')) {
    try {
      await store.writable?.();
    } catch (refusal) {
      return refusal;
    }
    return new PlexusError('ERR_NOT_MASTER', 'the store became a standby during the change; nothing was written', { cause: err });
  }
  if (err.message.startsWith('NOREPLICAS')) {
    return new PlexusError('ERR_NOT_REPLICATED', 'the master reaches too few standbys and refuses writes (it may be cut off from them); nothing was written', { cause: err });
  }
  return err;
}
