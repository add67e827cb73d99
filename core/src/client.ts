/**
 * `@plexus/core/client`: what a plugin's client commands (`plexus <plugin> <verb>` talking to an
 * explorer) need, without the node runtime: no config loader (yaml, zod schemas), store, metrics
 * (prom-client), logger (pino) or admin server (node:http, whose import alone loads undici). A
 * plugin's `cli.ts`, and the modules it imports, import from here so a one-shot command loads
 * only the RPC client's stack; see core/src/cli/bundle-route.ts for the rest of the start-up work.
 */
export * from './errors.js';
export { protocolId, type RpcRequestFrame, type RpcResponseFrame, type RpcAuth } from './rpc/types.js';
export { RpcClient, type RpcClientOptions } from './rpc/client.js';
export { FailoverClient, type FailoverOptions, type RpcCaller } from './rpc/failover.js';
export { isUnavailableError } from './rpc/unavailable.js';
export { canonicalJson } from './crypto/canonical.js';
export * from './crypto/ed25519.js';
export * from './crypto/signatures.js';
export { sealTo, openSealed, type SealedBox } from './crypto/box.js';
export { type Identity, loadIdentity, loadOrCreateIdentity, peerIdOf } from './identity.js';
export type { InstanceDetails, LeaseRequest, LeaseResult } from './capabilities.js';
export { runCommand, reportError, userIdentity, defaultKeyPath, usage, intFlag, explorerOf, explorersOf, withExplorer, clientFlags, KEY_DEFAULT_HELP, type ClientFlags } from './cli/support.js';
