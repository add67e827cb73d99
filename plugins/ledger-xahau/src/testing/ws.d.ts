// The few parts of `ws` (installed with xrpl) that the stand-in uses; `ws` ships no types and
// @types/ws is not installed.
declare module 'ws' {
  import type { EventEmitter } from 'node:events';
  export class WebSocket extends EventEmitter {
    static readonly OPEN: number;
    readonly readyState: number;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    terminate(): void;
  }
  export class WebSocketServer extends EventEmitter {
    constructor(options: { host?: string; port?: number });
    readonly clients: Set<WebSocket>;
    address(): { port: number } | string;
    close(cb?: (err?: Error) => void): void;
  }
}
