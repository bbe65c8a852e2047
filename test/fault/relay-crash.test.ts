/**
 * A relay killed mid-flight (issue 23, item 5). The worker (`kith worker`: relay and consumers)
 * is its own process, reaching RabbitMQ through a proxy; the API runs in the test and writes
 * posts. A recorder queue bound to the events exchange counts how often each event id reaches
 * the broker.
 *  1. Confirmed, then killed: the worker publishes five posts and the broker confirms them;
 *     each is marked published as soon as its confirm arrives (within MARK_MS, not with the
 *     relay's next round), and a SIGKILL then leaves nothing to send again.
 *  2. Claimed, unconfirmed, killed: the broker is cut (or frozen) so the worker's five claims
 *     stay in flight, renewed past the 2 s lease; SIGKILL, and a new worker publishes them
 *     within TAKEOVER_MS of starting (what is left of the lease and one idle round), not after
 *     a 30 s lease.
 * Each event reaches the broker exactly once in both. Needs the real services: the embedded run
 * skips this file; a configured service that does not answer fails it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import { createAccount, type Account } from '../support/factories.ts';
import { startKith, type KithProcess } from '../support/processes.ts';
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
  REAL_STACK,
  recordPublishes,
} from '../support/real-stack.ts';

if (REAL_STACK) await testRedis(); // removes this file's Redis keys afterwards
const PREFIX = `${testPrefix}.crash`;
const GROUPS = ['feed', 'mail', 'notifications'];
/** From the events reaching the broker to their marks (the relay's idle round is 1 s). */
const MARK_MS = 500;
/** From the new worker's start to the dead relay's claims published: at most the rest of the
 * lease (2 s from the kill) and one idle round (1 s). */
const TAKEOVER_MS = 3_000;

describe(
  'a relay killed with events claimed: taken over at once, nothing published twice',
  { skip: !REAL_STACK && NEEDS_REAL_STACK, timeout: 120_000 },
  () => {
    const proxy = new TcpProxy(amqpUrl() ?? 'amqp://127.0.0.1');
    let app: App;
    let ctx: Context;
    let author: Account;
    let workerEnv: Record<string, string | undefined>;
    let recorder: Awaited<ReturnType<typeof recordPublishes>>;
    const workers: KithProcess[] = [];

    before(async () => {
      await assertServicesUp();
      const services = {
        AMQP_PREFIX: PREFIX,
        REDIS_URL: redisUrl(),
        REDIS_PREFIX: `${testPrefix}:crash:`,
      };
      // The API publishes nothing itself here (it has no relay); it reaches the broker directly.
      ({ app, ctx } = await createTestApp({ env: { ...services, AMQP_URL: amqpUrl() } }));
      recorder = await recordPublishes(PREFIX);
      workerEnv = {
        ...services,
        AMQP_URL: await proxy.start(amqpUrl()!),
        DATABASE_URL: ctx.config.databaseUrl,
        METRICS_PORT: '0',
        // A relay that is idle between rounds: had it marked its events with the next round,
        // a kill in between would leave confirmed events to publish again.
        OUTBOX_POLL_MS: '1000',
      };
      author = await createAccount(app);
    });
    after(async () => {
      await recorder?.close();
      for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
      await proxy.close();
      await deleteAmqpTopology(amqpUrl()!, PREFIX, GROUPS);
    });

    /** A worker through the proxy, or `direct` to the broker (unaffected by the proxy's faults). */
    const startWorker = async (direct = false) => {
      const env = direct ? { ...workerEnv, AMQP_URL: amqpUrl() } : workerEnv;
      const worker = await startKith('worker', env);
      workers.push(worker);
      return worker;
    };
    const running = (w: KithProcess) => w.child.exitCode === null && w.child.signalCode === null;
    const kill = async (worker: KithProcess) => {
      worker.child.kill('SIGKILL');
      assert.deepEqual(await worker.exited, { code: null, signal: 'SIGKILL' });
    };
    const post = async (text: string) => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/posts',
        headers: author.auth,
        payload: { text },
      });
      assert.equal(res.statusCode, 201, res.body);
      // The post's post.created event: the latest outbox row.
      const row = await ctx.database.db
        .selectFrom('outbox')
        .select('id')
        .where('type', '=', 'post.created')
        .orderBy('id', 'desc')
        .executeTakeFirstOrThrow();
      return row.id;
    };
    const outbox = (ids: string[]) =>
      ctx.database.db
        .selectFrom('outbox')
        .select(['id', 'published_at', 'claimed_until'])
        .where('id', 'in', ids)
        .execute();
    const backlog = async () => (await ctx.relay.backlog()).count;

    for (const fault of ['cut', 'freeze'] as const) {
      it(`${fault}: confirmed events are not sent again; claimed ones are taken over within ${TAKEOVER_MS} ms`, async () => {
        // 1. Confirmed, then killed (the worker left running by the previous test, if any).
        const first = workers.find(running) ?? (await startWorker());
        await waitFor(async () => (await backlog()) === 0, 'earlier events relayed', 15_000);
        const confirmed: string[] = [];
        for (let i = 0; i < 5; i++) confirmed.push(await post(`${fault} confirmed ${i}`));
        await waitFor(
          () => confirmed.every((id) => recorder.seen.has(id)),
          'the five events at the broker',
        );
        const atBroker = performance.now();
        await waitFor(
          async () => (await outbox(confirmed)).every((r) => r.published_at !== null),
          'the five events marked published',
          5_000,
        );
        const markLag = performance.now() - atBroker;
        console.log(`# ${fault}: marked ${Math.round(markLag)} ms after reaching the broker`);
        // Per confirm, not with the relay's next round (a second away when idle).
        assert.ok(markLag < MARK_MS, `marked ${Math.round(markLag)} ms after the broker had them`);
        await kill(first);

        // 2. Claimed but not confirmed (the broker unreachable), then killed.
        const second = await startWorker();
        proxy[fault]();
        const claimed: string[] = [];
        for (let i = 0; i < 5; i++) claimed.push(await post(`${fault} claimed ${i}`));
        await waitFor(
          async () => (await outbox(claimed)).every((r) => r.claimed_until !== null),
          'the second worker claimed the five events',
        );
        // Held past the original lease (2 s): the live relay renews its claims. (Not as long as
        // the 6 s heartbeat detection of a freeze, which would fail and release them.)
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        const renewed = await outbox(claimed);
        assert.ok(
          renewed.every((r) => r.published_at === null && r.claimed_until! > new Date()),
          `still claimed, lease renewed, while the broker is away: ${JSON.stringify({
            renewed,
            log: second.lines.filter((l) => /"level":[45]0/.test(l)).slice(-5),
          })}`,
        );
        await kill(second);
        const killedAt = performance.now();
        // Whatever the dead process had buffered in the network is lost with it.
        proxy.cut();
        proxy.restore();

        // A new worker (reaching the broker directly); starting it takes seconds on a busy machine.
        const third = await startWorker(true);
        const startedAt = performance.now();
        await waitFor(async () => (await backlog()) === 0, 'the claims taken over', 15_000);
        const takeover = performance.now() - startedAt;
        console.log(
          `# ${fault}: the dead relay's claims published ${Math.round(takeover)} ms after the new worker started, ${Math.round(performance.now() - killedAt)} ms after the kill`,
        );
        assert.ok(takeover <= TAKEOVER_MS, `taken over ${Math.round(takeover)} ms after the start`);
        await waitFor(
          () => claimed.every((id) => recorder.seen.has(id)),
          'the claimed events at the broker',
        );
        // A little longer, for any second copy to show.
        await new Promise((resolve) => setTimeout(resolve, 500));
        for (const id of [...confirmed, ...claimed])
          assert.equal(recorder.seen.get(id), 1, `${id} reached the broker once`);
        assert.deepEqual(recorder.twice(), [], 'no event published twice');
        assert.ok(running(third), 'the new worker runs on (into the next test)');
      });
    }
  },
);
