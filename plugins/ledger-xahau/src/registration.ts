import { EVR, PARAM_EVENT_DATA_KEY, PARAM_EVENT_TYPE_KEY } from './constants.js';
import { decimalToXfl } from './lease-uri.js';
import type { UnsignedTx } from './replies.js';
import type { UriTokenEntry } from './slots.js';
import { asciiToHex, encodeHookParams } from './wire.js';

/**
 * Host registration with Evernode's registry hook (evernode-js-client HostClient.register): an EVR
 * payment of the registration fee to the registry with `evnHostReg` and the host's figures as
 * event data; the registry answers with a URIToken (`evrhost` + ASCII of the first and last 8 hex
 * digits of the payment's hash) offered to the host, which the host buys. A host is registered while
 * it owns a token issued by the registry whose URI starts with `evrhost`.
 */

export const HOST_REG_EVENT = 'evnHostReg';
/** `evrhost` (EvernodeConstants.TOKEN_PREFIX_HEX). */
export const HOST_TOKEN_PREFIX_HEX = '657672686F7374';

export interface HostFigures {
  countryCode: string;
  cpuMicroSec: number;
  ramMb: number;
  diskMb: number;
  totalInstances: number;
  cpuModel: string;
  cpuCount: number;
  cpuMHz: number;
  description: string;
  email: string;
  leaseAmount: string;
}

/** The 136-byte event data: country(2) cpu µs(4) ram(4) disk(4) instances(4) cpu model(40) cpu count(2) MHz(2) description(26) email(40) lease amount(8, XFL); integers LE. */
export function hostRegData(f: HostFigures): string {
  const b = Buffer.alloc(136);
  b.write(f.countryCode.slice(0, 2), 0, 'utf8');
  b.writeUInt32LE(f.cpuMicroSec, 2);
  b.writeUInt32LE(f.ramMb, 6);
  b.writeUInt32LE(f.diskMb, 10);
  b.writeUInt32LE(f.totalInstances, 14);
  Buffer.from(f.cpuModel, 'utf8').subarray(0, 40).copy(b, 18);
  b.writeUInt16LE(f.cpuCount, 58);
  b.writeUInt16LE(f.cpuMHz, 60);
  Buffer.from(f.description, 'utf8').subarray(0, 26).copy(b, 62);
  Buffer.from(f.email, 'utf8').subarray(0, 40).copy(b, 88);
  b.writeBigInt64LE(decimalToXfl(f.leaseAmount), 128);
  return b.toString('hex').toUpperCase();
}

export function hostRegTx(c: { host: string; networkId: number }, registry: string, fee: string, evrIssuer: string, figures: HostFigures): UnsignedTx {
  const tx: UnsignedTx = {
    TransactionType: 'Payment',
    Account: c.host,
    Destination: registry,
    Amount: { currency: EVR, issuer: evrIssuer, value: fee },
    HookParameters: encodeHookParams([
      { name: PARAM_EVENT_TYPE_KEY, value: HOST_REG_EVENT },
      { name: PARAM_EVENT_DATA_KEY, value: hostRegData(figures) },
    ]),
  };
  if (c.networkId > 1024) tx.NetworkID = c.networkId;
  return tx;
}

/** The URI of the registration token the registry offers for the payment `regTxHash`. */
export function registrationUri(regTxHash: string): string {
  return HOST_TOKEN_PREFIX_HEX + asciiToHex(regTxHash.slice(0, 8) + regTxHash.slice(-8));
}

/** The host's registration token among its URITokens, if any. */
export function registrationToken(owned: UriTokenEntry[], host: string, registry: string): UriTokenEntry | undefined {
  return owned.find((t) => t.Owner === host && t.Issuer === registry && t.URI.toUpperCase().startsWith(HOST_TOKEN_PREFIX_HEX));
}

export function buyTx(c: { host: string; networkId: number }, token: UriTokenEntry): UnsignedTx {
  const tx: UnsignedTx = { TransactionType: 'URITokenBuy', Account: c.host, URITokenID: token.index, Amount: token.Amount };
  if (c.networkId > 1024) tx.NetworkID = c.networkId;
  return tx;
}
