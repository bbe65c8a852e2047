import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one process (a registry per context, so tests never share one). */
export class Metrics {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'kith_http_request_duration_seconds',
    help: 'HTTP request latency by route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly consumerEvents = new Counter({
    name: 'kith_consumer_events_total',
    help: 'Events handled by consumers: outcome is handled, retried or dead_lettered.',
    labelNames: ['group', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly cacheRequests = new Counter({
    name: 'kith_cache_requests_total',
    help: 'Cache look-ups by result: hit, miss or error (an error is served from the database).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly outboxPublished = new Counter({
    name: 'kith_outbox_published_total',
    help: 'Events the outbox relay handed to the bus.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'kith_' });
  }

  /** Gauges read when scraped (e.g. the outbox backlog from the database). */
  gauge(name: string, help: string, read: () => Promise<number>): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        try {
          this.set(await read());
        } catch {
          // An unreachable database shows as a missing sample, not a failed scrape.
        }
      },
    });
  }
}
