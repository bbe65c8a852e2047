import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../config.ts';
import type { OutboxRelay } from '../events/relay.ts';
import type { EventBus } from '../infra/bus/bus.ts';
import type { Database } from '../infra/db/database.ts';
import type { Metrics } from '../infra/metrics.ts';
import { FeedRepository } from '../modules/feed/feed.repository.ts';

/** How often `kith_service_up` is refreshed. */
const SERVICE_CHECK_MS = 1_000;

/**
 * Keeps `kith_service_up{service}` current for the services this process uses over the network:
 * `rabbitmq` (the bus connection is open) and `postgres` (a trivial query answers within the
 * check period).
 */
function watchServices(metrics: Metrics, database: Database, bus: EventBus, config: Config) {
  const up = (service: string, value: boolean) => metrics.serviceUp.set({ service }, value ? 1 : 0);
  let checking = false;
  const check = async () => {
    if (config.amqpUrl) up('rabbitmq', bus.connected());
    if (database.kind !== 'postgres' || checking) return;
    checking = true;
    try {
      await Promise.race([
        database.ping(),
        delay(SERVICE_CHECK_MS, undefined, { ref: false }).then(() => {
          throw new Error('no answer');
        }),
      ]);
      up('postgres', true);
    } catch {
      up('postgres', false);
    } finally {
      checking = false;
    }
  };
  void check();
  const timer = setInterval(() => void check(), SERVICE_CHECK_MS).unref();
  return { stop: () => clearInterval(timer) };
}

/**
 * The process's gauges of services and backlogs (outbox, fan-out, database pool), read when
 * metrics are scraped, and `kith_service_up` kept current. Returns what stops the checks.
 */
export function watchProcess(
  metrics: Metrics,
  {
    database,
    bus,
    config,
    relay,
  }: { database: Database; bus: EventBus; config: Config; relay: OutboxRelay },
): { stop(): void } {
  metrics.gauge(
    'kith_outbox_last_publish_age_seconds',
    'Seconds since the outbox relay of this process last had an event accepted by the bus (since it started if none); grows while a backlog waits on a broken bus. Absent where no relay runs.',
    async () => {
      const age = relay.lastPublishAgeSeconds();
      if (age === undefined) throw new Error('no relay in this process'); // no sample
      return age;
    },
  );
  metrics.gauge(
    'kith_db_pool_waiting',
    'Queries waiting for a pooled Postgres connection (see DATABASE_MAX_WAITING).',
    async () => database.pool().waiting,
  );
  metrics.gauge(
    'kith_db_slow_lane_waiting',
    'Slow reads (feeds from SQL, search) waiting for a turn (see DATABASE_SLOW_CONNECTIONS).',
    async () => database.slow.load.waiting,
  );
  metrics.gauge(
    'kith_outbox_backlog',
    'Events written but not yet published.',
    async () => (await relay.backlog()).count,
  );
  metrics.gauge(
    'kith_outbox_oldest_seconds',
    'Age of the oldest unpublished event, in seconds.',
    async () => (await relay.backlog()).oldestSeconds,
  );

  const fanoutBacklog = () => new FeedRepository(database.db).fanoutBacklog();
  metrics.gauge(
    'kith_feed_fanout_pending_posts',
    'Posts written whose fan-out to follower timelines has not completed (readers merge them from SQL meanwhile).',
    async () => (await fanoutBacklog()).count,
  );
  metrics.gauge(
    'kith_feed_fanout_oldest_pending_seconds',
    'Age of the oldest post whose fan-out has not completed, in seconds (0 when none).',
    async () => (await fanoutBacklog()).oldestSeconds,
  );
  return watchServices(metrics, database, bus, config);
}
