/**
 * Real services for tests, chosen by the same variables as the app: REDIS_URL and AMQP_URL.
 * Every test file gets its own key / name prefix so runs and files never see each other.
 */
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { Redis } from 'ioredis';
import { Connection } from 'rabbitmq-client';
import { amqpTopology } from '../../src/infra/bus/rabbitmq-bus.ts';

export const redisUrl = (): string | undefined => process.env.REDIS_URL || undefined;
export const amqpUrl = (): string | undefined => process.env.AMQP_URL || undefined;

/** A prefix unique to this test file, for Redis keys and RabbitMQ names. */
export const testPrefix = `kith_test_${randomBytes(4).toString('hex')}`;

/** A Redis connection for this file; fails loudly when REDIS_URL is set but Redis is down. Keys under the prefix are removed after the file. */
export async function testRedis(): Promise<Redis> {
  const url = redisUrl();
  if (!url) throw new Error('testRedis() needs REDIS_URL');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
  } catch (err) {
    throw new Error(`Redis at REDIS_URL is unreachable; start it or unset REDIS_URL`, {
      cause: err,
    });
  }
  after(async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${testPrefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(keys);
      cursor = next;
    } while (cursor !== '0');
    redis.disconnect();
  });
  return redis;
}

/** The worker's consumer groups, in the registry's order (src/app/modules.ts). */
export const CONSUMER_GROUPS = [
  'feed',
  'notifications',
  'mail',
  'lifecycle',
  'moderation',
  'media',
  'followed-tags',
  'public-posts',
];

/** Deletes every queue and exchange the bus declared under `prefix` for these consumer groups. */
export async function deleteAmqpTopology(
  url: string,
  prefix: string,
  groups: readonly string[],
): Promise<void> {
  const admin = new Connection(url);
  const names = amqpTopology(prefix);
  try {
    for (const group of groups) {
      for (let n = 1; n <= 10; n++) await admin.queueDelete(names.retry(group, n));
      await admin.queueDelete(names.queue(group));
      await admin.queueDelete(names.dead(group));
    }
    await admin.exchangeDelete({ exchange: names.events });
    await admin.exchangeDelete({ exchange: names.broadcast });
  } finally {
    await admin.close();
  }
}
