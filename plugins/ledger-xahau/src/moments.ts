import { createHash } from 'node:crypto';
import { decodeAccountID } from 'xrpl';

/**
 * Evernode's moments (evernode-js-client base-evernode-client.js `getMoment` /
 * `getMomentStartIndex`, state-helpers.js): moment(t) = baseTransitionMoment + floor((t - baseIdx) /
 * momentSize), and it starts at baseIdx + k * momentSize. The governor hook keeps baseIdx and
 * baseTransitionMoment under MOMENT_BASE_INFO and the size under the MOMENT_SIZE configuration key.
 */

/** Hook state keys in the governor's namespace (evernode-common.js HookStateKeys). */
export const STATE_KEY = {
  MOMENT_SIZE: '4556520100000000000000000000000000000000000000000000000000000003',
  MOMENT_BASE_INFO: '4556523300000000000000000000000000000000000000000000000000000000',
} as const;

/** Evernode's hook namespace (EvernodeConstants.HOOK_NAMESPACE). */
export const HOOK_NAMESPACE = '01EAF09326B4911554384121FF56FA8FECC215FDDE2EC35D9E59F2C53EC665A0';

export interface MomentInfo {
  /** Unix seconds where `baseMoment` began. */
  baseIdx: number;
  baseMoment: number;
  size: number;
  /** Where the figures came from. */
  source: 'governor' | 'config';
}

/** The ledger index of a HookState entry: SHA-512Half(0x0076 'v' | account | key | namespace). */
export function hookStateIndex(account: string, key: string, namespace = HOOK_NAMESPACE): string {
  const h = createHash('sha512');
  h.update(Buffer.from([0x00, 0x76]));
  h.update(Buffer.from(decodeAccountID(account)));
  h.update(Buffer.from(key, 'hex'));
  h.update(Buffer.from(namespace, 'hex'));
  return h.digest('hex').slice(0, 64).toUpperCase();
}

/** MOMENT_BASE_INFO: uint64 LE base index, uint32 LE moment at transition, uint8 type (0 ledger, 1 timestamp). */
export function decodeMomentBaseInfo(hex: string): { baseIdx: number; baseMoment: number; type: 'ledger' | 'timestamp' } | undefined {
  const b = Buffer.from(hex, 'hex');
  if (b.length < 8) return undefined;
  const baseIdx = Number(b.readBigUInt64LE(0));
  const baseMoment = b.length >= 12 ? b.readUInt32LE(8) : 0;
  const type = b.length <= 12 || b[12] === 0 ? 'ledger' : 'timestamp';
  return { baseIdx, baseMoment, type };
}

/** MOMENT_SIZE: uint16 LE seconds. */
export function decodeMomentSize(hex: string): number | undefined {
  const b = Buffer.from(hex, 'hex');
  return b.length >= 2 && b.readUInt16LE(0) > 0 ? b.readUInt16LE(0) : undefined;
}

export function momentAt(m: MomentInfo, unixSeconds: number): number {
  return m.baseMoment + Math.floor((unixSeconds - m.baseIdx) / m.size);
}

/** Unix seconds at which `moment` starts. */
export function momentStart(m: MomentInfo, moment: number): number {
  return m.baseIdx + (moment - m.baseMoment) * m.size;
}
