import { createHash } from 'node:crypto';
import { decodeAccountID } from 'xrpl';
import { EVR } from './constants.js';
import { decodeLeaseTokenUri } from './lease-uri.js';
import type { UnsignedTx } from './replies.js';

/**
 * Lease slots, as Evernode hosts keep them (evernode-js-client HostClient.offerLease / expireLease,
 * EvernodeHelpers.getLeases / getUnofferedLeases): one burnable URIToken per free slot, minted by
 * the host with the lease URI and offered for sale at the lease amount in EVR — in one
 * `URITokenMint` with `Amount` (Xahau supports it; no moment where the token exists unoffered), or,
 * where a server refuses that, mint then `URITokenCreateSellOffer` as evernode-js-client does. A tenant buys one to acquire; when the lease ends (terminate, expiry, refused acquire) the
 * host burns the token (the issuer may: tfBurnable) and mints a new one for the slot.
 */

/** tfBurnable: the issuer (host) can burn the token whoever owns it. */
export const TF_BURNABLE = 1;

/** A URIToken ledger entry as `account_objects` lists it. */
export interface UriTokenEntry {
  index: string;
  Owner: string;
  Issuer: string;
  URI: string;
  Flags?: number;
  Amount?: unknown;
  Destination?: string;
}

/** The URIToken's id: SHA-512Half(0x0055 'U' | issuer account id | URI bytes) (xahaud keylet::uritoken). */
export function uriTokenId(issuer: string, uriHex: string): string {
  const h = createHash('sha512');
  h.update(Buffer.from([0x00, 0x55]));
  h.update(Buffer.from(decodeAccountID(issuer)));
  h.update(Buffer.from(uriHex, 'hex'));
  return h.digest('hex').slice(0, 64).toUpperCase();
}

/** A lease slot token of `host` (issued by it, burnable, an `evrlease` URI), with its slot index. */
export function leaseSlotOf(entry: UriTokenEntry, host: string): { id: string; leaseIndex: number; offered: boolean } | undefined {
  if (entry.Issuer !== host || ((entry.Flags ?? 0) & TF_BURNABLE) === 0) return undefined;
  const uri = decodeLeaseTokenUri(entry.URI);
  if (uri === undefined) return undefined;
  return { id: String(entry.index).toUpperCase(), leaseIndex: uri.leaseIndex, offered: entry.Amount !== undefined };
}

interface Common {
  host: string;
  networkId: number;
}

function withNetwork(c: Common, tx: UnsignedTx): UnsignedTx {
  if (c.networkId > 1024) tx.NetworkID = c.networkId;
  return tx;
}

/** Mint; with `offer`, minted already on sale (xahaud's URITokenMint takes Amount, as its URIToken.cpp and Xahau's docs show). */
export function mintTx(c: Common, uriHex: string, offer?: { leaseAmount: string; evrIssuer: string }): UnsignedTx {
  const tx: UnsignedTx = { TransactionType: 'URITokenMint', Account: c.host, URI: uriHex, Flags: TF_BURNABLE };
  if (offer !== undefined) tx.Amount = { currency: EVR, issuer: offer.evrIssuer, value: offer.leaseAmount };
  return withNetwork(c, tx);
}

export function sellOfferTx(c: Common, id: string, leaseAmount: string, evrIssuer: string): UnsignedTx {
  return withNetwork(c, { TransactionType: 'URITokenCreateSellOffer', Account: c.host, URITokenID: id, Amount: { currency: EVR, issuer: evrIssuer, value: leaseAmount } });
}

export function burnTx(c: Common, id: string): UnsignedTx {
  return withNetwork(c, { TransactionType: 'URITokenBurn', Account: c.host, URITokenID: id });
}

/** What to do so that every free slot below `count` has exactly one offered token. */
export type SlotAction = { kind: 'burn'; id: string; why: string } | { kind: 'offer'; id: string; leaseIndex: number } | { kind: 'mint'; leaseIndex: number };

/**
 * Plans one pass. `owned`: the host's URITokens (as of a ledger whose tenant requests are all
 * handled); `leased`: slot index by token id of the leases running now; `toBurn`: tokens of ended
 * leases. A token in `leased` is never burned here, even if the snapshot still shows it owned.
 */
export function planSlots(count: number, host: string, owned: UriTokenEntry[], leased: Map<string, number>, toBurn: Iterable<string>): SlotAction[] {
  const actions: SlotAction[] = [];
  const burning = new Set([...toBurn].map((id) => id.toUpperCase()));
  for (const id of burning) if (!leased.has(id)) actions.push({ kind: 'burn', id, why: 'lease ended' });
  const busy = new Set(leased.values());
  const held = new Set<number>();
  for (const e of owned) {
    const slot = leaseSlotOf(e, host);
    if (slot === undefined || leased.has(slot.id) || burning.has(slot.id)) continue;
    if (slot.leaseIndex >= count) actions.push({ kind: 'burn', id: slot.id, why: 'slot beyond the configured count' });
    else if (busy.has(slot.leaseIndex) || held.has(slot.leaseIndex)) actions.push({ kind: 'burn', id: slot.id, why: 'a second token for the slot' });
    else {
      held.add(slot.leaseIndex);
      if (!slot.offered) actions.push({ kind: 'offer', id: slot.id, leaseIndex: slot.leaseIndex });
    }
  }
  for (let i = 0; i < count; i++) if (!busy.has(i) && !held.has(i)) actions.push({ kind: 'mint', leaseIndex: i });
  return actions;
}

