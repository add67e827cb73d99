import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeForSigning } from 'ripple-binary-codec';
import { deriveAddress, verify } from 'ripple-keypairs';
import { decodeBlob, signTx, txHash, uriTokenId, xahauDefinitions, type HostKey } from '../index.js';

/**
 * A local stand-in for xahaud's WebSocket API: enough of it for the plugin (server_definitions,
 * subscribe/unsubscribe with `accounts` and the `ledger` stream, account_tx with markers,
 * account_info, account_objects (URITokens, per ledger), ledger_entry (URITokens, hook state),
 * ledger_current/ledger_closed, fee, submit, tx, server_info). Ledgers close only when the test
 * says so. Several servers can share one ledger (failover tests). Not a validator: submitted
 * transactions are checked (signature, account, Sequence) and applied; URIToken transactions
 * (mint, sell offer, buy, burn) change the stand-in's URIToken objects as xahaud's URIToken.cpp
 * does, with the same metadata node kinds and tec results; everything else is tesSUCCESS.
 */

/** A URIToken object as `account_objects` lists it. */
export interface Token {
  LedgerEntryType: 'URIToken';
  index: string;
  Owner: string;
  Issuer: string;
  URI: string;
  Flags: number;
  Amount?: unknown;
  Destination?: string;
}

/** What xahaud answers to `server_definitions` (here: the bundled Xahau definitions file). */
const RAW_DEFINITIONS = JSON.parse(readFileSync(new URL('../../../definitions/xahau-definitions.json', import.meta.url), 'utf8')) as Record<string, unknown>;

export interface Entry {
  hash: string;
  tx: Record<string, unknown>;
  meta: Record<string, unknown>;
  ledgerIndex: number;
}

export class StandinLedger {
  readonly definitions = xahauDefinitions();
  validated = 1000;
  readonly ledgers = new Map<number, Entry[]>();
  open: Entry[] = [];
  /** Transactions the host submitted and the stand-in included (decoded). */
  readonly submitted: Entry[] = [];
  readonly accounts = new Map<string, { Sequence: number; MessageKey?: string; Balance: string }>();
  readonly servers = new Set<StandinServer>();
  feeDrops = 12;
  /** When set, `submit` answers tesSUCCESS but the transaction never makes it into a ledger (lost on the way). */
  loseSubmits = false;
  /** Blobs that were lost that way. */
  readonly lost: string[] = [];
  /** URITokens as of the open ledger; `snapshots` keeps them per closed ledger. */
  readonly tokens = new Map<string, Token>();
  readonly snapshots = new Map<number, Map<string, Token>>();
  /** False: act as a server whose URITokenMint takes no Amount (refused as temMALFORMED). */
  mintWithAmount = true;
  /** Hook state entries by ledger index (what `ledger_entry` returns), e.g. the governor's moment base. */
  readonly hookState = new Map<string, string>();

  /** URITokens at a ledger (`validated`, `current`, or an index). */
  tokensAt(ledger: unknown): Map<string, Token> {
    if (ledger === 'current') return this.tokens;
    const index = ledger === undefined || ledger === 'validated' || ledger === 'closed' ? this.validated : Number(ledger);
    return this.snapshots.get(index) ?? new Map();
  }

  /**
   * Applies a URIToken transaction to the open ledger; returns its result and metadata nodes (the
   * URIToken node: CreatedNode on mint, ModifiedNode with PreviousFields on offer and buy,
   * DeletedNode on burn).
   */
  applyUriToken(tx: Record<string, unknown>): { result: string; nodes: Record<string, unknown>[] } {
    const account = String(tx.Account);
    const type = String(tx.TransactionType);
    if (type === 'URITokenMint') {
      const id = uriTokenId(account, String(tx.URI));
      if (this.tokens.has(id)) return { result: 'tecDUPLICATE', nodes: [] };
      const t: Token = { LedgerEntryType: 'URIToken', index: id, Owner: account, Issuer: account, URI: String(tx.URI), Flags: Number(tx.Flags ?? 0) & 1 };
      if (this.mintWithAmount && tx.Amount !== undefined) t.Amount = tx.Amount;
      if (this.mintWithAmount && typeof tx.Destination === 'string') t.Destination = tx.Destination;
      this.tokens.set(id, t);
      return { result: 'tesSUCCESS', nodes: [{ CreatedNode: { LedgerEntryType: 'URIToken', LedgerIndex: id, NewFields: { Owner: t.Owner, Issuer: t.Issuer, URI: t.URI, ...(t.Flags ? { Flags: t.Flags } : {}), ...(t.Amount !== undefined ? { Amount: t.Amount } : {}), ...(t.Destination ? { Destination: t.Destination } : {}) } } }] };
    }
    const id = String(tx.URITokenID ?? '').toUpperCase();
    const t = this.tokens.get(id);
    if (t === undefined) return { result: 'tecNO_ENTRY', nodes: [] };
    const final = (): Record<string, unknown> => ({ Owner: t.Owner, Issuer: t.Issuer, URI: t.URI, Flags: t.Flags, ...(t.Amount !== undefined ? { Amount: t.Amount } : {}), ...(t.Destination ? { Destination: t.Destination } : {}) });
    if (type === 'URITokenBurn') {
      if (t.Owner !== account && !(t.Issuer === account && (t.Flags & 1) === 1)) return { result: 'tecNO_PERMISSION', nodes: [] };
      this.tokens.delete(id);
      return { result: 'tesSUCCESS', nodes: [{ DeletedNode: { LedgerEntryType: 'URIToken', LedgerIndex: id, FinalFields: final() } }] };
    }
    if (type === 'URITokenCreateSellOffer') {
      if (t.Owner !== account) return { result: 'tecNO_PERMISSION', nodes: [] };
      const previous = t.Amount;
      t.Amount = tx.Amount;
      if (typeof tx.Destination === 'string') t.Destination = tx.Destination;
      return { result: 'tesSUCCESS', nodes: [{ ModifiedNode: { LedgerEntryType: 'URIToken', LedgerIndex: id, PreviousFields: previous === undefined ? {} : { Amount: previous }, FinalFields: final() } }] };
    }
    if (type === 'URITokenBuy') {
      if (t.Amount === undefined || (t.Destination !== undefined && t.Destination !== account)) return { result: 'tecNO_PERMISSION', nodes: [] };
      const same = typeof t.Amount === 'string' ? typeof tx.Amount === 'string' : JSON.stringify([(t.Amount as Record<string, unknown>).currency, (t.Amount as Record<string, unknown>).issuer]) === JSON.stringify([(tx.Amount as Record<string, unknown>)?.currency, (tx.Amount as Record<string, unknown>)?.issuer]);
      if (!same) return { result: 'temBAD_CURRENCY', nodes: [] };
      const previous: Record<string, unknown> = { Owner: t.Owner, Amount: t.Amount, ...(t.Destination ? { Destination: t.Destination } : {}) };
      t.Owner = account;
      delete t.Amount;
      delete t.Destination;
      return { result: 'tesSUCCESS', nodes: [{ ModifiedNode: { LedgerEntryType: 'URIToken', LedgerIndex: id, PreviousFields: previous, FinalFields: final() } }] };
    }
    return { result: 'tesSUCCESS', nodes: [] };
  }

  /** A token created by someone else's hook (e.g. the registry's host token offered to the host). */
  mintAs(issuer: string, uriHex: string, offer?: { amount: unknown; destination?: string }): string {
    const id = uriTokenId(issuer, uriHex);
    this.tokens.set(id, { LedgerEntryType: 'URIToken', index: id, Owner: issuer, Issuer: issuer, URI: uriHex, Flags: 1, ...(offer ? { Amount: offer.amount, ...(offer.destination ? { Destination: offer.destination } : {}) } : {}) });
    return id;
  }

  /** A tenant's signed transaction into the open ledger, URIToken effects applied (e.g. an acquire's URITokenBuy). */
  sendAs(key: HostKey, tx: Record<string, unknown>): { hash: string; result: string } {
    const signed = signTx({ Fee: '1000', NetworkID: 21337, Sequence: this.account(key.address).Sequence++, Account: key.address, ...tx }, key, this.definitions);
    const applied = String(tx.TransactionType).startsWith('URIToken') ? this.applyUriToken(signed.tx) : { result: 'tesSUCCESS', nodes: [] };
    if (applied.result.startsWith('tem')) return { hash: signed.hash, result: applied.result };
    const delivered = applied.result === 'tesSUCCESS' && tx.TransactionType === 'Payment' ? { delivered_amount: tx.Amount } : {};
    this.inject(signed.tx, { TransactionResult: applied.result, AffectedNodes: applied.nodes, ...delivered }, signed.hash);
    return { hash: signed.hash, result: applied.result };
  }

  account(address: string): { Sequence: number; MessageKey?: string; Balance: string } {
    let a = this.accounts.get(address);
    if (a === undefined) this.accounts.set(address, (a = { Sequence: 1, Balance: '100000000' }));
    return a;
  }

  /** Adds a transaction from elsewhere (a tenant) to the open ledger; returns its hash. */
  inject(tx: Record<string, unknown>, meta: Record<string, unknown> = {}, hash?: string): string {
    const h = hash ?? txHash(Buffer.from(JSON.stringify(tx)).toString('hex'));
    this.open.push({ hash: h, tx, meta: { TransactionResult: 'tesSUCCESS', AffectedNodes: [], ...meta }, ledgerIndex: 0 });
    return h;
  }

  /** Closes the open ledger: it is validated at once and published to every server's subscribers. */
  close(): number {
    const index = ++this.validated;
    const entries = this.open.map((e, i) => ({ ...e, ledgerIndex: index, meta: { ...e.meta, TransactionIndex: i } }));
    this.open = [];
    this.ledgers.set(index, entries);
    this.snapshots.set(index, new Map([...this.tokens].map(([k, v]) => [k, { ...v }])));
    for (const s of this.servers) s.publish(index, entries);
    return index;
  }

  find(hash: string): Entry | undefined {
    for (const entries of this.ledgers.values()) for (const e of entries) if (e.hash === hash) return e;
    return undefined;
  }

  submit(blob: string): Record<string, unknown> {
    const tx = decodeBlob(blob, this.definitions);
    const hash = txHash(blob);
    if (this.find(hash) !== undefined || this.open.some((e) => e.hash === hash)) return { engine_result: 'tefALREADY', engine_result_message: 'already applied' };
    const pub = String(tx.SigningPubKey ?? '');
    const unsigned = { ...tx };
    delete unsigned.TxnSignature;
    if (deriveAddress(pub) !== tx.Account || !verify(encodeForSigning(unsigned, this.definitions), String(tx.TxnSignature), pub)) return { engine_result: 'temBAD_SIGNATURE', engine_result_message: 'bad signature' };
    const acct = this.account(String(tx.Account));
    if (Number(tx.Sequence) < acct.Sequence) return { engine_result: 'tefPAST_SEQ', engine_result_message: 'past sequence' };
    if (Number(tx.Sequence) > acct.Sequence) return { engine_result: 'terPRE_SEQ', engine_result_message: 'future sequence' };
    if (Number(tx.LastLedgerSequence) <= this.validated) return { engine_result: 'tefMAX_LEDGER', engine_result_message: 'expired' };
    if (this.loseSubmits) {
      this.lost.push(blob);
      return { engine_result: 'tesSUCCESS', engine_result_message: 'applied (and lost by the stand-in)' };
    }
    if (!this.mintWithAmount && tx.TransactionType === 'URITokenMint' && tx.Amount !== undefined) return { engine_result: 'temMALFORMED', engine_result_message: 'malformed transaction' };
    const applied = String(tx.TransactionType).startsWith('URIToken') ? this.applyUriToken(tx) : { result: 'tesSUCCESS', nodes: [] };
    // tem: refused before it reaches a ledger (no Sequence used), as xahaud does.
    if (applied.result.startsWith('tem')) return { engine_result: applied.result, engine_result_message: 'malformed' };
    acct.Sequence++;
    const entry: Entry = { hash, tx, meta: { TransactionResult: applied.result, AffectedNodes: applied.nodes, ...(typeof tx.Amount !== 'undefined' && tx.TransactionType === 'Payment' ? { delivered_amount: tx.Amount } : {}) }, ledgerIndex: 0 };
    this.open.push(entry);
    this.submitted.push(entry);
    return { engine_result: 'tesSUCCESS', engine_result_message: 'applied', tx_json: { ...tx, hash } };
  }

  /** Accounts a transaction touches, as rippled's `accounts` subscription sees them. */
  static touched(e: Entry): Set<string> {
    const out = new Set<string>();
    for (const k of ['Account', 'Destination']) if (typeof e.tx[k] === 'string') out.add(e.tx[k] as string);
    for (const n of (e.meta.AffectedNodes ?? []) as Record<string, Record<string, Record<string, unknown>>>[]) {
      for (const node of Object.values(n)) for (const f of [node.PreviousFields, node.FinalFields, node.NewFields]) for (const k of ['Owner', 'Account', 'Issuer']) if (typeof f?.[k] === 'string') out.add(f[k] as string);
    }
    return out;
  }
}

export class StandinServer {
  private constructor(
    readonly ledger: StandinLedger,
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {}

  private readonly subs = new Map<WebSocket, { accounts: Set<string>; ledger: boolean }>();
  /** Requests seen, by command (what the plugin asked). */
  readonly commands: string[] = [];

  static async start(ledger: StandinLedger, port = 0): Promise<StandinServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    await once(wss, 'listening');
    const addr = wss.address();
    const s = new StandinServer(ledger, wss, `ws://127.0.0.1:${typeof addr === 'string' ? 0 : addr.port}`);
    ledger.servers.add(s);
    wss.on('connection', (ws: WebSocket) => {
      s.subs.set(ws, { accounts: new Set(), ledger: false });
      ws.on('message', (data: Buffer) => s.onRequest(ws, String(data)));
      ws.on('close', () => s.subs.delete(ws));
    });
    return s;
  }

  get connections(): number {
    return this.subs.size;
  }

  /** Cuts every client off (they see a close). */
  dropConnections(): void {
    for (const ws of this.subs.keys()) ws.terminate();
  }

  async stop(): Promise<void> {
    this.ledger.servers.delete(this);
    this.dropConnections();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  publish(index: number, entries: Entry[]): void {
    for (const [ws, sub] of this.subs) {
      if (sub.ledger) ws.send(JSON.stringify({ type: 'ledgerClosed', ledger_index: index, ledger_hash: index.toString(16).padStart(64, '0').toUpperCase(), ledger_time: Math.floor(Date.now() / 1000) - 946684800, txn_count: entries.length }));
    }
    for (const e of entries) {
      const touched = StandinLedger.touched(e);
      for (const [ws, sub] of this.subs) {
        if (![...sub.accounts].some((a) => touched.has(a))) continue;
        ws.send(JSON.stringify({ type: 'transaction', validated: true, status: 'closed', engine_result: e.meta.TransactionResult, engine_result_code: 0, ledger_index: index, ledger_hash: index.toString(16).padStart(64, '0').toUpperCase(), transaction: { ...e.tx, hash: e.hash }, meta: e.meta }));
      }
    }
  }

  private onRequest(ws: WebSocket, text: string): void {
    const req = JSON.parse(text) as Record<string, unknown>;
    const command = String(req.command);
    this.commands.push(command);
    const ok = (result: Record<string, unknown>): void => ws.send(JSON.stringify({ id: req.id, type: 'response', status: 'success', result }));
    const fail = (error: string, message: string): void => ws.send(JSON.stringify({ id: req.id, type: 'response', status: 'error', error, error_message: message }));
    const L = this.ledger;
    switch (command) {
      case 'server_info':
        return ok({ info: { server_state: 'full', network_id: 21337, validated_ledger: { seq: L.validated } } });
      case 'server_definitions':
        return ok(RAW_DEFINITIONS);
      case 'subscribe':
      case 'unsubscribe': {
        const sub = this.subs.get(ws)!;
        for (const a of (req.accounts ?? []) as string[]) command === 'subscribe' ? sub.accounts.add(a) : sub.accounts.delete(a);
        if (((req.streams ?? []) as string[]).includes('ledger')) sub.ledger = command === 'subscribe';
        return ok(command === 'subscribe' && sub.ledger ? { ledger_index: L.validated } : {});
      }
      case 'ledger_current':
        return ok({ ledger_current_index: L.validated + 1 });
      case 'ledger_closed':
        return ok({ ledger_index: L.validated, ledger_hash: L.validated.toString(16).padStart(64, '0') });
      case 'fee':
        return ok({ drops: { base_fee: String(L.feeDrops), minimum_fee: '10', open_ledger_fee: String(L.feeDrops) }, ledger_current_index: L.validated + 1 });
      case 'account_info': {
        const a = L.accounts.get(String(req.account));
        if (a === undefined) return fail('actNotFound', 'Account not found.');
        return ok({ account_data: { Account: req.account, ...a }, validated: req.ledger_index === 'validated' });
      }
      case 'submit':
        return ok(L.submit(String(req.tx_blob)));
      case 'tx': {
        const hash = String(req.transaction).toUpperCase();
        const e = L.find(hash);
        if (e !== undefined) return ok({ ...e.tx, hash, ledger_index: e.ledgerIndex, meta: e.meta, validated: true });
        const open = L.open.find((x) => x.hash === hash);
        if (open !== undefined) return ok({ ...open.tx, hash, validated: false });
        return fail('txnNotFound', 'Transaction not found.');
      }
      case 'account_objects': {
        const account = String(req.account);
        if (req.type !== undefined && req.type !== 'uri_token') return ok({ account, account_objects: [] });
        const objects = [...L.tokensAt(req.ledger_index).values()].filter((t) => t.Owner === account).map((t) => ({ ...t }));
        return ok({ account, account_objects: objects, ledger_index: req.ledger_index === 'current' ? L.validated + 1 : req.ledger_index === undefined || req.ledger_index === 'validated' ? L.validated : Number(req.ledger_index), validated: req.ledger_index !== 'current' });
      }
      case 'ledger_entry': {
        const index = String(req.index ?? '').toUpperCase();
        const state = L.hookState.get(index);
        if (state !== undefined) return ok({ index, node: { LedgerEntryType: 'HookState', HookStateData: state, index }, validated: true });
        const token = L.tokensAt(req.ledger_index).get(index);
        if (token !== undefined) return ok({ index, node: { ...token }, validated: true });
        return fail('entryNotFound', 'Entry not found.');
      }
      case 'account_tx': {
        const account = String(req.account);
        const min = Number(req.ledger_index_min ?? -1) < 0 ? 0 : Number(req.ledger_index_min);
        const limit = Number(req.limit ?? 200);
        const marker = req.marker as { ledger: number; seq: number } | undefined;
        const all: Entry[] = [];
        for (const [index, entries] of [...L.ledgers.entries()].sort((a, b) => a[0] - b[0])) if (index >= min) for (const e of entries) if (StandinLedger.touched(e).has(account)) all.push(e);
        const start = marker === undefined ? 0 : all.findIndex((e) => e.ledgerIndex > marker.ledger || (e.ledgerIndex === marker.ledger && Number(e.meta.TransactionIndex) >= marker.seq));
        const page = start < 0 ? [] : all.slice(start, start + limit);
        const rest = start < 0 ? undefined : all[start + limit];
        return ok({
          account,
          ledger_index_min: min,
          ledger_index_max: L.validated,
          limit,
          transactions: page.map((e) => ({ tx: { ...e.tx, hash: e.hash, ledger_index: e.ledgerIndex }, meta: e.meta, validated: true })),
          ...(rest !== undefined ? { marker: { ledger: rest.ledgerIndex, seq: Number(rest.meta.TransactionIndex) } } : {}),
        });
      }
      default:
        return fail('unknownCmd', `the stand-in does not know ${command}`);
    }
  }
}
