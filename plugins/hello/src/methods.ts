import { PlexusError, type RpcMethods, type StoreCapability, defineMethod, phonebookNameSchema, z } from '@plexus/core';
import type { HelloConfig } from './config.js';
import { HELLO_ERRORS } from './errors.js';

/**
 * `/plexus/hello/1`. The service serves on it and the CLI calls it, both through this one
 * constant; an incompatible change to `greet` would mean `protocolId('hello', 2)`, served beside 1.
 */
export { HELLO_PROTOCOL } from './protocol.js';

/** Redis hash of greeting counts: field = signer's public key (64 hex), value = count. */
export const GREETINGS_KEY = 'hello:greetings';

/** What `greet` answers. */
export interface GreetResult {
  /** `<greeting>, <name>`. */
  text: string;
  /** Greetings signed by this caller's key so far, this one included. */
  count: number;
}

/** The hello plugin's RPC methods, over the store's shared connection. */
export function helloMethods(redis: StoreCapability['redis'], config: HelloConfig): RpcMethods {
  return {
    greet: defineMethod({
      // Mutating: it writes, so the core only calls it with a verified signature, fresh timestamp
      // and unused nonce; unsigned calls are refused with ERR_AUTH_REQUIRED before this runs.
      mutating: true,
      // Strict: an extra field is ERR_PARAMS_INVALID with data.path naming it, like a bad name.
      params: z.strictObject({ name: phonebookNameSchema }),
      async handler(p, call): Promise<GreetResult> {
        // The core never runs a mutating handler unsigned; the check narrows the type without a `!`.
        if (call.signer === undefined) throw new PlexusError('ERR_AUTH_REQUIRED', 'greet must be signed');
        if (config.blocked.includes(p.name)) {
          throw new PlexusError(HELLO_ERRORS.ERR_HELLO_BLOCKED, `'${p.name}' may not be greeted on this node`, { data: { name: p.name } });
        }
        // Counted per signing key, not per peer id: the same user keeps one count whichever node
        // or connection relays the call. HINCRBY is atomic, so concurrent greets never lose one.
        const count = await redis.hincrby(GREETINGS_KEY, call.signer, 1);
        call.log.debug({ name: p.name, count }, 'greet');
        return { text: `${config.greeting}, ${p.name}`, count };
      },
    }),
  };
}
