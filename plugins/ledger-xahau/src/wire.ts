import { PARAM_EVENT_TYPE_KEY } from './constants.js';

/**
 * Memo and Hook parameter encoding on the ledger, as evernode-js-client's TransactionHelper does
 * it: MemoType/MemoFormat are hex ASCII; MemoData is hex ASCII of the data, except format `hex`
 * where it is the hex itself. The event-type parameter's value is hex ASCII of the event name;
 * other parameter values are upper-case hex.
 */

export interface Memo {
  type: string;
  format: string;
  /** For `hex`: hex; otherwise the ASCII text (JSON, base64, ...). */
  data: string;
}

export interface LedgerMemo {
  Memo: { MemoType?: string; MemoFormat?: string; MemoData?: string };
}

export interface LedgerHookParameter {
  HookParameter: { HookParameterName: string; HookParameterValue?: string };
}

export const asciiToHex = (s: string): string => Buffer.from(s, 'utf8').toString('hex').toUpperCase();
export const hexToAscii = (h: string | undefined): string => (h ? Buffer.from(h, 'hex').toString('utf8') : '');

export function encodeMemo(m: Memo): LedgerMemo {
  const memo: LedgerMemo['Memo'] = { MemoType: asciiToHex(m.type) };
  if (m.format !== '') memo.MemoFormat = asciiToHex(m.format);
  if (m.data !== '') memo.MemoData = m.format === 'hex' ? m.data.toUpperCase() : asciiToHex(m.data);
  return { Memo: memo };
}

export function decodeMemos(memos: unknown): Memo[] {
  if (!Array.isArray(memos)) return [];
  const out: Memo[] = [];
  for (const entry of memos) {
    const m = (entry as LedgerMemo | undefined)?.Memo;
    if (m === undefined || m === null || typeof m !== 'object') continue;
    const format = hexToAscii(m.MemoFormat);
    out.push({ type: hexToAscii(m.MemoType), format, data: m.MemoData ? (format === 'hex' ? m.MemoData.toUpperCase() : hexToAscii(m.MemoData)) : '' });
  }
  return out;
}

export function encodeHookParams(params: { name: string; value: string }[]): LedgerHookParameter[] {
  return params.map((p) => ({
    HookParameter: { HookParameterName: p.name, HookParameterValue: p.name === PARAM_EVENT_TYPE_KEY ? asciiToHex(p.value) : p.value.toUpperCase() },
  }));
}

/** Hook parameters by (upper-case hex) name; the event type is decoded to ASCII. */
export function decodeHookParams(params: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(params)) return out;
  for (const entry of params) {
    const p = (entry as LedgerHookParameter | undefined)?.HookParameter;
    if (p === undefined || typeof p?.HookParameterName !== 'string') continue;
    const name = p.HookParameterName.toUpperCase();
    const value = p.HookParameterValue ?? '';
    out.set(name, name === PARAM_EVENT_TYPE_KEY ? hexToAscii(value) : value.toUpperCase());
  }
  return out;
}
