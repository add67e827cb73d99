import type { Libp2p } from 'libp2p';
import type { Connection, Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { PlexusError } from '../errors.js';
import type { Ed25519KeyPair } from '../crypto/ed25519.js';
import { createP2pNode } from '../p2p/libp2p.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encodeFrame } from './frame.js';
import { signRequest } from './auth.js';
import type { RpcRequestFrame, RpcResponseFrame } from './types.js';

export interface RpcClientOptions {
  /** Key that signs mutating calls. */
  key?: Ed25519KeyPair;
  /** Per-call deadline in ms (default 10 s). */
  timeoutMs?: number;
  /** Reuse a running libp2p node (a plexus node calling a peer); otherwise the client makes its own. */
  libp2p?: Libp2p;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface OpenStream {
  stream: Stream;
  pending: Map<number, Pending>;
}

/**
 * Calls plugin methods on one remote node. Keeps one stream per protocol and pipelines requests
 * on it, matched by id. Signs calls made with `{ signed: true }` with the client's key, bound to the
 * remote PeerId learned from the noise handshake.
 */
export class RpcClient {
  private connection: Connection | undefined;
  private readonly streams = new Map<string, Promise<OpenStream>>();
  private nextId = 1;

  private constructor(
    private readonly libp2p: Libp2p,
    private readonly target: string,
    private readonly options: RpcClientOptions,
    private readonly ownsNode: boolean,
  ) {}

  static async connect(target: string, options: RpcClientOptions = {}): Promise<RpcClient> {
    let ma;
    try {
      ma = multiaddr(target);
    } catch (err) {
      throw new PlexusError('ERR_USAGE', `not a multiaddr: '${target}' (expected e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...)`, { cause: err });
    }
    const node = options.libp2p ?? (await createP2pNode({ listen: [], oneShot: true }));
    const client = new RpcClient(node, target, options, options.libp2p === undefined);
    try {
      client.connection = await node.dial(ma, { signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
    } catch (err) {
      await client.close();
      throw new PlexusError('ERR_CONNECT', `cannot reach ${target}: ${(err as Error).message}`, { cause: err });
    }
    return client;
  }

  /** PeerId of the remote node (authenticated by noise). */
  get remotePeer(): string {
    if (this.connection === undefined) throw new PlexusError('ERR_CONNECT', 'not connected');
    return this.connection.remotePeer.toString();
  }

  async call<T = unknown>(protocol: string, method: string, rawParams: unknown, opts: { signed?: boolean } = {}): Promise<T> {
    // The server reads absent/null params as {}; sign exactly what it will verify.
    const params = rawParams ?? {};
    const open = await this.stream(protocol);
    const id = this.nextId++;
    const frame: RpcRequestFrame = { id, method, params };
    if (opts.signed === true) {
      if (this.options.key === undefined) throw new PlexusError('ERR_USAGE', `${method} must be signed but the client has no key`);
      frame.auth = signRequest({ protocol, audience: this.remotePeer, method, params }, this.options.key);
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        open.pending.delete(id);
        reject(new PlexusError('ERR_TIMEOUT', `${method} got no answer within ${this.options.timeoutMs ?? 10_000} ms`));
      }, this.options.timeoutMs ?? 10_000);
      open.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      if (!open.stream.send(encodeFrame(frame))) void open.stream.onDrain().catch(() => undefined);
    });
  }

  /** Sends raw bytes on a protocol stream; for tests of how servers treat hostile peers. */
  async sendRaw(protocol: string, bytes: Uint8Array): Promise<void> {
    const open = await this.stream(protocol);
    if (!open.stream.send(bytes)) await open.stream.onDrain();
  }

  async close(): Promise<void> {
    for (const s of this.streams.values()) {
      const open = await s.catch(() => undefined);
      if (open !== undefined) await open.stream.close().catch(() => undefined);
    }
    this.streams.clear();
    // A shared libp2p host may carry other clients on the same connection: leave it to its
    // connection manager.
    if (this.ownsNode) await this.libp2p.stop();
  }

  /** Frames answered with id null (protocol-level errors) are delivered here. */
  onOrphanError: ((error: { code: string; message: string }) => void) | undefined;

  /** Every response that matches no pending call (e.g. answers to `sendRaw`) is delivered here. */
  onUnmatched: ((response: RpcResponseFrame) => void) | undefined;

  private stream(protocol: string): Promise<OpenStream> {
    let s = this.streams.get(protocol);
    if (s === undefined) {
      s = this.open(protocol);
      this.streams.set(protocol, s);
      s.catch(() => this.streams.delete(protocol));
    }
    return s;
  }

  private async open(protocol: string): Promise<OpenStream> {
    if (this.connection === undefined || this.connection.status !== 'open') {
      this.connection = await this.libp2p.dial(multiaddr(this.target)).catch((err: Error) => {
        throw new PlexusError('ERR_CONNECT', `cannot reach ${this.target}: ${err.message}`, { cause: err });
      });
    }
    let stream: Stream;
    try {
      stream = await this.connection.newStream(protocol);
    } catch (err) {
      throw new PlexusError('ERR_CONNECT', `${this.target} does not serve ${protocol}: ${(err as Error).message}`, { cause: err });
    }
    const open: OpenStream = { stream, pending: new Map() };
    void this.readLoop(protocol, open);
    return open;
  }

  private async readLoop(protocol: string, open: OpenStream): Promise<void> {
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES * 16);
    let failure: Error = new PlexusError('ERR_CONNECT', `stream ${protocol} closed by the remote node`);
    try {
      for await (const chunk of open.stream) {
        for (const frame of decoder.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())) {
          if (!frame.ok) continue;
          this.deliver(open, frame.value as RpcResponseFrame);
        }
      }
    } catch (err) {
      failure = err instanceof PlexusError ? err : new PlexusError('ERR_CONNECT', `stream ${protocol} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      if (this.streams.get(protocol) !== undefined) this.streams.delete(protocol);
      for (const p of open.pending.values()) {
        clearTimeout(p.timer);
        p.reject(failure);
      }
      open.pending.clear();
    }
  }

  private deliver(open: OpenStream, response: RpcResponseFrame): void {
    const id = typeof response.id === 'number' ? response.id : null;
    const p = id === null ? undefined : open.pending.get(id);
    if (p === undefined) {
      this.onUnmatched?.(response);
      if ('error' in response && response.id === null) this.onOrphanError?.(response.error);
      return;
    }
    open.pending.delete(id as number);
    clearTimeout(p.timer);
    if ('error' in response) {
      p.reject(PlexusError.fromWire(response.error));
    } else {
      p.resolve(response.result);
    }
  }
}
