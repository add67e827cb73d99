import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration } from 'prom-client';
import { PlexusError } from './errors.js';

export type { Counter, Gauge, Histogram } from 'prom-client';

/**
 * Prometheus metrics of a node: one prom-client registry per node (not prom-client's global one,
 * so two nodes in one test process keep their numbers apart). Each plugin creates its metrics
 * through `ctx.metrics`, which prefixes them `plexus_<plugin>_`; the core adds the process metrics
 * and the RPC server's. Whoever serves `/metrics` (the api plugin) renders `render()`.
 */
export class NodeMetrics {
  readonly registry = new Registry();

  constructor(options: { processMetrics?: boolean } = {}) {
    // Process metrics (CPU, RSS, event-loop lag, GC) are per process: a test process that runs
    // several nodes asks for them once at most.
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'plexus_' });
  }

  /** The metrics factory handed to plugin `name` (names come out `plexus_<name>_<metric>`). */
  forPlugin(name: string): PluginMetrics {
    return new PrefixedMetrics(this.registry, `plexus_${name.replace(/[^a-zA-Z0-9_]/g, '_')}_`);
  }

  /** The core's own metrics (`plexus_<metric>`). */
  core(): PluginMetrics {
    return new PrefixedMetrics(this.registry, 'plexus_');
  }

  /** The exposition text (Prometheus text format 0.0.4) and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/** Options of a metric without its registry; `name` is the part after the plugin's prefix. */
export type MetricOptions<T extends string> = Omit<CounterConfiguration<T>, 'registers'>;
export type GaugeOptions<T extends string> = Omit<GaugeConfiguration<T>, 'registers'>;
export type HistogramOptions<T extends string> = Omit<HistogramConfiguration<T>, 'registers'>;

/**
 * How a plugin creates its metrics (`ctx.metrics`). Asking twice for the same name returns the
 * metric made the first time (a plugin stopped and started again keeps its series); the same
 * name with another type is a bug and throws ERR_INTERNAL.
 */
export interface PluginMetrics {
  /** Prefix put before every name, e.g. `plexus_dns_`. */
  readonly prefix: string;
  counter<T extends string = string>(options: MetricOptions<T>): Counter<T>;
  /** A gauge; give `collect` to compute its value at scrape time (it may be async). */
  gauge<T extends string = string>(options: GaugeOptions<T>): Gauge<T>;
  histogram<T extends string = string>(options: HistogramOptions<T>): Histogram<T>;
}

class PrefixedMetrics implements PluginMetrics {
  constructor(
    private readonly registry: Registry,
    readonly prefix: string,
  ) {}

  counter<T extends string>(options: MetricOptions<T>): Counter<T> {
    return this.make(options.name, Counter, () => new Counter<T>({ ...options, name: this.prefix + options.name, registers: [this.registry] }));
  }

  gauge<T extends string>(options: GaugeOptions<T>): Gauge<T> {
    return this.make(options.name, Gauge, () => new Gauge<T>({ ...options, name: this.prefix + options.name, registers: [this.registry] }));
  }

  histogram<T extends string>(options: HistogramOptions<T>): Histogram<T> {
    return this.make(options.name, Histogram, () => new Histogram<T>({ ...options, name: this.prefix + options.name, registers: [this.registry] }));
  }

  private make<M>(name: string, type: abstract new (...args: never[]) => unknown, create: () => M): M {
    const existing = this.registry.getSingleMetric(this.prefix + name);
    if (existing === undefined) return create();
    if (!(existing instanceof type)) throw new PlexusError('ERR_INTERNAL', `metric ${this.prefix + name} already exists with another type`);
    return existing as M;
  }
}
