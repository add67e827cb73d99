import { definePlugin, type CapabilityMap, type PluginContext, type PluginInstance } from '@plexus/core';
import { LedgerXahauConfigSchema, type LedgerXahauConfig } from './config.js';
import { XahauLeaseSource } from './service.js';

export { LedgerXahauConfigSchema, DEFAULTS, type LedgerXahauConfig } from './config.js';
export * from './constants.js';
export { decodeTx, normalizeTx, momentsFor, type Decoded, type LedgerTx, type IssuedAmount } from './decode.js';
export * from './replies.js';
export { sealAnonymous, openAnonymous, ed25519KeyBytes } from './sealed-box.js';
export { blake2b } from './blake2b.js';
export { eciesEncrypt, eciesDecrypt, isSecp256k1PublicKey } from './ecies.js';
export { decodeLeaseTokenUri, encodeLeaseTokenUri, mintLeaseUri, xflToDecimal, decimalToXfl, type LeaseTokenUri } from './lease-uri.js';
export { hostKeyFromSecret, messageKeyOptions, signTx, txHash, xahauDefinitions, decodeBlob, type HostKey } from './sign.js';
export { encodeMemo, decodeMemos, encodeHookParams, decodeHookParams, asciiToHex, hexToAscii } from './wire.js';
export { XAHAU_ERRORS } from './errors.js';
export { uriTokenId, planSlots, leaseSlotOf, mintTx, sellOfferTx, burnTx, TF_BURNABLE, type UriTokenEntry, type SlotAction } from './slots.js';
export { hostRegData, hostRegTx, registrationUri, HOST_TOKEN_PREFIX_HEX, HOST_REG_EVENT } from './registration.js';
export { hookStateIndex, decodeMomentBaseInfo, decodeMomentSize, momentAt, momentStart, STATE_KEY, HOOK_NAMESPACE, type MomentInfo } from './moments.js';

/**
 * The Xahau lease source: Evernode's host protocol. Tenants acquire with a URITokenBuy of one of
 * the host's lease slot tokens, extend with an EVR payment, terminate with a payment; the host
 * answers on the ledger (acquire success/error, extend success/error) and sends heartbeats.
 */
export class LedgerXahau implements PluginInstance {
  private readonly source: XahauLeaseSource;

  constructor(ctx: PluginContext<LedgerXahauConfig>) {
    this.source = new XahauLeaseSource(ctx);
  }

  start(): Promise<void> {
    return this.source.start();
  }

  stop(): Promise<void> {
    return this.source.stop();
  }

  capabilities(): Partial<CapabilityMap> {
    return { ledger: { source: 'xahau', serve: (handler) => this.source.serve(handler), capacity: (c) => this.source.capacity(c) } };
  }

  status(): Promise<Record<string, unknown>> {
    return this.source.status();
  }

  adminActions(): Record<string, (params: unknown) => Promise<unknown>> {
    return { status: () => this.source.status() };
  }
}

export const plugin = definePlugin<LedgerXahauConfig>({
  name: 'ledger-xahau',
  version: '0.1.0',
  description: 'lease source on Xahau: the Evernode host protocol (acquire, extend, terminate, heartbeat)',
  provides: ['ledger'],
  requires: ['store'],
  configSchema: LedgerXahauConfigSchema,
  create: (ctx) => new LedgerXahau(ctx),
});

export default plugin;
