import { appendFileSync } from 'node:fs';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Preloaded into the explorer by the benchmark (`NODE_OPTIONS=--import=<this file>`), so the node is
 * measured from the inside without touching its code: once a second it appends one JSON line to
 * $PLEXUS_BENCH_PROBE_FILE with that second's event-loop lag and GC pauses. Does nothing without the
 * variable. The interval is unref'd, so it never keeps the node alive.
 */
export interface ProbeLine {
  /** Date.now() at the end of the second the line covers. */
  t: number;
  lagMaxMs: number;
  lagP99Ms: number;
  gcMaxMs: number;
  gcTotalMs: number;
  gcCount: number;
}

const RESOLUTION_MS = 10;
const file = process.env.PLEXUS_BENCH_PROBE_FILE;
if (file !== undefined && file !== '') {
  const lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  lag.enable();
  let gcMax = 0;
  let gcTotal = 0;
  let gcCount = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMax = Math.max(gcMax, e.duration);
      gcTotal += e.duration;
      gcCount++;
    }
  }).observe({ entryTypes: ['gc'] });
  const timer = setInterval(() => {
    // The histogram holds whole timer intervals: minus the resolution is the lag.
    const line: ProbeLine = {
      t: Date.now(),
      lagMaxMs: Math.max(0, lag.max / 1e6 - RESOLUTION_MS),
      lagP99Ms: Math.max(0, lag.percentile(99) / 1e6 - RESOLUTION_MS),
      gcMaxMs: gcMax,
      gcTotalMs: gcTotal,
      gcCount,
    };
    lag.reset();
    gcMax = 0;
    gcTotal = 0;
    gcCount = 0;
    try {
      appendFileSync(file, `${JSON.stringify(line)}\n`);
    } catch {
      // the benchmark removed its temp dir: nothing to report to
    }
  }, 1000);
  timer.unref();
}
