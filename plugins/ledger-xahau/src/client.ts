import { EventEmitter } from 'node:events';
import { PlexusError } from '@plexus/core';

/**
 * A rippled/xahaud WebSocket API client over several servers: one connection at a time, the next
 * server in the list when it drops or does not answer. Requests in flight when a connection drops
 * are rejected with ERR_CONNECT; the owner re-subscribes and replays on `connected`.
 *
 * Events: `connected` (url), `disconnected` (url, reason), `transaction` (message), `ledger` (message).
 */
export interface XahauClientOptions {
  /** Per-request timeout. */
  requestTimeoutMs: number;
  /** Wait between two connection attempts after the whole list failed once. */
  reconnectDelayMs: number;
}

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class XahauClient extends EventEmitter {
  private ws: WebSocket | undefined;
  private url: string | undefined;
  private next = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    readonly servers: readonly string[],
    private readonly options: XahauClientOptions,
  ) {
    super();
  }

  /** The server currently connected, if any. */
  get connectedTo(): string | undefined {
    return this.ws?.readyState === WebSocket.OPEN ? this.url : undefined;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ws?.close();
    this.wake?.();
    await this.loop;
  }

  /** Closes the current connection (the client moves to the next server). For operators and tests. */
  dropConnection(): void {
    this.ws?.close();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const url = this.servers[this.next % this.servers.length]!;
      this.next++;
      const closed = await this.connectOnce(url);
      if (this.stopped) break;
      failures = closed === 'never-opened' ? failures + 1 : 0;
      if (failures >= this.servers.length) {
        failures = 0;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.options.reconnectDelayMs);
          this.wake = () => (clearTimeout(t), resolve());
        });
      }
    }
  }

  /** Resolves when the connection ends. */
  private connectOnce(url: string): Promise<'never-opened' | 'closed'> {
    return new Promise((resolve) => {
      let opened = false;
      const ws = new WebSocket(url);
      const openTimer = setTimeout(() => ws.close(), this.options.requestTimeoutMs);
      this.ws = ws;
      this.url = url;
      ws.addEventListener('open', () => {
        clearTimeout(openTimer);
        opened = true;
        this.emit('connected', url);
      });
      ws.addEventListener('message', (ev) => this.onMessage(String(ev.data)));
      ws.addEventListener('error', () => {
        /* followed by close */
      });
      ws.addEventListener('close', (ev) => {
        clearTimeout(openTimer);
        if (this.ws === ws) this.ws = undefined;
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new PlexusError('ERR_CONNECT', `connection to ${url} closed`));
          this.pending.delete(id);
        }
        if (opened) this.emit('disconnected', url, ev.reason || `code ${ev.code}`);
        resolve(opened ? 'closed' : 'never-opened');
      });
    });
  }

  private onMessage(text: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (msg.type === 'response' && typeof msg.id === 'number') {
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.status === 'success') p.resolve((msg.result ?? {}) as Record<string, unknown>);
      else p.reject(new RippledError(String(msg.error ?? 'error'), String(msg.error_message ?? msg.error ?? 'request failed')));
      return;
    }
    if (msg.type === 'transaction') this.emit('transaction', msg);
    else if (msg.type === 'ledgerClosed') this.emit('ledger', msg);
  }

  /** One API request on the current connection. @throws ERR_CONNECT, ERR_TIMEOUT, RippledError */
  request(command: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return Promise.reject(new PlexusError('ERR_CONNECT', 'not connected to any Xahau server'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PlexusError('ERR_TIMEOUT', `${command} got no answer from ${this.url} in ${this.options.requestTimeoutMs} ms`));
      }, this.options.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...params, id, command }));
    });
  }
}

/** An error answer of the server (`error` is rippled's token, e.g. `txnNotFound`, `actNotFound`). */
export class RippledError extends Error {
  constructor(
    readonly error: string,
    message: string,
  ) {
    super(`${error}: ${message}`);
  }
}
