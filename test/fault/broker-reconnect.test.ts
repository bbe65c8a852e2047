/**
 * RabbitMQ comes back (issue 23, item 2). The API node runs in the test, the worker is its own
 * process (`kith worker`); both reach the broker through one proxy, which the test cuts (every
 * connection reset, new ones refused) or freezes (nothing passes, nothing closes: a partition)
 * while an author posts. Meanwhile every write answers within its bound, /readyz stays ready
 * but says `broker: "disconnected"`, and both nodes show `kith_service_up{service="rabbitmq"} 0`.
 * Once the broker is reachable again, the followers' feeds and streams have every post, once,
 * and the outbox is empty, within RECOVERY_MS: both processes reconnect within 0.3 s (bounded
 * jittered back-off), the relay retries at once on reconnection, and the API node catches its
 * streams up from the log when its broadcast subscription is back.
 * Needs the real services: the embedded run skips this file; a configured service that does
 * not answer fails it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import { createAccount, type Account } from '../support/factories.ts';
import { sample, startKith, type KithProcess } from '../support/processes.ts';
import { createTestApp } from '../support/harness.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait.ts';
import {
  assertServicesUp,
  NEEDS_REAL_STACK,
  openStream,
  REAL_STACK,
} from '../support/real-stack.ts';

if (REAL_STACK) await testRedis(); // removes this file's Redis keys afterwards
const PREFIX = `${testPrefix}.reconnect`;
const GROUPS = ['feed', 'mail', 'notifications'];
/** A write never waits for the broker. */
const WRITE_BOUND_MS = 2_000;
/**
 * From the broker being reachable again to every post in every follower's feed and stream. The
 * target is 1 s (measured 0.3–0.6 s); the assertion allows 2.5 s because on a shared 2-core CI
 * machine under load (load average about 20) it measured up to 2.2 s. The old behaviour (each
 * process on a back-off of up to 14 s) took 10.8–15 s.
 */
const RECOVERY_MS = 2_500;
/** A cut is seen at once; a freeze after two heartbeats (2 × 3 s): it must outlast that. */
const OUTAGE_MS = { cut: 2_000, freeze: 7_000 };

describe(
  'RabbitMQ back after an outage: pushes and fan-out resume within about a second',
  { skip: !REAL_STACK && NEEDS_REAL_STACK, timeout: 90_000 },
  () => {
    const proxy = new TcpProxy(amqpUrl() ?? 'amqp://127.0.0.1');
    let app: App;
    let ctx: Context;
    let base = '';
    let worker: KithProcess;

    before(async () => {
      await assertServicesUp();
      const proxied = await proxy.start(amqpUrl()!);
      const services = {
        AMQP_URL: proxied,
        AMQP_PREFIX: PREFIX,
        REDIS_URL: redisUrl(),
        REDIS_PREFIX: `${testPrefix}:reconnect:`,
        // Pushes must come from the broker's broadcasts, not the streams' periodic catch-up.
        STREAM_HEARTBEAT_SECONDS: '60',
      };
      ({ app, ctx } = await createTestApp({ env: services }));
      base = await app.listen({ host: '127.0.0.1', port: 0 });
      worker = await startKith('worker', {
        ...services,
        DATABASE_URL: ctx.config.databaseUrl,
        METRICS_PORT: '0',
      });
    });
    after(async () => {
      proxy.restore();
      worker?.child.kill('SIGTERM');
      await worker?.exited;
      await proxy.close();
      await deleteAmqpTopology(amqpUrl()!, PREFIX, GROUPS);
    });

    const call = async (who: Account, method: string, url: string, payload?: object) => {
      const started = performance.now();
      const res = await app.inject({
        method: method as 'GET',
        url: `/api/v1${url}`,
        headers: who.auth,
        ...(payload && { payload }),
      });
      assert.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`);
      return { json: res.json<Record<string, unknown>>(), ms: performance.now() - started };
    };
    const workerMetrics = async () =>
      (await fetch(worker.logged('worker started')[0]!.metrics as string)).text();
    const brokerUp = async () => ({
      api: sample(await ctx.metrics.registry.metrics(), 'kith_service_up', { service: 'rabbitmq' }),
      worker: sample(await workerMetrics(), 'kith_service_up', { service: 'rabbitmq' }),
      readyz: (await app.inject('/readyz')).json<{ broker: string; degraded: boolean }>(),
    });

    for (const fault of ['cut', 'freeze'] as const) {
      it(`${fault}: writes answer at once; soon after the broker's return (1 s target, ${RECOVERY_MS} ms bound) every post is pushed and in every feed`, async () => {
        const author = await createAccount(app);
        const followers = [await createAccount(app), await createAccount(app)];
        for (const f of followers) {
          await call(f, 'POST', `/users/${author.username}/follow`);
          await call(f, 'GET', '/feed'); // builds the timeline, so fan-out fills it
        }
        const streams = await Promise.all(followers.map((f) => openStream(base, f)));
        // The whole path works before the fault: a post reaches both streams.
        const warm = (await call(author, 'POST', '/posts', { text: 'before' })).json.id as string;
        await waitFor(
          () => streams.every((s) => s.posts().includes(warm)),
          'the first post pushed',
        );
        await waitFor(async () => {
          const up = await brokerUp();
          return up.api === 1 && up.worker === 1 && up.readyz.broker === 'connected';
        }, 'both nodes report the broker up');
        assert.deepEqual((await app.inject('/readyz')).json(), {
          status: 'ready',
          database: 'postgres',
          redis: 'connected',
          broker: 'connected',
          degraded: false,
        });

        const faultAt = performance.now();
        proxy[fault]();
        const posts: string[] = [];
        const latencies: number[] = [];
        for (let i = 0; i < 3; i++) {
          const { json, ms } = await call(author, 'POST', '/posts', { text: `during ${i}` });
          posts.push(json.id as string);
          latencies.push(ms);
        }
        assert.ok(
          latencies.every((ms) => ms < WRITE_BOUND_MS),
          `writes during the ${fault} (ms): ${latencies.map(Math.round).join(', ')}`,
        );
        // Both nodes notice (a freeze only once the heartbeats are missed) and say so.
        await waitFor(
          async () => {
            const up = await brokerUp();
            return up.api === 0 && up.worker === 0 && up.readyz.broker === 'disconnected';
          },
          'both nodes report the broker down',
          OUTAGE_MS[fault] + 1_000,
        );
        const ready = await app.inject('/readyz');
        assert.equal(ready.statusCode, 200, 'ready but degraded: writes still go to the outbox');
        assert.equal(ready.json<{ degraded: boolean }>().degraded, true);
        assert.ok((await ctx.relay.backlog()).count >= posts.length, 'the posts wait');
        await waitFor(() => performance.now() - faultAt >= OUTAGE_MS[fault], 'the outage');

        proxy.restore();
        const healedAt = performance.now();
        const feedHas = async (f: Account) => {
          const ids = ((await call(f, 'GET', '/feed')).json.items as { id: string }[]).map(
            (p) => p.id,
          );
          return posts.every((id) => ids.includes(id));
        };
        const report = async () =>
          JSON.stringify({
            backlog: await ctx.relay.backlog(),
            pushed: streams.map((s) => posts.filter((id) => s.posts().includes(id)).length),
            feeds: [await feedHas(followers[0]!), await feedHas(followers[1]!)],
            worker: worker.lines
              .filter((l) => l.includes('"level":40') || l.includes('"level":50'))
              .slice(-8),
          });
        await waitFor(
          async () =>
            streams.every((s) => posts.every((id) => s.posts().includes(id))) &&
            (await feedHas(followers[0]!)) &&
            (await feedHas(followers[1]!)) &&
            (await ctx.relay.backlog()).count === 0,
          'every post pushed, in every feed, outbox empty',
          10_000,
        ).catch(async (err: Error) => {
          throw new Error(`${err.message}: ${await report()}`);
        });
        const recovery = performance.now() - healedAt;
        console.log(`# ${fault}: recovered ${Math.round(recovery)} ms after the broker's return`);
        assert.ok(recovery <= RECOVERY_MS, `recovered in ${Math.round(recovery)} ms`);
        for (const s of streams)
          assert.deepEqual(s.posts().sort(), [warm, ...posts].sort(), 'each post pushed once');
        const age = sample(await workerMetrics(), 'kith_outbox_last_publish_age_seconds');
        assert.ok(age < 2, `the worker's relay published just now (${age} s ago)`);
        await waitFor(
          async () => {
            const up = await brokerUp();
            return up.api === 1 && up.worker === 1 && up.readyz.broker === 'connected';
          },
          'both nodes report the broker up again',
          2_000,
        );
      });
    }
  },
);
