/** What a charge answers: within budget, or which budget the connection broke. */
export type BudgetVerdict = 'ok' | 'connection' | 'total';

interface Holder<C> {
  owner: C;
  bytes: number;
}

/** Byte budgets of a FrameBudget. */
export interface FrameBudgetLimits {
  /** `rpc.maxBufferedBytesPerConnection`. */
  perConnection: number;
  /** `rpc.maxBufferedBytes`. */
  total: number;
}

/** The share of one stream: it reports how much its decoder retains after every chunk. */
export interface StreamCharge {
  /** Sets this stream's retained bytes; anything but 'ok' means: close the connection. */
  set(bytes: number): BudgetVerdict;
  /** The stream ended: its bytes are returned. */
  release(): void;
}

/**
 * Memory held for unfinished request frames, counted per connection and in total. A frame is
 * buffered until its last byte arrives, so without a budget every stream of every connection
 * may hold up to `maxFrameBytes` for as long as its peer likes to dribble bytes.
 *
 * Over the per-connection budget, the connection that asked is refused (its owner closes it).
 * Over the total, the connections holding the most are evicted first, so a few hoarders cannot
 * keep the small unfinished frames of everyone else from being buffered.
 */
export class FrameBudget<C extends object> {
  private readonly holders = new Map<C, Holder<C>>();
  /** Connections refused or evicted: no longer counted, whatever their streams still report. */
  private readonly dropped = new WeakSet<C>();
  private used = 0;

  /**
   * @param evict closes a connection evicted to make room in the total; its streams then end and
   *   release bytes that are no longer counted.
   */
  constructor(
    private readonly limits: FrameBudgetLimits,
    private readonly evict: (connection: C) => void,
  ) {}

  /** Bytes held over every connection. */
  get totalBytes(): number {
    return this.used;
  }

  /** Bytes one connection holds. */
  bytesOf(connection: C): number {
    return this.holders.get(connection)?.bytes ?? 0;
  }

  /** A charge for one stream of `connection`. */
  stream(connection: C): StreamCharge {
    let mine = 0;
    return {
      set: (bytes) => {
        if (this.dropped.has(connection)) return 'total';
        let h = this.holders.get(connection);
        if (h === undefined) {
          h = { owner: connection, bytes: 0 };
          this.holders.set(connection, h);
        }
        h.bytes += bytes - mine;
        this.used += bytes - mine;
        mine = bytes;
        if (h.bytes > this.limits.perConnection) {
          this.drop(h);
          return 'connection';
        }
        if (this.used > this.limits.total && !this.makeRoom(h)) {
          this.drop(h);
          return 'total';
        }
        if (h.bytes === 0) this.holders.delete(connection);
        return 'ok';
      },
      release: () => {
        const h = this.holders.get(connection);
        if (h !== undefined) {
          h.bytes -= mine;
          this.used -= mine;
          if (h.bytes === 0) this.holders.delete(connection);
        }
        mine = 0;
      },
    };
  }

  /** Evicts the largest other holders until the total fits; false if `asking` is the largest. */
  private makeRoom(asking: Holder<C>): boolean {
    while (this.used > this.limits.total) {
      let largest: Holder<C> | undefined;
      for (const h of this.holders.values()) if (largest === undefined || h.bytes > largest.bytes) largest = h;
      if (largest === undefined || largest === asking) return false;
      this.drop(largest);
      this.evict(largest.owner);
    }
    return true;
  }

  private drop(h: Holder<C>): void {
    this.used -= h.bytes;
    this.holders.delete(h.owner);
    this.dropped.add(h.owner);
  }
}
