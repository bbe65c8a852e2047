/**
 * What the fault tests of issue 23 share: the real services they need (a run that configured a
 * service which does not answer fails at once, loudly), a recorder of what reaches the broker,
 * and WebSocket streams to watch pushes arrive.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Connection } from 'rabbitmq-client';
import WebSocket from 'ws';
import { amqpTopology } from '../../src/infra/bus/rabbitmq-bus.ts';
import type { Account } from './factories.ts';
import { amqpUrl, redisUrl } from './services.ts';
import { postgresUrl } from './test-databases.ts';
import { waitFor } from './wait.ts';

/** All three services configured: the run targets the real stack (else the embedded run skips). */
export const REAL_STACK = Boolean(postgresUrl() && redisUrl() && amqpUrl());
export const NEEDS_REAL_STACK = 'needs DATABASE_URL, REDIS_URL and AMQP_URL (real services to cut)';

/** Throws, naming the service, when a configured service does not answer within 3 s. */
export async function assertServicesUp(): Promise<void> {
  const check = async (name: string, probe: () => Promise<unknown>) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        probe(),
        new Promise(
          (_, reject) => (timer = setTimeout(() => reject(new Error('no answer')), 3_000)),
        ),
      ]);
    } catch (err) {
      throw new Error(`${name} is configured but unreachable: start it (this test needs it)`, {
        cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
  };
  await check('Postgres (DATABASE_URL)', async () => {
    const client = new pg.Client({ connectionString: postgresUrl() });
    await client.connect();
    await client.end();
  });
  await check('Redis (REDIS_URL)', async () => {
    const redis = new Redis(redisUrl()!, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await redis.connect();
      await redis.ping();
    } finally {
      redis.disconnect();
    }
  });
  await check('RabbitMQ (AMQP_URL)', async () => {
    const conn = new Connection({ url: amqpUrl()!, retryLow: 100, retryHigh: 200 });
    try {
      await conn.onConnect(2_500);
    } finally {
      await conn.close();
    }
  });
}

/**
 * Every event the broker routes under `prefix`, with how many times each id arrived: a queue of
 * the test's own bound to the events exchange for every routing key.
 */
export async function recordPublishes(prefix: string) {
  const conn = new Connection(amqpUrl());
  const names = amqpTopology(prefix);
  const queue = `${prefix}.test-recorder`;
  const seen = new Map<string, number>();
  const exchange = { exchange: names.events, type: 'topic', durable: true };
  const consumer = conn.createConsumer(
    {
      queue,
      queueOptions: { exclusive: true, autoDelete: true },
      exchanges: [exchange],
      queueBindings: [{ exchange: names.events, queue, routingKey: '#' }],
    },
    (msg) => void seen.set(String(msg.messageId), (seen.get(String(msg.messageId)) ?? 0) + 1),
  );
  await new Promise<void>((resolve, reject) =>
    consumer.once('ready', resolve).once('error', reject),
  );
  return {
    /** Call in the file's `after` (one registered inside a `before` hook runs when it ends). */
    close: async () => {
      await consumer.close();
      await conn.close();
    },
    seen,
    /** Ids published more than once. */
    twice: () => [...seen].filter(([, n]) => n > 1).map(([id]) => id),
  };
}

type StreamEvent = { seq: number; type: string; data: Record<string, unknown> };

/** A WebSocket of `user` on `base` (closed after the calling test), from its `ready` event on. */
export async function openStream(base: string, user: Account) {
  const socket = new WebSocket(new URL('/api/v1/stream', base), { headers: user.auth });
  const events: StreamEvent[] = [];
  socket.on('message', (raw: Buffer) => events.push(JSON.parse(raw.toString()) as StreamEvent));
  after(() => socket.terminate());
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const ready = await waitFor(() => events[0], `${user.username}'s ready event`);
  assert.equal(ready.type, 'ready');
  return {
    socket,
    events,
    /** Ids of the posts pushed as `feed.post`, in arrival order (a duplicate shows twice). */
    posts: () => events.filter((e) => e.type === 'feed.post').map((e) => String(e.data.post_id)),
  };
}
