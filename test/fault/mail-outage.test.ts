/**
 * Mail while the SMTP server is unreachable: a TcpProxy in front of a real SMTP server is cut
 * before the app starts. Requests must not wait for mail; the mail consumer retries (through the
 * RabbitMQ retry queues when AMQP_URL is set, in process otherwise) and each mail arrives
 * exactly once when the server is back, or is dead-lettered after CONSUMER_MAX_ATTEMPTS.
 */
import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import type { Env } from '../../src/config.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { drain } from '../support/drain.ts';
import { login, newUser } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';
import { startSmtpServer } from '../support/smtp-server.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait.ts';

const API = '/api/v1';
/** RabbitMQ names to delete after the file: each app's prefix and its consumer groups. */
const topologies: { prefix: string; groups: string[] }[] = [];
if (redisUrl()) await testRedis(); // removes this file's Redis keys afterwards
after(async () => {
  for (const { prefix, groups } of topologies) await deleteAmqpTopology(amqpUrl()!, prefix, groups);
});

/**
 * An app (with a worker) whose SMTP_URL goes through a proxy that is cut from the start, and
 * helpers to look at what happened.
 */
async function kithWithSmtpDown(t: TestContext, name: string, env: Env) {
  const smtp = await startSmtpServer((close) => t.after(close));
  const proxy = new TcpProxy(smtp.url);
  proxy.cut();
  const smtpUrl = await proxy.start(smtp.url);
  t.after(() => proxy.close());
  const [redis, amqp] = [redisUrl(), amqpUrl()];
  const { app, ctx } = await createTestApp({
    env: {
      OUTBOX_POLL_MS: '10',
      SMTP_URL: smtpUrl,
      ...(redis && { REDIS_URL: redis, REDIS_PREFIX: `${testPrefix}:${name}:` }),
      ...(amqp && { AMQP_URL: amqp, AMQP_PREFIX: `${testPrefix}.${name}` }),
      ...env,
    },
  });
  // Every group the worker declares (feed, mail, …), so none is left on the shared broker.
  if (amqp)
    topologies.push({ prefix: `${testPrefix}.${name}`, groups: ctx.consumers.map((c) => c.group) });
  const worker = await startWorker(ctx);
  t.after(() => worker.stop());
  const { db } = ctx.database;
  return {
    app,
    ctx,
    proxy,
    /** Messages received for `address`. */
    mailsTo: (address: string) => smtp.received.filter((m) => m.rcpt.includes(address)),
    received: smtp.received,
    /** kith_consumer_events_total of the mail group with this outcome. */
    async outcomes(outcome: string) {
      const { values } = await ctx.metrics.consumerEvents.get();
      return values
        .filter((v) => v.labels.group === 'mail' && v.labels.outcome === outcome)
        .reduce((sum, v) => sum + v.value, 0);
    },
    /** Registers through the API; returns the user and how long the request took. */
    async register() {
      const user = newUser();
      const started = performance.now();
      const res = await app.inject({ method: 'POST', url: `${API}/auth/register`, payload: user });
      const ms = performance.now() - started;
      assert.equal(res.statusCode, 201, res.body);
      return { user: { ...user, id: res.json<{ id: string }>().id }, ms };
    },
    /** The outbox event of `type` about `userId`. */
    event: async (type: string, userId: string) =>
      (await db.selectFrom('outbox').select(['id', 'data']).where('type', '=', type).execute())
        .filter((e) => e.data.user_id === userId)
        .map((e) => e.id),
    deliveries: (eventId: string) =>
      db.selectFrom('mail_deliveries').selectAll().where('event_id', '=', eventId).execute(),
  };
}

describe('mail while the SMTP server is down', { timeout: 60_000 }, () => {
  it('requests answer at once; mails are retried and each arrives exactly once when the server is back', async (t) => {
    const retry = { CONSUMER_RETRY_DELAYS_MS: '200', CONSUMER_MAX_ATTEMPTS: '50' };
    const k = await kithWithSmtpDown(t, 'retry', retry);

    const [first, second] = [await k.register(), await k.register()];
    // Not a speed target: a request that waited for the mail would fail, or last at least the
    // SMTP connection timeout (10 s); a loaded machine must not make this flaky.
    for (const { ms } of [first, second]) assert.ok(ms < 8_000, `register took ${ms} ms`);
    const reset = await k.app.inject({
      method: 'POST',
      url: `${API}/auth/password-reset`,
      payload: { email: first.user.email },
    });
    assert.equal(reset.statusCode, 202, reset.body);
    await login(k.app, first.user.username, first.user.password); // the account works meanwhile

    await waitFor(async () => (await k.outcomes('retried')) >= 6, 'mail retried while down');
    assert.equal(k.received.length, 0, 'no mail while the server is unreachable');
    assert.equal(await k.outcomes('handled'), 0);
    assert.equal(await k.outcomes('dead_lettered'), 0);

    k.proxy.restore();
    await waitFor(() => k.received.length >= 3, 'the three mails arrive once the server is back');
    await drain(k.ctx);
    assert.equal(k.received.length, 3, 'no second copy after the consumers drained');
    assert.equal(await k.outcomes('handled'), 3);
    assert.equal(await k.outcomes('dead_lettered'), 0);

    const expected = [
      [first.user, 'user.registered', /^Welcome to kith/],
      [second.user, 'user.registered', /^Welcome to kith/],
      [first.user, 'password_reset.requested', /^Reset your kith password/],
    ] as const;
    for (const [user, type, subject] of expected) {
      const [eventId, ...others] = await k.event(type, user.id);
      assert.equal(others.length, 0);
      const mails = k.mailsTo(user.email).filter((m) => m.messageId === `<${eventId}@kith.mail>`);
      assert.equal(mails.length, 1, `one ${type} mail to ${user.email}`);
      assert.match(mails[0]!.subject!, subject);
      const rows = await k.deliveries(eventId!);
      assert.deepEqual(
        rows.map((r) => [r.kind, r.recipient]),
        [[type, user.email]],
      );
    }

    // A redelivery of the same events (at-least-once delivery) sends nothing again.
    const mailEvents = await k.ctx.database.db
      .selectFrom('outbox')
      .selectAll()
      .where('type', 'in', ['user.registered', 'password_reset.requested'])
      .execute();
    assert.equal(mailEvents.length, 3);
    await k.ctx.bus.publish(
      mailEvents.map((e) => ({
        id: e.id,
        type: e.type,
        data: e.data,
        occurred_at: e.created_at.toISOString(),
      })),
    );
    await waitFor(async () => (await k.outcomes('handled')) === 6, 'the copies are handled');
    assert.equal(k.received.length, 3, 'no mail for a redelivered event');
  });

  it('a mail still failing after CONSUMER_MAX_ATTEMPTS is dead-lettered and never sent', async (t) => {
    const retry = { CONSUMER_RETRY_DELAYS_MS: '20', CONSUMER_MAX_ATTEMPTS: '3' };
    const k = await kithWithSmtpDown(t, 'dead', retry);
    const { user } = await k.register();
    await drain(k.ctx); // handled or dead-lettered: here, dead-lettered
    assert.deepEqual(
      [await k.outcomes('retried'), await k.outcomes('dead_lettered'), await k.outcomes('handled')],
      [2, 1, 0],
    );
    const [eventId] = await k.event('user.registered', user.id);
    const dead = await waitFor(async () => {
      const letters = await k.ctx.bus.deadLetters('mail');
      return letters.length > 0 && letters;
    }, 'the event is in the dead letters');
    assert.deepEqual(
      dead.map((e) => [e.id, e.type]),
      [[eventId, 'user.registered']],
    );
    k.proxy.restore();
    const { user: later } = await k.register(); // the server is back: later mail flows
    await waitFor(() => k.mailsTo(later.email).length === 1, 'the next mail is sent');
    await drain(k.ctx);
    assert.equal(k.mailsTo(user.email).length, 0, 'the dead-lettered mail is not sent');
    assert.deepEqual(await k.deliveries(eventId!), []);
  });
});
