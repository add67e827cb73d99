import { PlexusError } from '../errors.js';

/**
 * Frames: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON.
 * The decoder is incremental (bytes arrive in arbitrary chunks) and refuses a declared length
 * above `maxFrameBytes` before buffering it, so a hostile peer cannot make us allocate. How many
 * unfinished bytes a peer may make us hold, and for how long, is the RPC server's budget.
 */
export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export function encodeFrame(value: unknown): Uint8Array {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, FRAME_HEADER_BYTES);
  return out;
}

export type DecodedFrame = { ok: true; value: unknown } | { ok: false; error: PlexusError };

const EMPTY = Buffer.alloc(0);

/** Incremental decoder of one stream's frames (requests on a server, answers on a client). */
export class FrameDecoder {
  /** The unfinished frame: `buf[0, len)`, always starting at a frame boundary. */
  private buf: Buffer = EMPTY;
  private len = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /**
   * Feeds bytes; returns the frames completed so far. Throws ERR_FRAME_TOO_LARGE when a header
   * declares an oversize body: the stream cannot be resynchronised after that and must be closed.
   * A body that is not JSON yields `{ok:false}` and decoding continues with the next frame.
   *
   * Complete frames are parsed straight from `data`; only the unfinished tail is copied, into one
   * buffer that grows by doubling up to the declared frame size. Keeping views of the chunks
   * instead would pin the transport's larger read buffers, and one object per chunk would let a
   * peer sending one byte at a time cost far more memory than the bytes it sent.
   */
  push(data: Uint8Array): DecodedFrame[] {
    const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const out: DecodedFrame[] = [];
    let pos = 0;
    if (this.len > 0) {
      if (this.len < FRAME_HEADER_BYTES) {
        pos = Math.min(FRAME_HEADER_BYTES - this.len, input.length);
        this.append(input.subarray(0, pos));
        if (this.len < FRAME_HEADER_BYTES) return out;
      }
      const total = FRAME_HEADER_BYTES + this.declared(this.buf, 0);
      const take = Math.min(total - this.len, input.length - pos);
      this.append(input.subarray(pos, pos + take));
      pos += take;
      if (this.len < total) return out;
      out.push(parseBody(this.buf.subarray(FRAME_HEADER_BYTES, total)));
      this.buf = EMPTY;
      this.len = 0;
    }
    while (input.length - pos >= FRAME_HEADER_BYTES) {
      const total = FRAME_HEADER_BYTES + this.declared(input, pos);
      if (input.length - pos < total) break;
      out.push(parseBody(input.subarray(pos + FRAME_HEADER_BYTES, pos + total)));
      pos += total;
    }
    if (pos < input.length) this.append(input.subarray(pos));
    return out;
  }

  /** Bytes of the unfinished frame received so far. */
  get pendingBytes(): number {
    return this.len;
  }

  /** Memory held for the unfinished frame (at most twice `pendingBytes`); what budgets charge. */
  get retainedBytes(): number {
    return this.len === 0 ? 0 : this.buf.length;
  }

  /** The declared body length at `at`, refused above the limit before any of the body is kept. */
  private declared(src: Buffer, at: number): number {
    const length = src.readUInt32BE(at);
    if (length > this.maxFrameBytes) {
      throw new PlexusError('ERR_FRAME_TOO_LARGE', `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`, {
        data: { limit: this.maxFrameBytes, declared: length },
      });
    }
    return length;
  }

  private append(bytes: Buffer): void {
    const needed = this.len + bytes.length;
    if (needed > this.buf.length) {
      // Never more than the frame being assembled needs: its header is known once 4 bytes are in.
      const ceiling = needed >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + this.declaredOf(bytes) : needed;
      const next = Buffer.allocUnsafe(Math.max(needed, Math.min(Math.max(this.buf.length * 2, 64), ceiling)));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    bytes.copy(this.buf, this.len);
    this.len = needed;
  }

  /** Declared length of the frame `buf[0, len) + bytes` starts (its first 4 bytes are there). */
  private declaredOf(bytes: Buffer): number {
    if (this.len >= FRAME_HEADER_BYTES) return this.buf.readUInt32BE(0);
    const head = Buffer.concat([this.buf.subarray(0, this.len), bytes.subarray(0, FRAME_HEADER_BYTES - this.len)]);
    return this.declared(head, 0);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseBody(body: Buffer): DecodedFrame {
  try {
    return { ok: true, value: JSON.parse(utf8.decode(body)) };
  } catch (err) {
    return { ok: false, error: new PlexusError('ERR_FRAME_MALFORMED', `frame is not valid UTF-8 JSON: ${(err as Error).message}`) };
  }
}
