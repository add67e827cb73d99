import type { Counter, Histogram, PluginMetrics } from '@plexus/core';
import { RCODE_NAMES } from './wire.js';
import { QTYPE } from './lookup.js';

const QTYPE_NAMES = new Map<number, string>(Object.entries(QTYPE).map(([name, code]) => [code, name]));

/** Answer latency buckets, in seconds: an in-memory answer takes microseconds, a forwarded one milliseconds. */
const BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2];

/** One answer in this many is timed into the latency histogram. */
const LATENCY_SAMPLE = 8;

/**
 * The DNS plugin's Prometheus metrics (`plexus_dns_*`): answers by query type and rcode, and the
 * time from a query's arrival to its answer. Both are read from the answer's own bytes, so the
 * responder stays untouched; types outside the known set count as `other` (a flood of random
 * types cannot grow the series).
 *
 * Cheap on the answer path, which is a few microseconds: a prom-client `inc`/`observe` costs about
 * 0.5 µs each, and counting every answer through them took 22 % off the saturated QPS. So answers
 * are counted in a plain map and added to the counter when it is scraped, and one answer in
 * LATENCY_SAMPLE is timed (the histogram's `_count` is the number of timed answers).
 */
/** What a worker thread counted since it last reported: answers by key, and the timed answers (seconds). */
export interface MetricsDelta {
  counts: [string, number][];
  samples: { udp: number[]; tcp: number[] };
}

export class DnsMetrics {
  /** The histogram on the main thread; undefined in a worker, which keeps samples for `drain`. */
  private readonly latency: Histogram<'transport'> | undefined;
  /** Answers not yet added to `responses_total`, by `transport|qtype|rcode` (bounded: the label sets are). */
  private readonly pending = new Map<string, number>();
  private samples: MetricsDelta['samples'] = { udp: [], tcp: [] };
  private answered = 0;

  /** With `metrics`: the registered series. Without (a worker thread): counts kept for `drain`. */
  constructor(metrics?: PluginMetrics) {
    if (metrics === undefined) return;
    const pending = this.pending;
    metrics.counter({
      name: 'responses_total',
      help: 'DNS answers sent, by query type, rcode and transport',
      labelNames: ['qtype', 'rcode', 'transport'],
      collect(this: Counter<'qtype' | 'rcode' | 'transport'>) {
        for (const [key, n] of pending) {
          const [transport, qtype, rcode] = key.split('|') as [string, string, string];
          this.inc({ qtype, rcode, transport }, n);
        }
        pending.clear();
      },
    });
    this.latency = metrics.histogram({ name: 'response_duration_seconds', help: `Time from a query to its answer, by transport (one answer in ${LATENCY_SAMPLE} is timed)`, labelNames: ['transport'], buckets: BUCKETS });
  }

  /** Counts `reply` (a whole DNS message) answered over `transport`, `startedMs` being performance.now() at arrival. */
  observe(reply: Buffer, transport: 'udp' | 'tcp', startedMs: number): void {
    if (this.answered++ % LATENCY_SAMPLE === 0) {
      const seconds = (performance.now() - startedMs) / 1000;
      if (this.latency !== undefined) this.latency.observe({ transport }, seconds);
      else this.samples[transport].push(seconds);
    }
    if (reply.length < 12) return;
    const rcode = RCODE_NAMES[reply[3]! & 0xf] ?? String(reply[3]! & 0xf);
    const key = `${transport}|${qtypeOf(reply)}|${rcode}`;
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  /** Worker side: what was counted since the last drain, handed to the main thread's `absorb`. */
  drain(): MetricsDelta {
    const delta = { counts: [...this.pending], samples: this.samples };
    this.pending.clear();
    this.samples = { udp: [], tcp: [] };
    return delta;
  }

  /** Main side: adds a worker's counts, so the series cover every thread. */
  absorb(delta: MetricsDelta): void {
    for (const [key, n] of delta.counts) this.pending.set(key, (this.pending.get(key) ?? 0) + n);
    for (const transport of ['udp', 'tcp'] as const) for (const s of delta.samples[transport]) this.latency?.observe({ transport }, s);
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
