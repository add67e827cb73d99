import type { Libp2p } from 'libp2p';
import type { Connection, Stream } from '@libp2p/interface';
import { PlexusError } from '../errors.js';
import type { Logger } from '../logger.js';
import { hostKeyOf } from '../p2p/host-key.js';
import { FrameDecoder, encodeFrame } from './frame.js';
import { FrameBudget } from './frame-budget.js';
import { type RateLimit, RateLimiter, ReplayCache, admitRequestAuth, parseRequestAuth, signatureInvalid } from './auth.js';
import { verifyHex } from '../crypto/ed25519.js';
import { checkParamsJson } from './json-guard.js';
import type { ReplayWindow } from './replay-window.js';
import { isUnavailableError } from './unavailable.js';
import { VerifyPool, type VerifyPoolStats, defaultVerifyThreads } from './verify-pool.js';
import { parseParams, protocolId, type RpcMethods, type RpcResponseFrame } from './types.js';
import type { Counter, Histogram, PluginMetrics } from '../metrics.js';
import type { ServedMethod } from '../plugin.js';

const MiB = 1024 * 1024;

/** Limits of an RpcServer; a node takes them from `node.rpc` (defaults in config/node-schema.ts). */
export interface RpcServerOptions {
  maxFrameBytes: number;
  /** Largest accepted age of a signed request, in ms. */
  maxClockSkewMs: number;
  /** Largest accepted lead of a signed request over our clock, in ms. Default min(5 s, maxClockSkewMs). */
  maxForwardSkewMs?: number;
  /** Per-peer-id token bucket. */
  rateLimit: RateLimit;
  /** Per remote address (IPv4, IPv6 /64) token bucket, since peer ids are free. Default: none. */
  hostRateLimit?: RateLimit;
  /** Requests handled at once on one stream; further frames wait (the stream is paused). */
  maxInFlightPerStream: number;
  /**
   * Requests being answered at once on the whole node. Beyond it a request is refused at once with
   * ERR_BUSY, before its signature is checked, so an overloaded node spends its time on the
   * requests it can still answer. One address (IPv4, IPv6 /64) may hold at most half of them, so
   * a flood from one place leaves room for everyone else. Default: unbounded.
   */
  maxPendingRequests?: number;
  /** Inbound streams of one protocol per connection. Default 16. */
  maxStreamsPerProtocol?: number;
  /** Bytes of unfinished frames one connection may hold. Default max(2 MiB, maxFrameBytes + 4). */
  maxBufferedBytesPerConnection?: number;
  /** Bytes of unfinished frames all connections may hold. Default 32 MiB (at least the above). */
  maxBufferedBytes?: number;
  /** A frame must be complete this long after its first byte. Default 10 s. */
  frameTimeoutMs?: number;
  /** Persisted replay record (a node's data dir); default: in memory, nothing before construction accepted. */
  replayWindow?: ReplayWindow;
  /** Where request counts and latencies go (`plexus_rpc_*`); default: nowhere. */
  metrics?: PluginMetrics;
  /**
   * Threads that verify request signatures beside the event loop; 0 verifies on the event loop.
   * Default 0, on the event loop (`defaultVerifyThreads`, which says why).
   */
  verifyThreads?: number;
}

/** Latency buckets of RPC handlers, in seconds: a store read is ~0.2 ms, a signed write a few ms. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

type RequestId = number | string | null;

/** Per-code counters; `plexus status` and metrics read them. */
export interface RpcStats {
  requests: number;
  /** Requests being answered now, and their bound (`rpc.maxPendingRequests`; absent: unbounded). */
  pending: number;
  maxPending?: number;
  errors: Record<string, number>;
  /** Present when signatures are verified on threads. */
  verifyPool?: VerifyPoolStats;
}

/**
 * Serves plugin methods over libp2p. One stream carries many requests, answered by id, possibly
 * out of order. Every failure of one request is answered with a coded error on that request; an
 * oversize frame closes the stream (the framing cannot resynchronise), and a connection whose
 * unfinished frames exceed their byte budget or deadline is closed. Nothing a peer sends can throw
 * out of a handler into libp2p.
 */
export class RpcServer {
  private readonly replay = new ReplayCache();
  private readonly limiter: RateLimiter;
  /** Requests being answered per remote address, for the per-address share of maxPendingRequests. */
  private readonly pendingByHost = new Map<string, number>();
  private readonly hostLimiter: RateLimiter;
  private readonly budget: FrameBudget<Connection>;
  private readonly startedAt = Date.now();
  private lastUnavailableLog = 0;
  readonly stats: RpcStats = { requests: 0, pending: 0, errors: {} };
  private readonly served = new Map<string, { plugin: string; methods: RpcMethods }>();
  private readonly requestsTotal: Counter<'plugin' | 'method' | 'code'> | undefined;
  private readonly latency: Histogram<'plugin' | 'method'> | undefined;
  private readonly verifyPool: VerifyPool | undefined;

  constructor(
    private readonly libp2p: Libp2p,
    private readonly options: RpcServerOptions,
    private readonly log: Logger,
  ) {
    this.limiter = new RateLimiter(options.rateLimit);
    const stats = this.stats;
    this.requestsTotal = options.metrics?.counter({
      name: 'rpc_requests_total',
      help: 'RPC requests answered, by plugin, method and result code (OK or the error code)',
      labelNames: ['plugin', 'method', 'code'],
    });
    this.latency = options.metrics?.histogram({
      name: 'rpc_request_duration_seconds',
      help: 'Time from a request frame to its answer, by plugin and method',
      labelNames: ['plugin', 'method'],
      buckets: LATENCY_BUCKETS,
    });
    this.hostLimiter = new RateLimiter(options.hostRateLimit ?? { perSecond: 0, burst: 1 });
    if (options.maxPendingRequests !== undefined) this.stats.maxPending = options.maxPendingRequests;
    options.metrics?.gauge({
      name: 'rpc_pending_requests',
      help: 'RPC requests being answered now (bounded by rpc.maxPendingRequests; beyond it ERR_BUSY)',
      collect() {
        this.set(stats.pending);
      },
    });
    const threads = options.verifyThreads ?? defaultVerifyThreads();
    if (threads > 0) {
      this.verifyPool = new VerifyPool(threads, log);
      this.stats.verifyPool = this.verifyPool.stats;
    }
    const perConnection = options.maxBufferedBytesPerConnection ?? Math.max(2 * MiB, options.maxFrameBytes + 4);
    this.budget = new FrameBudget({ perConnection, total: Math.max(options.maxBufferedBytes ?? 32 * MiB, perConnection) }, (connection) => {
      const err = new PlexusError('ERR_BUFFER_LIMIT', 'the node holds too many unfinished frames; this connection held the most');
      this.count(err);
      this.log.debug({ peer: connection.remotePeer.toString(), remote: connection.remoteAddr.toString() }, 'closing the largest holder of unfinished frames');
      connection.abort(err);
    });
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
      maxInboundStreams: this.options.maxStreamsPerProtocol ?? 16,
    });
    this.served.set(protocol, { plugin: plugin ?? pluginOf(protocol), methods });
  }

  async unserve(protocol: string): Promise<void> {
    this.served.delete(protocol);
    await this.libp2p.unhandle(protocol);
  }

  /** Ends the signature threads; signed requests still arriving are answered ERR_UNAVAILABLE. */
  async close(): Promise<void> {
    await this.verifyPool?.close();
  }

  /** The read-only methods served now (for the node's `inspect.readMethods()`). */
  readMethods(): ServedMethod[] {
    return [...this.served].flatMap(([protocol, { plugin, methods }]) =>
      Object.entries(methods)
        .filter(([, m]) => !m.mutating)
        .map(([method, m]) => ({ plugin, protocol, method, params: m.params })),
    );
  }

  /** Runs a served read-only method in process, as an unsigned call over the wire would run. */
  async callRead(protocol: string, method: string, params: unknown, log: Logger = this.log): Promise<unknown> {
    const methods = this.served.get(protocol)?.methods;
    const m = methods !== undefined && Object.hasOwn(methods, method) ? methods[method] : undefined;
    if (m === undefined) throw new PlexusError('ERR_METHOD_UNKNOWN', `unknown method '${method.slice(0, 64)}' on ${protocol.slice(0, 80)}`);
    if (m.mutating) throw new PlexusError('ERR_FORBIDDEN', `${method} changes data: only a signed RPC call may run it`);
    return m.handler(parseParams(m, params ?? {}), { peer: 'local', signer: undefined, method, log });
  }

  private async handleStream(protocol: string, methods: RpcMethods, stream: Stream, connection: Connection, log: Logger): Promise<void> {
    const peer = connection.remotePeer.toString();
    const host = hostKeyOf(connection.remoteAddr);
    const decoder = new FrameDecoder(this.options.maxFrameBytes);
    const charge = this.budget.stream(connection);
    const frameTimeoutMs = this.options.frameTimeoutMs ?? 10_000;
    let frameTimer: NodeJS.Timeout | undefined;
    let writeChain: Promise<void> = Promise.resolve();
    let inFlight = 0;
    let release: (() => void) | undefined;
    const write = (frame: RpcResponseFrame): void => {
      writeChain = writeChain.then(async () => {
        if (stream.writeStatus !== 'writable') return;
        if (!stream.send(encodeFrame(frame))) await stream.onDrain();
      }).catch(() => undefined);
    };
    // The peer holds our memory without finishing: answer why, then drop the whole connection
    // (a new stream would only start over). The abort waits one turn so the answer is written.
    const closeConnection = (err: PlexusError): void => {
      this.count(err);
      log.debug({ peer, remote: connection.remoteAddr.toString(), code: err.code }, 'closing an rpc connection');
      write({ id: null, error: err.toWire() });
      setImmediate(() => connection.abort(err));
    };
    const armDeadline = (restart: boolean): void => {
      if (decoder.pendingBytes === 0 || restart) {
        clearTimeout(frameTimer);
        frameTimer = undefined;
      }
      if (decoder.pendingBytes > 0 && frameTimer === undefined) {
        frameTimer = setTimeout(
          () => closeConnection(new PlexusError('ERR_FRAME_TIMEOUT', `a frame was not completed within ${frameTimeoutMs} ms`, { data: { limit: frameTimeoutMs } })),
          frameTimeoutMs,
        );
      }
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
        const verdict = charge.set(decoder.retainedBytes);
        if (verdict !== 'ok') {
          const limit = verdict === 'connection' ? 'rpc.maxBufferedBytesPerConnection' : 'rpc.maxBufferedBytes';
          closeConnection(new PlexusError('ERR_BUFFER_LIMIT', `unfinished frames on this connection exceed ${limit}`, { data: { limit } }));
          return;
        }
        // A frame completed in this chunk means the unfinished one is new: its deadline starts now.
        armDeadline(frames.length > 0);
        for (const frame of frames) {
          if (!frame.ok) {
            this.count(frame.error);
            write({ id: null, error: frame.error.toWire() });
            continue;
          }
          inFlight++;
          void this.dispatch(protocol, methods, frame.value, peer, host, log).then((response) => {
            write(response);
            inFlight--;
            release?.();
          });
          if (inFlight >= this.options.maxInFlightPerStream) {
            // Stop reading until a request finishes. Pausing stops yamux's window updates, so the
            // peer can send at most one window more; the frame deadline waits while we do.
            clearTimeout(frameTimer);
            frameTimer = undefined;
            // A peer that already closed its side sends nothing more: there is nothing to pause.
            if (stream.readStatus === 'readable') stream.pause();
            await new Promise<void>((resolve) => (release = resolve));
            release = undefined;
            if (stream.readStatus === 'paused') stream.resume();
            armDeadline(true);
          }
        }
      }
      await writeChain;
    } catch (err) {
      log.debug({ err, peer }, 'rpc stream ended with an error');
      stream.abort(err as Error);
    } finally {
      clearTimeout(frameTimer);
      charge.release();
    }
  }

  private async dispatch(protocol: string, methods: RpcMethods, value: unknown, peer: string, host: string, log: Logger): Promise<RpcResponseFrame> {
    const started = performance.now();
    this.hold(host, 1);
    let response: RpcResponseFrame;
    try {
      response = await this.answer(protocol, methods, value, peer, host, log);
    } finally {
      this.hold(host, -1);
    }
    if (this.requestsTotal !== undefined) {
      const name = (value as { method?: unknown } | null)?.method;
      // Only served names become label values: a peer cannot grow the series with made-up methods.
      const method = typeof name === 'string' && Object.hasOwn(methods, name) ? name : '(unknown)';
      const plugin = this.served.get(protocol)?.plugin ?? pluginOf(protocol);
      this.requestsTotal.inc({ plugin, method, code: 'error' in response ? response.error.code : 'OK' });
      this.latency!.observe({ plugin, method }, (performance.now() - started) / 1000);
    }
    return response;
  }

  /** Counts requests being answered, node-wide and per address (`rpc.maxPendingRequests`). */
  private hold(host: string, delta: 1 | -1): void {
    this.stats.pending += delta;
    const now = (this.pendingByHost.get(host) ?? 0) + delta;
    if (now <= 0) this.pendingByHost.delete(host);
    else this.pendingByHost.set(host, now);
  }

  private async answer(protocol: string, methods: RpcMethods, value: unknown, peer: string, host: string, log: Logger): Promise<RpcResponseFrame> {
    this.stats.requests++;
    let id: RequestId = null;
    try {
      const req = value as { id?: unknown; method?: unknown; params?: unknown; auth?: unknown };
      if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new PlexusError('ERR_REQUEST_INVALID', 'a request must be a JSON object');
      if ((typeof req.id === 'number' && Number.isSafeInteger(req.id)) || (typeof req.id === 'string' && req.id.length <= 64)) id = req.id;
      else throw new PlexusError('ERR_REQUEST_INVALID', 'id must be an integer or a string of at most 64 chars');
      if (typeof req.method !== 'string') throw new PlexusError('ERR_REQUEST_INVALID', 'method must be a string');
      if (!this.limiter.take(peer)) throw new PlexusError('ERR_RATE_LIMITED', 'rate limit exceeded for this peer', { data: { scope: 'peer' } });
      if (!this.hostLimiter.take(host)) throw new PlexusError('ERR_RATE_LIMITED', 'rate limit exceeded for this address', { data: { scope: 'host' } });
      // After the limiters, so a flooding peer is told it is the one to slow down (and its refused
      // requests still spend its tokens); before any costly step. Counted in dispatch, this one included.
      const max = this.options.maxPendingRequests;
      if (max !== undefined) {
        if (this.stats.pending > max) {
          throw new PlexusError('ERR_BUSY', `the node is answering ${max} requests already; retry shortly`, { data: { limit: 'rpc.maxPendingRequests', scope: 'node', pending: max } });
        }
        const share = Math.max(1, Math.floor(max / 2));
        if ((this.pendingByHost.get(host) ?? 0) > share) {
          throw new PlexusError('ERR_BUSY', `the node is answering ${share} requests from this address already (half of rpc.maxPendingRequests); retry shortly`, { data: { limit: 'rpc.maxPendingRequests', scope: 'host', pending: share } });
        }
      }
      const method = Object.hasOwn(methods, req.method) ? methods[req.method] : undefined;
      if (method === undefined) throw new PlexusError('ERR_METHOD_UNKNOWN', `unknown method '${req.method.slice(0, 64)}' on ${protocol}`);
      const params = req.params ?? {};
      checkParamsJson(params);
      let signer: string | undefined;
      if (method.mutating) {
        const window = this.options.replayWindow;
        const policy = {
          maxSkewMs: this.options.maxClockSkewMs,
          maxForwardSkewMs: this.options.maxForwardSkewMs ?? Math.min(5000, this.options.maxClockSkewMs),
          notBefore: window?.notBefore ?? this.startedAt,
        };
        const auth = parseRequestAuth({ protocol, audience: this.libp2p.peerId.toString(), method: req.method, params }, req.auth);
        const valid = this.verifyPool === undefined ? verifyHex(auth.message, auth.sig, auth.pubkey) : await this.verifyPool.verify(auth.message, auth.sig, auth.pubkey);
        if (!valid) throw signatureInvalid();
        // Freshness and the nonce after the signature, so a forger cannot burn someone's nonces.
        signer = admitRequestAuth(auth, policy, this.replay);
        // The ts must be on record before the handler runs, so no later run accepts it again.
        await window?.admit(auth.ts);
      }
      const idle = async <T>(event: Promise<T>): Promise<T> => {
        this.hold(host, -1);
        try {
          return await event;
        } finally {
          this.hold(host, 1);
        }
      };
      const result = await method.handler(parseParams(method, params), { peer, signer, method: req.method, log, idle });
      return { id, result: result ?? null };
    } catch (err) {
      return { id, error: this.answerFor(err, peer, log) };
    }
  }

  /** The wire error for a failed request; only a real bug is ERR_INTERNAL and logged as an error. */
  private answerFor(err: unknown, peer: string, log: Logger): { code: string; message: string; data?: Record<string, unknown> } {
    if (err instanceof PlexusError) {
      this.count(err);
      return err.toWire();
    }
    if (isUnavailableError(err)) {
      const unavailable = new PlexusError('ERR_UNAVAILABLE', 'a backing service (the store) is not reachable; retry later');
      this.count(unavailable);
      // An outage fails every request: one line per 10 s is enough to see it.
      if (Date.now() - this.lastUnavailableLog > 10_000) {
        this.lastUnavailableLog = Date.now();
        log.warn({ reason: (err as Error).message }, 'rpc requests fail: a backing service is unavailable');
      }
      return unavailable.toWire();
    }
    this.count(err);
    log.error({ err, peer }, 'rpc handler failed');
    return { code: 'ERR_INTERNAL', message: 'internal error' };
  }

  private count(err: unknown): void {
    const code = err instanceof PlexusError ? err.code : 'ERR_INTERNAL';
    this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
  }
}

/** `phonebook` of `/plexus/phonebook/1`. */
function pluginOf(protocol: string): string {
  return protocol.split('/')[2] ?? protocol;
}
