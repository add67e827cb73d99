import type { Counter, Histogram, PluginMetrics } from '@plexus/core';
import { RCODE_NAMES } from './wire.js';
import { QTYPE } from './lookup.js';

const QTYPE_NAMES = new Map<number, string>(Object.entries(QTYPE).map(([name, code]) => [code, name]));

/** Answer latency buckets, in seconds: an in-memory answer takes microseconds, a forwarded one milliseconds. */
const BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2];

/**
 * The DNS plugin's Prometheus metrics (`plexus_dns_*`): answers by query type and rcode, and the
 * time from a query's arrival to its answer. Both are read from the answer's own bytes, so the
 * responder stays untouched; types outside the known set count as `other` (a flood of random
 * types cannot grow the series).
 */
export class DnsMetrics {
  private readonly answers: Counter<'qtype' | 'rcode' | 'transport'>;
  private readonly latency: Histogram<'transport'>;

  constructor(metrics: PluginMetrics) {
    this.answers = metrics.counter({ name: 'responses_total', help: 'DNS answers sent, by query type, rcode and transport', labelNames: ['qtype', 'rcode', 'transport'] });
    this.latency = metrics.histogram({ name: 'response_duration_seconds', help: 'Time from a query to its answer, by transport', labelNames: ['transport'], buckets: BUCKETS });
  }

  /** Counts `reply` (a whole DNS message) answered over `transport`, `startedMs` being performance.now() at arrival. */
  observe(reply: Buffer, transport: 'udp' | 'tcp', startedMs: number): void {
    this.latency.observe({ transport }, (performance.now() - startedMs) / 1000);
    if (reply.length < 12) return;
    const rcode = RCODE_NAMES[reply[3]! & 0xf] ?? String(reply[3]! & 0xf);
    this.answers.inc({ qtype: qtypeOf(reply), rcode, transport });
  }
}

/** Name of the question's type, `other` when unknown, `none` without a readable question. */
function qtypeOf(msg: Buffer): string {
  if (msg.readUInt16BE(4) === 0) return 'none';
  let at = 12;
  while (at < msg.length && msg[at] !== 0) {
    if ((msg[at]! & 0xc0) !== 0) return 'none';
    at += msg[at]! + 1;
  }
  if (at + 3 > msg.length) return 'none';
  return QTYPE_NAMES.get(msg.readUInt16BE(at + 1)) ?? 'other';
}
