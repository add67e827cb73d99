/** Messages between the tunnel benchmark and its client worker process (lib/tunnel-client.ts). */

export interface Target {
  port: number;
  /** Sent as the `Host:` of the request head (the router routes by it; the others ignore it). */
  name: string;
}

export type ClientRequest =
  | { op: 'stream'; target: Target; direction: 'up' | 'down'; connections: number; seconds: number }
  | { op: 'latency'; target: Target; count: number }
  | { op: 'idleOpen'; target: Target; count: number; parallel: number }
  | { op: 'idleClose' }
  | { op: 'exit' };

export type ToClient = ClientRequest & { id: number };

export interface StreamResult {
  /** Payload bytes (after the head) moved by all connections together. */
  bytes: number;
  /** Window the figure is over: upload, first byte written → the sink's count received; download, head sent → deadline. */
  seconds: number;
  gbitPerSecond: number;
  /** Per connection, Gbit/s (fairness across parallel connections). */
  perConnection: number[];
  errors: number;
  firstError?: string;
  /** Upload only: connections whose sink count differed from the bytes written. */
  countMismatches?: number;
}

export interface LatencyResult {
  completed: number;
  errors: number;
  firstError?: string;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export interface IdleOpenResult {
  opened: number;
  errors: number;
  firstError?: string;
  seconds: number;
}

export type ClientResult = StreamResult | LatencyResult | IdleOpenResult | { closed: number } | null;

export type FromClient =
  | { id: number; ok: true; result: ClientResult }
  | { id: number; ok: false; error: string };
