import type { Libp2p } from 'libp2p';
import type { Connection, Stream } from '@libp2p/interface';
import { PlexusError } from '../errors.js';
import type { Logger } from '../logger.js';
import { FrameDecoder, encodeFrame } from './frame.js';
import { type RateLimit, RateLimiter, ReplayCache, verifyRequestAuth } from './auth.js';
import { parseParams, protocolId, type RpcMethods, type RpcResponseFrame } from './types.js';

export interface RpcServerOptions {
  maxFrameBytes: number;
  maxClockSkewMs: number;
  rateLimit: RateLimit;
  /** Requests handled at once on one stream; further frames wait (backpressure on the peer). */
  maxInFlightPerStream: number;
}

type RequestId = number | string | null;

/** Per-code counters; `plexus status` and metrics read them. */
export interface RpcStats {
  requests: number;
  errors: Record<string, number>;
}

/**
 * Serves plugin methods over libp2p. One stream carries many requests, answered by id, possibly
 * out of order. Every failure of one request is answered with a coded error on that request; only
 * an oversize frame closes the stream (the framing cannot resynchronise). Nothing a peer sends can
 * throw out of a handler into libp2p.
 */
export class RpcServer {
  private readonly replay = new ReplayCache();
  private readonly limiter: RateLimiter;
  private readonly startedAt = Date.now();
  readonly stats: RpcStats = { requests: 0, errors: {} };

  constructor(
    private readonly libp2p: Libp2p,
    private readonly options: RpcServerOptions,
    private readonly log: Logger,
  ) {
    this.limiter = new RateLimiter(options.rateLimit);
  }

  /**
   * Serves `methods` on `protocol`. With `plugin`, the protocol must be that plugin's
   * (`/plexus/<plugin>/<major>`), so one plugin cannot take over another's protocol.
   */
  async serve(protocol: string, methods: RpcMethods, log: Logger = this.log, plugin?: string): Promise<void> {
    if (plugin !== undefined && !new RegExp(`^${protocolId(plugin, 0).slice(0, -1)}[1-9][0-9]{0,5}$`).test(protocol)) {
      throw new PlexusError('ERR_INTERNAL', `plugin '${plugin}' may serve /plexus/${plugin}/<major> only, not '${protocol.slice(0, 80)}'`);
    }
    await this.libp2p.handle(protocol, (stream, connection) => this.handleStream(protocol, methods, stream, connection, log), {
      maxInboundStreams: 64,
    });
  }

  async unserve(protocol: string): Promise<void> {
    await this.libp2p.unhandle(protocol);
  }

  private async handleStream(protocol: string, methods: RpcMethods, stream: Stream, connection: Connection, log: Logger): Promise<void> {
    const peer = connection.remotePeer.toString();
    const decoder = new FrameDecoder(this.options.maxFrameBytes);
    let writeChain: Promise<void> = Promise.resolve();
    let inFlight = 0;
    let release: (() => void) | undefined;
    const write = (frame: RpcResponseFrame): void => {
      writeChain = writeChain.then(async () => {
        if (stream.writeStatus !== 'writable') return;
        if (!stream.send(encodeFrame(frame))) await stream.onDrain();
      }).catch(() => undefined);
    };
    try {
      for await (const chunk of stream) {
        let frames;
        try {
          frames = decoder.push(chunk instanceof Uint8Array ? chunk : chunk.subarray());
        } catch (err) {
          this.count(err);
          write({ id: null, error: (err as PlexusError).toWire() });
          await writeChain;
          await stream.close().catch(() => undefined);
          return;
        }
        for (const frame of frames) {
          if (!frame.ok) {
            this.count(frame.error);
            write({ id: null, error: frame.error.toWire() });
            continue;
          }
          inFlight++;
          void this.dispatch(protocol, methods, frame.value, peer, log).then((response) => {
            write(response);
            inFlight--;
            release?.();
          });
          if (inFlight >= this.options.maxInFlightPerStream) {
            // Stop reading until a request finishes: yamux's window then pushes back on the peer.
            await new Promise<void>((resolve) => (release = resolve));
            release = undefined;
          }
        }
      }
      await writeChain;
    } catch (err) {
      log.debug({ err, peer }, 'rpc stream ended with an error');
      stream.abort(err as Error);
    }
  }

  private async dispatch(protocol: string, methods: RpcMethods, value: unknown, peer: string, log: Logger): Promise<RpcResponseFrame> {
    this.stats.requests++;
    let id: RequestId = null;
    try {
      const req = value as { id?: unknown; method?: unknown; params?: unknown; auth?: unknown };
      if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new PlexusError('ERR_REQUEST_INVALID', 'a request must be a JSON object');
      if ((typeof req.id === 'number' && Number.isSafeInteger(req.id)) || (typeof req.id === 'string' && req.id.length <= 64)) id = req.id;
      else throw new PlexusError('ERR_REQUEST_INVALID', 'id must be an integer or a string of at most 64 chars');
      if (typeof req.method !== 'string') throw new PlexusError('ERR_REQUEST_INVALID', 'method must be a string');
      if (!this.limiter.take(peer)) throw new PlexusError('ERR_RATE_LIMITED', 'rate limit exceeded for this peer');
      const method = Object.hasOwn(methods, req.method) ? methods[req.method] : undefined;
      if (method === undefined) throw new PlexusError('ERR_METHOD_UNKNOWN', `unknown method '${req.method.slice(0, 64)}' on ${protocol}`);
      const params = req.params ?? {};
      let signer: string | undefined;
      if (method.mutating) {
        signer = verifyRequestAuth(
          { protocol, audience: this.libp2p.peerId.toString(), method: req.method, params },
          req.auth,
          { maxSkewMs: this.options.maxClockSkewMs, notBefore: this.startedAt },
          this.replay,
        );
      }
      const result = await method.handler(parseParams(method, params), { peer, signer, method: req.method, log });
      return { id, result: result ?? null };
    } catch (err) {
      this.count(err);
      if (err instanceof PlexusError) return { id, error: err.toWire() };
      log.error({ err, peer }, 'rpc handler failed');
      return { id, error: { code: 'ERR_INTERNAL', message: 'internal error' } };
    }
  }

  private count(err: unknown): void {
    const code = err instanceof PlexusError ? err.code : 'ERR_INTERNAL';
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
  }
}
