import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * yamux v0 (hashicorp/yamux spec.md) over one TCP socket: the multiplexer of the tcprouter
 * reverse tunnel (COMPAT §3). Both ends live here: the router is the yamux server (even stream
 * ids), the tunnel client the yamux client (odd ids).
 *
 * Why our own and not @chainsafe/libp2p-yamux: that library speaks to libp2p's MessageStream,
 * not to a socket; its keep-alive never drops a session whose pings go unanswered (the one thing
 * the original tcprouter lacked and we must do), and a ping answer it did not ask for is fatal
 * there. Here: 12-byte header `[version 0][type][flags u16][stream id u32][length u32]`, big
 * endian; types data/window update/ping/go away; flags SYN/ACK/FIN/RST; every stream starts with
 * a 256 KiB window. Data is handed to a stream as it arrives (no frame is reassembled), and a
 * receive window grows past 256 KiB while a stream keeps consuming it fast, so a window never
 * caps a fast link (up to `maxStreamWindow`; memory per stream is bounded by that window).
 */

export const YAMUX_VERSION = 0;
export const YAMUX_HEADER_BYTES = 12;
/** The window every stream starts with (spec: 256 KiB; hashicorp has no way to negotiate it). */
export const YAMUX_INITIAL_WINDOW = 256 * 1024;

export const FrameType = { Data: 0, WindowUpdate: 1, Ping: 2, GoAway: 3 } as const;
export const Flag = { SYN: 1, ACK: 2, FIN: 4, RST: 8 } as const;
export const GoAwayCode = { Normal: 0, ProtocolError: 1, InternalError: 2 } as const;

/** Largest DATA frame we send (the peer's window permitting): big enough that headers cost nothing. */
const MAX_SEND_FRAME = 256 * 1024;
/** Receive-window growth: a window consumed this fast is too small for the link. */
const GROW_WITHIN_MS = 20;

export interface YamuxOptions {
  /** true on the tunnel client (odd stream ids), false on the router. */
  client: boolean;
  /** Streams open at once, both directions together; a peer's SYN beyond it is answered with RST. Default 1024. */
  maxStreams?: number;
  /** Largest receive window a stream grows to, in bytes. Default 8 MiB. */
  maxStreamWindow?: number;
  /** Ping period; 0 disables. Default 30 s (spec / hashicorp keep-alive). */
  pingIntervalMs?: number;
  /** A ping unanswered this long ends the session. Default 10 s. */
  pingTimeoutMs?: number;
  /** A stream the peer opened (after our ACK is queued). Without it, inbound streams are refused (RST). */
  onStream?: (stream: YamuxStream) => void;
}

export class YamuxProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'YamuxProtocolError';
  }
}

function header(type: number, flags: number, id: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(YAMUX_HEADER_BYTES);
  h[0] = YAMUX_VERSION;
  h[1] = type;
  h.writeUInt16BE(flags, 2);
  h.writeUInt32BE(id, 4);
  h.writeUInt32BE(length, 8);
  return h;
}

/** One multiplexed stream: a Duplex with yamux flow control, half-close (FIN) and reset (RST). */
export class YamuxStream extends Duplex {
  /** What we may still send before the peer grants more. */
  private sendWindow = YAMUX_INITIAL_WINDOW;
  /** What the peer may still send before we grant more. */
  private recvWindow = YAMUX_INITIAL_WINDOW;
  /** The window we keep granting (grows while the stream is fast). */
  private recvTarget = YAMUX_INITIAL_WINDOW;
  private lastGrant = 0;
  private pending: { chunk: Buffer; offset: number; cb: (err?: Error | null) => void } | undefined;
  /** We sent FIN / the peer sent FIN / someone sent RST. */
  private localFin = false;
  private remoteFin = false;
  private resetSeen = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly id: number,
    private readonly session: YamuxSession,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024, writableHighWaterMark: 64 * 1024 });
  }

  /** The peer reset the stream (RST), as opposed to a clean close. */
  get wasReset(): boolean {
    return this.resetSeen;
  }

  // --- from the session ---

  /** Bytes of a DATA frame (possibly a piece of one). False: more than the window allowed. */
  onData(chunk: Buffer): boolean {
    if (chunk.length > this.recvWindow) return false;
    this.recvWindow -= chunk.length;
    this.bytesIn += chunk.length;
    if (this.remoteFin || this.destroyed) return true; // late bytes of a closed stream: dropped
    this.push(chunk);
    this.grant();
    return true;
  }

  onWindow(delta: number): void {
    this.sendWindow += delta;
    if (delta > 0) this.flush();
  }

  onFlags(flags: number): void {
    if (flags & Flag.RST) {
      this.resetSeen = true;
      this.remoteFin = true;
      this.abort(Object.assign(new Error('stream reset by peer'), { code: 'ECONNRESET' }));
      return;
    }
    if (flags & Flag.FIN && !this.remoteFin) {
      this.remoteFin = true;
      this.push(null);
      this.maybeDone();
    }
  }

  /** The session ended under the stream. */
  onSessionEnd(err: Error | undefined): void {
    this.remoteFin = true;
    this.localFin = true;
    this.abort(err ?? Object.assign(new Error('tunnel session closed'), { code: 'ECONNRESET' }));
  }

  /** Destroys with `err` for whoever listens for errors; a stream nobody watches just closes (no uncaught error). */
  private abort(err: Error): void {
    this.destroy(this.listenerCount('error') > 0 ? err : undefined);
  }

  /** The session can take bytes again. */
  flush(): void {
    const p = this.pending;
    if (p === undefined || this.destroyed) return;
    while (p.offset < p.chunk.length) {
      if (this.sendWindow <= 0) return; // resumed by a window update
      if (this.session.congested) return this.session.waitForDrain(this); // resumed in turn on drain
      const n = Math.min(p.chunk.length - p.offset, this.sendWindow, MAX_SEND_FRAME);
      this.session.sendData(this.id, p.chunk.subarray(p.offset, p.offset + n));
      p.offset += n;
      this.sendWindow -= n;
      this.bytesOut += n;
    }
    this.pending = undefined;
    p.cb();
  }

  // --- Duplex ---

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.localFin) return cb(new Error('write after the stream was closed'));
    this.pending = { chunk, offset: 0, cb };
    this.flush();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.localFin) {
      this.localFin = true;
      this.session.sendWindowUpdate(this.id, Flag.FIN, 0);
    }
    cb();
    this.maybeDone();
  }

  override _read(): void {
    this.grant();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (!(this.localFin && this.remoteFin) && !this.resetSeen) {
      this.resetSeen = true;
      this.session.sendWindowUpdate(this.id, Flag.RST, 0);
    }
    const p = this.pending;
    this.pending = undefined;
    this.session.forget(this);
    cb(err);
    p?.cb(err ?? new Error('stream destroyed'));
  }

  /**
   * Grants the peer what the reader has consumed, once at least half the window is due (as
   * hashicorp does). A window consumed within GROW_WITHIN_MS of the last grant doubles.
   */
  private grant(): void {
    if (this.remoteFin || this.destroyed) return;
    const due = this.recvTarget - this.readableLength - this.recvWindow;
    if (due < this.recvTarget / 2) return;
    const now = performance.now();
    let extra = 0;
    if (now - this.lastGrant < GROW_WITHIN_MS && this.recvTarget < this.session.maxStreamWindow) {
      extra = Math.min(this.recvTarget, this.session.maxStreamWindow - this.recvTarget);
      this.recvTarget += extra;
    }
    this.lastGrant = now;
    this.recvWindow += due + extra;
    this.session.sendWindowUpdate(this.id, 0, due + extra);
  }

  /** Both sides sent FIN: the stream is over once the reader has the end. */
  private maybeDone(): void {
    if (this.localFin && this.remoteFin) this.session.forget(this);
  }
}

/** One yamux session over a socket. Emits 'close' (err?) once, when the socket is gone. */
export class YamuxSession extends EventEmitter<{ close: [Error | undefined]; goaway: [number] }> {
  readonly maxStreamWindow: number;
  private readonly maxStreams: number;
  private readonly streams = new Map<number, YamuxStream>();
  /** Streams with bytes to send, stopped by a full socket: resumed in this order on drain (fair turns). */
  private waiting = new Set<YamuxStream>();
  private nextId: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** The DATA frame being received: its stream (undefined: discard) and the bytes still due. */
  private dataStream: YamuxStream | undefined;
  private dataLeft = 0;
  private dataFlags = 0;
  private inData = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private pingDeadline: NodeJS.Timeout | undefined;
  private pingId = 0;
  private pingSentAt = 0;
  private ended = false;
  /** Round-trip time of the last answered ping (ms), or undefined. */
  rtt: number | undefined;
  localGoAway = false;
  remoteGoAway: number | undefined;
  congested = false;
  bytesIn = 0;
  bytesOut = 0;
  streamsOpened = 0;
  streamsRefused = 0;
  pingsAnswered = 0;

  constructor(
    readonly socket: Socket,
    private readonly opts: YamuxOptions,
  ) {
    super();
    this.maxStreams = opts.maxStreams ?? 1024;
    this.maxStreamWindow = Math.max(YAMUX_INITIAL_WINDOW, opts.maxStreamWindow ?? 8 * 1024 * 1024);
    this.nextId = opts.client ? 1 : 2;
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => this.onSocketData(c));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => this.end(err));
    socket.once('close', () => this.end(undefined));
    socket.once('end', () => this.end(undefined));
    const every = opts.pingIntervalMs ?? 30_000;
    if (every > 0) {
      this.pingTimer = setInterval(() => this.ping(), every);
      this.pingTimer.unref();
    }
  }

  /** Open streams. */
  get size(): number {
    return this.streams.size;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Whether a new stream can be opened now (not closing, below maxStreams). */
  get canOpen(): boolean {
    return !this.ended && !this.localGoAway && this.remoteGoAway === undefined && this.streams.size < this.maxStreams && this.nextId < 0xfffffff0;
  }

  /** Opens a stream (SYN now; data may follow at once). @throws when !canOpen. */
  open(): YamuxStream {
    if (!this.canOpen) throw new Error(this.ended ? 'session closed' : 'session cannot open more streams');
    const id = this.nextId;
    this.nextId += 2;
    const s = new YamuxStream(id, this);
    this.streams.set(id, s);
    this.streamsOpened++;
    this.sendWindowUpdate(id, Flag.SYN, 0);
    return s;
  }

  /** Sends a ping now (unless one is out); no answer within pingTimeoutMs ends the session. */
  ping(): void {
    if (this.ended || this.pingDeadline !== undefined) return;
    this.pingId = (this.pingId + 1) >>> 0;
    this.pingSentAt = performance.now();
    this.write(header(FrameType.Ping, Flag.SYN, 0, this.pingId));
    const timeout = this.opts.pingTimeoutMs ?? 10_000;
    this.pingDeadline = setTimeout(() => this.end(Object.assign(new Error(`no ping answer within ${timeout} ms`), { code: 'ETIMEDOUT' })), timeout);
    this.pingDeadline.unref();
  }

  /** Says go away (no new streams), then ends the socket once written; open streams are reset. */
  close(code: number = GoAwayCode.Normal): void {
    if (this.ended) return;
    if (!this.localGoAway) {
      this.localGoAway = true;
      this.write(header(FrameType.GoAway, 0, 0, code));
    }
    this.socket.end();
    this.end(undefined);
  }

  /** Ends the session now. */
  destroy(err?: Error): void {
    this.socket.destroy();
    this.end(err);
  }

  // --- used by streams ---

  sendData(id: number, payload: Buffer): void {
    this.bytesOut += payload.length;
    this.socket.cork();
    this.write(header(FrameType.Data, 0, id, payload.length));
    this.write(payload);
    this.socket.uncork();
  }

  sendWindowUpdate(id: number, flags: number, delta: number): void {
    if (!this.ended) this.write(header(FrameType.WindowUpdate, flags, id, delta));
  }

  waitForDrain(s: YamuxStream): void {
    this.waiting.add(s);
  }

  forget(s: YamuxStream): void {
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
    this.waiting.delete(s);
  }

  // --- internals ---

  private write(buf: Buffer): void {
    if (this.ended || this.socket.destroyed) return;
    if (!this.socket.write(buf)) this.congested = true;
  }

  /**
   * The socket took its buffer: waiting streams send in the order they stopped. One that fills
   * the socket again goes to the back, behind those that did not get a turn, so parallel streams
   * share the link evenly instead of the oldest winning every drain.
   */
  private onDrain(): void {
    this.congested = false;
    const queue = [...this.waiting];
    this.waiting.clear();
    let i = 0;
    for (; i < queue.length && !this.congested; i++) queue[i]!.flush();
    if (i < queue.length || this.waiting.size > 0) this.waiting = new Set([...queue.slice(i), ...this.waiting]);
  }

  private end(err: Error | undefined, cutSocket = err !== undefined): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.pingDeadline);
    if (cutSocket) this.socket.destroy();
    for (const s of [...this.streams.values()]) s.onSessionEnd(err);
    this.streams.clear();
    this.chunks = [];
    this.emit('close', err);
  }

  private fail(reason: string): void {
    if (this.ended) return;
    this.localGoAway = true;
    this.write(header(FrameType.GoAway, 0, 0, GoAwayCode.ProtocolError));
    this.socket.end();
    const err = new YamuxProtocolError(reason);
    // A peer that keeps the socket open after our go-away does not hold it: cut shortly after.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
    this.end(err, false);
  }

  private onSocketData(chunk: Buffer): void {
    if (this.ended) return;
    this.bytesIn += chunk.length;
    let c = chunk;
    while (c.length > 0 && !this.ended) {
      if (this.inData) {
        // Payload bytes go to their stream as they come: no frame is buffered whole.
        const n = Math.min(this.dataLeft, c.length);
        const piece = c.subarray(0, n);
        c = c.subarray(n);
        this.dataLeft -= n;
        const s = this.dataStream;
        if (s !== undefined && n > 0 && !s.onData(piece)) return this.fail(`stream ${s.id} sent more than its window`);
        if (this.dataLeft === 0) {
          this.inData = false;
          this.dataStream = undefined;
          if (s !== undefined) s.onFlags(this.dataFlags);
        }
        continue;
      }
      // A header: gather 12 bytes (they may be split across chunks).
      const need = YAMUX_HEADER_BYTES - this.buffered;
      if (c.length < need) {
        this.chunks.push(c);
        this.buffered += c.length;
        return;
      }
      const h = this.buffered === 0 ? c.subarray(0, YAMUX_HEADER_BYTES) : Buffer.concat([...this.chunks, c.subarray(0, need)]);
      this.chunks = [];
      this.buffered = 0;
      c = c.subarray(need);
      this.onHeader(h);
    }
  }

  private onHeader(h: Buffer): void {
    if (h[0] !== YAMUX_VERSION) return this.fail(`unsupported yamux version ${h[0]}`);
    const type = h[1]!;
    const flags = h.readUInt16BE(2);
    const id = h.readUInt32BE(4);
    const length = h.readUInt32BE(8);
    switch (type) {
      case FrameType.Data:
      case FrameType.WindowUpdate: {
        if (id === 0) return this.fail('stream frame on stream 0');
        const s = this.streamFor(id, flags);
        if (this.ended) return;
        if (type === FrameType.Data) {
          this.inData = length > 0;
          this.dataLeft = length;
          this.dataStream = s;
          this.dataFlags = flags;
          if (length === 0) s?.onFlags(flags);
          return;
        }
        if (s === undefined) return;
        s.onWindow(length);
        s.onFlags(flags);
        return;
      }
      case FrameType.Ping:
        if (flags & Flag.SYN) this.write(header(FrameType.Ping, Flag.ACK, 0, length));
        else if (flags & Flag.ACK && length === this.pingId && this.pingDeadline !== undefined) {
          clearTimeout(this.pingDeadline);
          this.pingDeadline = undefined;
          this.rtt = performance.now() - this.pingSentAt;
          this.pingsAnswered++;
        }
        return;
      case FrameType.GoAway:
        this.remoteGoAway = length;
        this.emit('goaway', length);
        return;
      default:
        return this.fail(`unknown frame type ${type}`);
    }
  }

  /** The stream a frame is for; a SYN opens one. Undefined: a stream already gone (its frame is dropped). */
  private streamFor(id: number, flags: number): YamuxStream | undefined {
    const s = this.streams.get(id);
    if (!(flags & Flag.SYN)) return s;
    if (s !== undefined) {
      this.fail(`stream ${id} opened twice`);
      return undefined;
    }
    const peersId = this.opts.client ? id % 2 === 0 : id % 2 === 1;
    if (!peersId) {
      this.fail(`stream id ${id} has the wrong parity for the peer`);
      return undefined;
    }
    if (this.opts.onStream === undefined || this.localGoAway || this.streams.size >= this.maxStreams) {
      this.streamsRefused++;
      this.write(header(FrameType.WindowUpdate, Flag.RST, id, 0));
      return undefined;
    }
    const stream = new YamuxStream(id, this);
    this.streams.set(id, stream);
    this.streamsOpened++;
    this.write(header(FrameType.WindowUpdate, Flag.ACK, id, 0));
    this.opts.onStream(stream);
    return stream;
  }
}
