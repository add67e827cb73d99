import { EVENT, EVR, MEMO_FORMAT, PARAM_EVENT_DATA_KEY, PARAM_EVENT_TYPE_KEY } from './constants.js';
import { decodeLeaseTokenUri, type LeaseTokenUri } from './lease-uri.js';
import { eciesDecrypt } from './ecies.js';
import { openAnonymous } from './sealed-box.js';
import { decodeHookParams, decodeMemos } from './wire.js';

/**
 * Turns one validated transaction (as rippled's `transaction` stream or `account_tx` delivers it)
 * into what the host should do: a lease request, an invalid request to refund, or nothing. Pure:
 * no network, no store; the plugin maps URIToken ids to leases.
 */

/** An issued-currency amount (EVR) as the ledger writes it. */
export interface IssuedAmount {
  currency: string;
  issuer: string;
  value: string;
}

/** A validated transaction, whichever API shape it came in. */
export interface LedgerTx {
  hash: string;
  ledgerIndex: number;
  tx: Record<string, unknown>;
  meta: Record<string, unknown> | undefined;
}

export interface TxRef {
  hash: string;
  ledgerIndex: number;
  /** The tenant's account (the sender). */
  account: string;
}

export interface AcquirePayload {
  /** 64 hex, without Evernode's `ed` prefix. */
  ownerPubkey: string;
  contractId?: string;
  image: string;
  config: Record<string, unknown>;
}

export type Decoded =
  | { kind: 'ignored'; reason: string }
  | { kind: 'invalid'; event: 'acquire' | 'extend' | 'terminate'; reason: string; tx: TxRef; refund?: IssuedAmount | string; uriTokenId?: string }
  | { kind: 'acquire'; tx: TxRef; uriTokenId: string; paid: IssuedAmount; payload: AcquirePayload; lease: LeaseTokenUri }
  | { kind: 'extend'; tx: TxRef; uriTokenId: string; paid: IssuedAmount }
  | { kind: 'terminate'; tx: TxRef; uriTokenId: string };

export interface DecodeOptions {
  hostAccount: string;
  /** Issuer of EVR; when set, payments in another issuer's "EVR" are refused. */
  evrIssuer?: string;
  /** The host's message key seed (32 bytes), to open sealed (0x01) acquire memos (Ed25519 host key). */
  messageSeed?: Uint8Array;
  /** The host's secp256k1 private key (hex), to open ECIES-sealed (0x01) acquire memos (secp256k1 host key). */
  messageSecp256k1?: string;
}

const obj = (v: unknown): Record<string, unknown> | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const HASH_RE = /^[0-9A-F]{64}$/;

/** Normalizes the `transaction` stream message and both `account_tx` entry shapes (API v1 `tx`, v2 `tx_json`). */
export function normalizeTx(message: unknown): LedgerTx | undefined {
  const m = obj(message);
  if (m === undefined || m.validated !== true) return undefined;
  const tx = obj(m.transaction) ?? obj(m.tx_json) ?? obj(m.tx);
  if (tx === undefined) return undefined;
  const hash = String(m.hash ?? tx.hash ?? '').toUpperCase();
  const ledgerIndex = Number(m.ledger_index ?? tx.ledger_index ?? tx.inLedger);
  if (!HASH_RE.test(hash) || !Number.isSafeInteger(ledgerIndex)) return undefined;
  return { hash, ledgerIndex, tx, meta: obj(m.meta) ?? obj(m.metaData) };
}

function evrAmount(v: unknown, options: DecodeOptions): IssuedAmount | undefined {
  const a = obj(v);
  if (a === undefined || a.currency !== EVR || typeof a.issuer !== 'string' || typeof a.value !== 'string') return undefined;
  if (options.evrIssuer !== undefined && a.issuer !== options.evrIssuer) return undefined;
  if (!/^\d+(\.\d+)?$/.test(a.value) || Number(a.value) <= 0) return undefined;
  return { currency: a.currency, issuer: a.issuer, value: a.value };
}

/** Whatever was paid, to send back on a refusal: an issued amount, or drops of XAH (above the 1-drop reply). */
function refundable(v: unknown): IssuedAmount | string | undefined {
  if (typeof v === 'string') return /^\d+$/.test(v) && BigInt(v) > 1n ? v : undefined;
  const a = obj(v);
  if (a === undefined || typeof a.currency !== 'string' || typeof a.issuer !== 'string' || typeof a.value !== 'string' || !(Number(a.value) > 0)) return undefined;
  return { currency: a.currency, issuer: a.issuer, value: a.value };
}

/** The URIToken node a URITokenBuy changed, from the metadata (who sold it, its URI). */
function uriTokenNode(meta: Record<string, unknown> | undefined, id: string): { previousOwner?: string; uri?: string } | undefined {
  const nodes = Array.isArray(meta?.AffectedNodes) ? meta.AffectedNodes : [];
  for (const n of nodes) {
    const mod = obj(obj(n)?.ModifiedNode);
    if (mod?.LedgerEntryType !== 'URIToken' || String(mod.LedgerIndex).toUpperCase() !== id) continue;
    const prev = obj(mod.PreviousFields);
    const fin = obj(mod.FinalFields);
    return { previousOwner: typeof prev?.Owner === 'string' ? prev.Owner : undefined, uri: typeof fin?.URI === 'string' ? fin.URI : undefined };
  }
  return undefined;
}

/**
 * A URITokenBuy whose metadata lacks the URIToken node, completed from the token as it stood in the
 * ledger before (what evernode-js-client does for every buy: the host's `account_objects` at
 * ledger - 1, the token with that id and an Amount). Returns undefined when nothing is missing.
 */
export function needsOfferLookup(ltx: LedgerTx): string | undefined {
  if (ltx.tx.TransactionType !== 'URITokenBuy' || ltx.meta?.TransactionResult !== 'tesSUCCESS') return undefined;
  const id = String(ltx.tx.URITokenID ?? '').toUpperCase();
  return uriTokenNode(ltx.meta, id) === undefined ? id : undefined;
}

export function withOffer(ltx: LedgerTx, offer: { index: string; Owner: string; Issuer: string; URI: string; Amount?: unknown }): LedgerTx {
  const node = { ModifiedNode: { LedgerEntryType: 'URIToken', LedgerIndex: offer.index, PreviousFields: { Owner: offer.Owner, Amount: offer.Amount }, FinalFields: { Owner: ltx.tx.Account, Issuer: offer.Issuer, URI: offer.URI } } };
  const nodes = Array.isArray(ltx.meta?.AffectedNodes) ? ltx.meta.AffectedNodes : [];
  return { ...ltx, meta: { ...ltx.meta, AffectedNodes: [...nodes, node] } };
}

function parseAcquirePayload(base64: string, options: DecodeOptions): AcquirePayload | string {
  const raw = Buffer.from(base64, 'base64');
  if (raw.length < 2) return 'acquire memo is empty';
  let json: Uint8Array;
  if (raw[0] === 0x00) json = raw.subarray(1);
  else if (raw[0] === 0x01) {
    if (options.messageSeed === undefined && options.messageSecp256k1 === undefined) return 'acquire memo is sealed but this host has no message key';
    try {
      json = options.messageSeed !== undefined ? openAnonymous(raw.subarray(1), options.messageSeed) : eciesDecrypt(options.messageSecp256k1!, raw.subarray(1));
    } catch {
      return 'acquire memo does not open with the host message key';
    }
  } else return `acquire memo has unknown prefix 0x${raw[0]!.toString(16)}`;
  let p: Record<string, unknown> | undefined;
  try {
    p = obj(JSON.parse(Buffer.from(json).toString('utf8')));
  } catch {
    return 'acquire memo is not JSON';
  }
  if (p === undefined) return 'acquire memo is not a JSON object';
  const owner = typeof p.owner_pubkey === 'string' ? p.owner_pubkey.replace(/^ed/i, '') : '';
  if (!/^[0-9a-fA-F]{64}$/.test(owner)) return 'owner_pubkey must be an Ed25519 key (ed + 64 hex)';
  if (typeof p.image !== 'string' || p.image === '') return 'image is missing';
  if (p.config !== undefined && obj(p.config) === undefined) return 'config must be an object';
  if (p.contract_id !== undefined && typeof p.contract_id !== 'string') return 'contract_id must be a string';
  const out: AcquirePayload = { ownerPubkey: owner.toLowerCase(), image: p.image, config: obj(p.config) ?? {} };
  if (typeof p.contract_id === 'string') out.contractId = p.contract_id;
  return out;
}

export function decodeTx(ltx: LedgerTx, options: DecodeOptions): Decoded {
  const { tx, meta } = ltx;
  if (meta !== undefined && meta.TransactionResult !== 'tesSUCCESS') return { kind: 'ignored', reason: `failed transaction (${String(meta.TransactionResult)})` };
  const account = typeof tx.Account === 'string' ? tx.Account : '';
  if (account === options.hostAccount) return { kind: 'ignored', reason: 'sent by the host itself' };
  const params = decodeHookParams(tx.HookParameters);
  const eventType = params.get(PARAM_EVENT_TYPE_KEY);
  const eventData = params.get(PARAM_EVENT_DATA_KEY) ?? '';
  const ref: TxRef = { hash: ltx.hash, ledgerIndex: ltx.ledgerIndex, account };

  if (tx.TransactionType === 'URITokenBuy') {
    const id = String(tx.URITokenID ?? '').toUpperCase();
    const node = uriTokenNode(meta, id);
    // A URITokenBuy names no destination: it is ours when the token it bought was ours.
    if (node?.previousOwner !== options.hostAccount) return { kind: 'ignored', reason: 'URIToken not sold by this host' };
    const paid = evrAmount(tx.Amount, options);
    const back = paid ?? refundable(tx.Amount);
    const invalid = (reason: string): Decoded => ({ kind: 'invalid', event: 'acquire', reason, tx: ref, uriTokenId: id, ...(back !== undefined ? { refund: back } : {}) });
    if (eventType !== EVENT.ACQUIRE_LEASE) return invalid(`URITokenBuy without ${EVENT.ACQUIRE_LEASE} (event ${eventType ?? 'none'})`);
    if (paid === undefined) return invalid('not paid in EVR');
    const lease = node.uri === undefined ? undefined : decodeLeaseTokenUri(node.uri);
    if (lease === undefined) return invalid('URIToken is not a lease slot of this host');
    const memo = decodeMemos(tx.Memos)[0];
    if (memo === undefined || memo.type !== EVENT.ACQUIRE_LEASE || memo.format !== MEMO_FORMAT.BASE64 || memo.data === '') return invalid('acquire memo missing or not base64');
    const payload = parseAcquirePayload(memo.data, options);
    if (typeof payload === 'string') return invalid(payload);
    return { kind: 'acquire', tx: ref, uriTokenId: id, paid, payload, lease };
  }

  if (tx.TransactionType !== 'Payment' || tx.Destination !== options.hostAccount) return { kind: 'ignored', reason: 'not a payment to the host' };
  if (eventType === EVENT.EXTEND_LEASE) {
    // A partial payment delivers less than Amount says; only the delivered amount counts.
    const delivered = meta?.delivered_amount ?? meta?.DeliveredAmount ?? tx.Amount;
    const paid = evrAmount(delivered, options);
    if (paid === undefined) {
      const back = refundable(delivered);
      return { kind: 'invalid', event: 'extend', reason: 'not paid in EVR', tx: ref, ...(back !== undefined ? { refund: back } : {}) };
    }
    if (!HASH_RE.test(eventData)) return { kind: 'invalid', event: 'extend', reason: 'event data is not a URIToken id', tx: ref, refund: paid };
    return { kind: 'extend', tx: ref, uriTokenId: eventData, paid };
  }
  if (eventType === EVENT.TERMINATE_LEASE) {
    if (!HASH_RE.test(eventData)) return { kind: 'invalid', event: 'terminate', reason: 'event data is not a URIToken id', tx: ref };
    return { kind: 'terminate', tx: ref, uriTokenId: eventData };
  }
  return { kind: 'ignored', reason: `event ${eventType ?? 'none'} is not a tenant request` };
}

/** floor(paid / leaseAmount), exact on decimal strings (EVR amounts carry at most 15 significant digits). */
export function momentsFor(paid: string, leaseAmount: string): number {
  const scale = (s: string): bigint => {
    const [i, f = ''] = s.split('.');
    return BigInt(i!) * 10n ** 18n + BigInt((f + '0'.repeat(18)).slice(0, 18));
  };
  const lease = scale(leaseAmount);
  if (lease <= 0n) return 0;
  return Number(scale(paid) / lease);
}
