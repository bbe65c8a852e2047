/**
 * Account deletion (deactivation) reaches every API node within a second, as a suspension does:
 * two nodes (two contexts with their own account-status caches, stream hubs and broadcast
 * queues) on one Postgres, Redis and RabbitMQ. The deletion is asked for on node A; node B,
 * which had read and cached the account as active, refuses the user's token and closes their
 * WebSocket and SSE streams, with nothing but the broadcast to tell it. Logging in again on
 * node B cancels the deletion, and node A takes the new token at once.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createContext } from '../../src/app/context.ts';
import { buildApp } from '../../src/app/http-app.ts';
import { ACCOUNT_DEACTIVATED_CLOSE } from '../../src/modules/realtime/stream.routes.ts';
import { api } from '../support/api.ts';
import { createTestAppWithWorker } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';
import { amqpUrl, redisUrl } from '../support/services.ts';
import { openSse, openStream, terminateStreams } from '../support/streams.ts';
import { postgresUrl } from '../support/test-databases.ts';

const REAL = Boolean(postgresUrl() && redisUrl() && amqpUrl());

describe(
  'account deletion across API nodes',
  { skip: !REAL && 'set DATABASE_URL, REDIS_URL and AMQP_URL', timeout: 120_000 },
  () => {
    after(terminateStreams);

    it('node B refuses the token and closes both streams within a second', async () => {
      const { app: appA, ctx: ctxA, worker } = await createTestAppWithWorker('deact-nodes');
      const ctxB = await createContext(ctxA.config, { log: ctxA.log, migrate: false });
      const appB = await buildApp(ctxB);
      const streams: { abort(): void }[] = [];
      try {
        const base = (await appB.listen({ port: 0, host: '127.0.0.1' })).replace(
          'localhost',
          '127.0.0.1',
        );
        const a = api(appA);
        const b = api(appB);
        const { leaver, other } = await a.users('leaver', 'other');
        // Node B has read (and cached) the account as active, and holds its streams.
        await b.ok(b.call('GET', '/me', leaver));
        const ws = await openStream(`${base.replace('http', 'ws')}/api/v1/stream`, leaver.auth);
        await ws.count(1);
        const sse = await openSse(`${base}/api/v1/stream/sse`, leaver.auth);
        streams.push(sse);
        await sse.until('event: ready');
        // Another user's stream on node B stays open.
        const bystander = await openSse(`${base}/api/v1/stream/sse`, other.auth);
        streams.push(bystander);
        await bystander.until('event: ready');

        const started = Date.now();
        await a.ok(a.call('DELETE', '/me', leaver, { password: leaver.password }), 202);
        assert.equal(await ws.closed, ACCOUNT_DEACTIVATED_CLOSE);
        assert.match(await sse.ended, /event: error\ndata: \{"code":"account_deactivated"\}/);
        assertProblem(await b.call('GET', '/me', leaver), 401, 'invalid_token');
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 1000, `node B knew within a second (${elapsed} ms)`);
        assertProblem(
          await b.call('POST', '/posts', leaver, { text: 'still here?' }),
          401,
          'invalid_token',
        );
        assert.ok(!bystander.text.includes('event: error'), "others' streams stay open");
        await b.ok(b.call('GET', '/me', other));

        // Logging in on node B cancels the deletion; node A takes the new token at once.
        const session = await b.ok<{ access_token: string }>(
          b.call('POST', '/auth/login', null, {
            login: leaver.username,
            password: leaver.password,
          }),
        );
        const back = { ...leaver, auth: { authorization: `Bearer ${session.access_token}` } };
        await a.ok(a.call('GET', '/me', back));
        await b.ok(b.call('GET', '/me', back));
        await b.ok(b.call('GET', `/users/${leaver.username}`, other));
      } finally {
        for (const s of streams) s.abort();
        terminateStreams();
        await appB.close();
        await ctxB.close();
        await worker.stop();
      }
    });
  },
);
