import type { StoreCapability } from '@plexus/core';

type Redis = StoreCapability['redis'];

/**
 * What the plugin remembers in the store, per host account, so that a restart (or a second
 * connection) never answers a request twice:
 * - `cursor`: the ledger to replay `account_tx` from (inclusive; everything before it is handled);
 * - `req:<hash>`: one record per tenant request, from `handling` to `replied`, holding the handler's
 *   result and the signed reply (so a crash between "handled" and "validated" resubmits the same reply);
 * - `lease:<uriTokenId>`: the lease behind a lease slot token (for extend / terminate);
 * - `heartbeat`: the last heartbeat (unix ms and tx hash, the moment it was for and when it was due);
 * - `burn`: lease slot tokens whose lease ended (terminate, expiry, refused acquire), to burn;
 * - `slottx`: the slot transaction in flight (signed), so that a restart resubmits it instead of
 *   minting a second token for the same slot;
 * - `slotledger`: the ledger of the latest validated slot transaction, by this process or an earlier
 *   one: slot passes read the host's tokens at a ledger no older, so that a token minted just
 *   before a restart is never taken for a missing one (and its slot minted twice);
 * - `registration`: the host registration's progress (payment hash, token id).
 */

export type RequestStatus = 'handling' | 'handled' | 'replying' | 'replied' | 'ignored';

export interface RequestRecord {
  status: RequestStatus;
  kind: string;
  ledgerIndex: number;
  /** The reply as decided (unsigned tx), once the handler answered or the request was refused. */
  reply?: Record<string, unknown>;
  /** Signed reply in flight: blob, hash, LastLedgerSequence. */
  signed?: { blob: string; hash: string; lastLedger: number };
  /** Final result of the reply (tesSUCCESS, ...). */
  result?: string;
  note?: string;
}

export interface LeaseRecord {
  leaseId: string;
  tenantAccount: string;
  tenantKey: string;
  leaseAmount: string;
  evrIssuer: string;
  /** The lease slot (index in the token's URI). */
  leaseIndex?: number;
  /** Unix ms the lease ends unless extended (the host's answer). */
  expiresAt?: number;
}

export interface HeartbeatRecord {
  at: number;
  hash: string;
  moment?: number;
  /** Unix ms the heartbeat was planned for (moment start + jitter). */
  due?: number;
}

export interface SlotTxRecord {
  tx: Record<string, unknown>;
  blob: string;
  hash: string;
  lastLedger: number;
}

export interface RegistrationRecord {
  /** The registration payment's hash, once signed. */
  payment?: string;
  paymentLedger?: number;
  /** The registration token, once bought. */
  token?: string;
  done?: boolean;
}

export class XahauState {
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    account: string,
  ) {
    this.prefix = `plexus:xahau:${account}:`;
  }

  async cursor(): Promise<number | undefined> {
    const v = await this.redis.get(this.prefix + 'cursor');
    return v === null ? undefined : Number(v);
  }

  /** Moves the cursor forward only. */
  async advanceCursor(ledger: number): Promise<void> {
    const cur = await this.cursor();
    if (cur === undefined || ledger > cur) await this.redis.set(this.prefix + 'cursor', String(ledger));
  }

  async request(hash: string): Promise<RequestRecord | undefined> {
    const v = await this.redis.hget(this.prefix + 'req', hash);
    return v === null ? undefined : (JSON.parse(v) as RequestRecord);
  }

  async putRequest(hash: string, record: RequestRecord): Promise<void> {
    await this.redis.hset(this.prefix + 'req', hash, JSON.stringify(record));
  }

  /** Requests whose reply is not yet validated (after a restart: resubmit or re-sign). */
  async unfinished(): Promise<[string, RequestRecord][]> {
    const all = await this.redis.hgetall(this.prefix + 'req');
    return Object.entries(all)
      .map(([h, v]) => [h, JSON.parse(v) as RequestRecord] as [string, RequestRecord])
      .filter(([, r]) => r.status === 'handled' || r.status === 'replying' || r.status === 'handling')
      .sort((a, b) => a[1].ledgerIndex - b[1].ledgerIndex);
  }

  async counts(): Promise<Record<RequestStatus, number>> {
    const out: Record<RequestStatus, number> = { handling: 0, handled: 0, replying: 0, replied: 0, ignored: 0 };
    for (const v of Object.values(await this.redis.hgetall(this.prefix + 'req'))) out[(JSON.parse(v) as RequestRecord).status]++;
    return out;
  }

  async lease(uriTokenId: string): Promise<LeaseRecord | undefined> {
    const v = await this.redis.hget(this.prefix + 'lease', uriTokenId);
    return v === null ? undefined : (JSON.parse(v) as LeaseRecord);
  }

  async putLease(uriTokenId: string, record: LeaseRecord): Promise<void> {
    await this.redis.hset(this.prefix + 'lease', uriTokenId, JSON.stringify(record));
  }

  async dropLease(uriTokenId: string): Promise<void> {
    await this.redis.hdel(this.prefix + 'lease', uriTokenId);
  }

  async leases(): Promise<Map<string, LeaseRecord>> {
    const all = await this.redis.hgetall(this.prefix + 'lease');
    return new Map(Object.entries(all).map(([id, v]) => [id, JSON.parse(v) as LeaseRecord]));
  }

  async heartbeat(): Promise<HeartbeatRecord | undefined> {
    const v = await this.redis.get(this.prefix + 'heartbeat');
    return v === null ? undefined : (JSON.parse(v) as HeartbeatRecord);
  }

  async putHeartbeat(record: HeartbeatRecord): Promise<void> {
    await this.redis.set(this.prefix + 'heartbeat', JSON.stringify(record));
  }

  async toBurn(): Promise<string[]> {
    return this.redis.smembers(this.prefix + 'burn');
  }

  async markBurn(uriTokenId: string): Promise<void> {
    await this.redis.sadd(this.prefix + 'burn', uriTokenId);
  }

  async burned(uriTokenId: string): Promise<void> {
    await this.redis.srem(this.prefix + 'burn', uriTokenId);
  }

  async slotTx(): Promise<SlotTxRecord | undefined> {
    const v = await this.redis.get(this.prefix + 'slottx');
    return v === null ? undefined : (JSON.parse(v) as SlotTxRecord);
  }

  async putSlotTx(r: SlotTxRecord | undefined): Promise<void> {
    if (r === undefined) await this.redis.del(this.prefix + 'slottx');
    else await this.redis.set(this.prefix + 'slottx', JSON.stringify(r));
  }

  async slotLedger(): Promise<number> {
    const v = await this.redis.get(this.prefix + 'slotledger');
    return v === null ? 0 : Number(v);
  }

  /** Moves forward only. */
  async raiseSlotLedger(ledger: number): Promise<void> {
    if (ledger > (await this.slotLedger())) await this.redis.set(this.prefix + 'slotledger', String(ledger));
  }

  async registration(): Promise<RegistrationRecord> {
    const v = await this.redis.get(this.prefix + 'registration');
    return v === null ? {} : (JSON.parse(v) as RegistrationRecord);
  }

  async putRegistration(r: RegistrationRecord): Promise<void> {
    await this.redis.set(this.prefix + 'registration', JSON.stringify(r));
  }
}
