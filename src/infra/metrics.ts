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

  readonly httpDbStatements = new Histogram({
    name: 'kith_http_db_statements',
    help: 'SQL statements a request sent, by route: 0 for a home page served from memory.',
    labelNames: ['method', 'route'] as const,
    buckets: [0, 1, 2, 4, 8, 16, 32],
    registers: [this.registry],
  });

  readonly feedFanoutLag = new Histogram({
    name: 'kith_feed_fanout_lag_seconds',
    help: 'From a post being written to the last follower timeline holding it.',
    // Fine from 50 ms to 5 s, where the targets are (p99 under 2 s at 200 posts/s; 10,000
    // followers under 0.5 s, 100,000 under 3 s), coarse beyond.
    buckets: [
      0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5,
      10, 30, 60,
    ],
    registers: [this.registry],
  });

  readonly feedFanoutBatch = new Histogram({
    name: 'kith_feed_fanout_batch_size',
    help: 'Followers handled per fan-out batch.',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 5000],
    registers: [this.registry],
  });

  readonly feedRebuilds = new Counter({
    name: 'kith_feed_timeline_rebuilds_total',
    help: 'Home timelines rebuilt from SQL because they were missing (new, evicted or idle user).',
    registers: [this.registry],
  });

  readonly feedMergedPosts = new Counter({
    name: 'kith_feed_read_merged_posts_total',
    help: "Posts merged into home feed pages at read time: big accounts' (never fanned out) and those whose fan-out has not completed.",
    registers: [this.registry],
  });

  readonly feedReads = new Counter({
    name: 'kith_feed_reads_total',
    help: 'Home feed pages served, by source: timeline, or sql when the timeline store failed; degraded also counts those served from memory alone while the database could not answer.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly httpShed = new Counter({
    name: 'kith_http_shed_total',
    help: 'Requests refused with 503 `overloaded` by load shedding, by reason: inFlight, eventLoopDelay, eventLoopUtilization or heapUsedBytes.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly httpInFlight = new Gauge({
    name: 'kith_http_in_flight_requests',
    help: 'Requests being served (streams, /healthz and /metrics left out); above SHED_MAX_IN_FLIGHT, requests are shed.',
    registers: [this.registry],
  });

  readonly mastodonStreamSubscriptions = new Gauge({
    name: 'kith_mastodon_stream_subscriptions',
    help: "Subscriptions open on this node's Mastodon streaming API (`/api/v1/streaming`), by stream.",
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });

  readonly shedEventLoopDelay = new Gauge({
    name: 'kith_http_shed_event_loop_delay_seconds',
    help: 'Event-loop delay as load shedding measures it (time-weighted mean over the last two samples); above SHED_MAX_EVENT_LOOP_DELAY_MS, requests are shed.',
    registers: [this.registry],
  });

  readonly serviceUp = new Gauge({
    name: 'kith_service_up',
    help: 'Whether this process can use a backing service (label service: redis, rabbitmq, postgres): 1 connected and answering, 0 not (served degraded).',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'kith_' });
  }

  /** Sets `kith_service_up{service}`: 1 when the service is connected and answering, else 0. */
  setServiceUp(service: string, up: boolean): void {
    this.serviceUp.set({ service }, up ? 1 : 0);
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
