import { PlexusError } from '../errors.js';

/**
 * Frames: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON.
 * The decoder is incremental (bytes arrive in arbitrary chunks) and refuses a declared length
 * above `maxFrameBytes` before buffering it, so a hostile peer cannot make us allocate.
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

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /**
   * Feeds bytes; returns the frames completed so far. Throws ERR_FRAME_TOO_LARGE when a header
   * declares an oversize body: the stream cannot be resynchronised after that and must be closed.
   * A body that is not JSON yields `{ok:false}` and decoding continues with the next frame.
   */
  push(data: Uint8Array): DecodedFrame[] {
    this.chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.buffered += data.byteLength;
    const out: DecodedFrame[] = [];
    for (;;) {
      if (this.buffered < FRAME_HEADER_BYTES) break;
      const head = this.peek(FRAME_HEADER_BYTES);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrameBytes) {
        throw new PlexusError('ERR_FRAME_TOO_LARGE', `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`, {
          data: { limit: this.maxFrameBytes, declared: length },
        });
      }
      if (this.buffered < FRAME_HEADER_BYTES + length) break;
      const frame = this.take(FRAME_HEADER_BYTES + length).subarray(FRAME_HEADER_BYTES);
      out.push(parseBody(frame));
    }
    return out;
  }

  get pendingBytes(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const frame = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return frame;
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
