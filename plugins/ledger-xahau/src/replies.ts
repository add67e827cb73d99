import { ERROR_CODE, EVENT, EVR, MEMO_FORMAT, MIN_DROPS, PARAM_EVENT_DATA_KEY, PARAM_EVENT_TYPE_KEY } from './constants.js';
import type { IssuedAmount } from './decode.js';
import { eciesEncrypt, isSecp256k1PublicKey } from './ecies.js';
import { sealAnonymous } from './sealed-box.js';
import { encodeHookParams, encodeMemo } from './wire.js';

/**
 * The host's transactions, unsigned (Sequence, Fee, LastLedgerSequence are filled at submit),
 * in the shapes evernode-js-client's HostClient sends (acquireSuccess, acquireError,
 * extendSuccess, extendError, refundTenant, heartbeat).
 */

export type UnsignedTx = Record<string, unknown>;

interface Common {
  host: string;
  networkId: number;
}

function payment(c: Common, destination: string, amount: string | IssuedAmount, event: string, data: string | undefined, memo?: { format: string; data: string }): UnsignedTx {
  const tx: UnsignedTx = {
    TransactionType: 'Payment',
    Account: c.host,
    Destination: destination,
    Amount: amount,
    HookParameters: encodeHookParams([{ name: PARAM_EVENT_TYPE_KEY, value: event }, ...(data ? [{ name: PARAM_EVENT_DATA_KEY, value: data }] : [])]),
  };
  if (memo) tx.Memos = [encodeMemo({ type: event, ...memo })];
  // Xahau refuses transactions without NetworkID once it is above 1024.
  if (c.networkId > 1024) tx.NetworkID = c.networkId;
  return tx;
}

/**
 * 1 drop to the tenant; memo `0x01 || crypto_box_seal(JSON)` (Ed25519 key) or `0x01 || ECIES(JSON)`
 * (secp256k1 key) to the tenant's message key (base64),
 * or `0x00 || JSON` when no key is known. Event data: the acquire transaction's hash.
 */
export function acquireSuccessTx(c: Common, tenant: string, acquireHash: string, info: unknown, tenantMessageKey: string | undefined): UnsignedTx {
  const json = Buffer.from(JSON.stringify(info), 'utf8');
  // Evernode picks the scheme by the key: ED + 32 bytes is libsodium's sealed box, anything else eccrypto's ECIES.
  const sealed = tenantMessageKey === undefined ? undefined : isSecp256k1PublicKey(tenantMessageKey) ? eciesEncrypt(tenantMessageKey, json) : sealAnonymous(tenantMessageKey, json);
  const body = sealed === undefined ? Buffer.concat([Buffer.from([0x00]), json]) : Buffer.concat([Buffer.from([0x01]), sealed]);
  return payment(c, tenant, MIN_DROPS, EVENT.ACQUIRE_SUCCESS, acquireHash, { format: MEMO_FORMAT.BASE64, data: body.toString('base64') });
}

/** Refunds what was paid with `{type: ACQUIRE_ERR, reason}`. With nothing to refund, 1 drop carries the error. */
export function acquireErrorTx(c: Common, tenant: string, acquireHash: string, refund: IssuedAmount | string | undefined, reason: string): UnsignedTx {
  return payment(c, tenant, refund ?? MIN_DROPS, EVENT.ACQUIRE_ERROR, acquireHash, { format: MEMO_FORMAT.JSON, data: JSON.stringify({ type: ERROR_CODE.ACQUIRE_ERR, reason }) });
}

/** 1 drop with the new expiry moment as a 4-byte big-endian hex memo. */
export function extendSuccessTx(c: Common, tenant: string, extendHash: string, expiryMoment: number): UnsignedTx {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(expiryMoment);
  return payment(c, tenant, MIN_DROPS, EVENT.EXTEND_SUCCESS, extendHash, { format: MEMO_FORMAT.HEX, data: buf.toString('hex') });
}

export function extendErrorTx(c: Common, tenant: string, extendHash: string, refund: IssuedAmount | string | undefined, reason: string): UnsignedTx {
  return payment(c, tenant, refund ?? MIN_DROPS, EVENT.EXTEND_ERROR, extendHash, { format: MEMO_FORMAT.JSON, data: JSON.stringify({ type: ERROR_CODE.EXTEND_ERR, reason }) });
}

/** Plain refund of a request the host will not serve (evnRefund, empty memo). */
export function refundTx(c: Common, tenant: string, requestHash: string, refund: IssuedAmount | string): UnsignedTx {
  return payment(c, tenant, refund, EVENT.REFUND, requestHash, { format: '', data: '' });
}

/** 1 drop of XAH to the heartbeat hook account. */
export function heartbeatTx(c: Common, heartbeatAccount: string): UnsignedTx {
  return payment(c, heartbeatAccount, MIN_DROPS, EVENT.HEARTBEAT, undefined);
}

export { EVR };
