/**
 * A suspension reaches every API node within a second: two nodes (two contexts, each with its own
 * account-status cache, stream hub and broadcast queue) on one Postgres and one RabbitMQ. The
 * suspension is made through node A; the user's stream open on node B closes and node B refuses
 * the user's token, within a second, with nothing but the broadcast to tell it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createContext } from '../../src/app/context.ts';
import { buildApp } from '../../src/app/http-app.ts';
import { ACCOUNT_SUSPENDED_CLOSE } from '../../src/modules/realtime/stream.routes.ts';
import { api } from '../support/api.ts';
import { createTestAppWithWorker } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';
import { amqpUrl, redisUrl } from '../support/services.ts';
import { openSse, openStream, terminateStreams } from '../support/streams.ts';
import { postgresUrl } from '../support/test-databases.ts';

const REAL = Boolean(postgresUrl() && redisUrl() && amqpUrl());

describe(
  'suspension across API nodes',
  { skip: !REAL && 'set DATABASE_URL, REDIS_URL and AMQP_URL', timeout: 120_000 },
  () => {
    after(terminateStreams);

    it('closes the stream and refuses the token on the other node within a second', async () => {
      const { app: appA, ctx: ctxA, worker } = await createTestAppWithWorker('susp-nodes');
      // Node B: the same database, Redis prefix and RabbitMQ names, its own caches and sockets.
      const ctxB = await createContext(ctxA.config, { log: ctxA.log, migrate: false });
      const appB = await buildApp(ctxB);
      try {
        const base = await appB.listen({ port: 0, host: '127.0.0.1' });
        const a = api(appA);
        const b = api(appB);
        const { mod, bad, fan } = await a.users('mod', 'bad', 'fan');
        await ctxA.moderation.setRole(null, mod.username, 'moderator');
        const p = await a.post(bad, { text: 'soon gone' });
        // Node B has read (and cached) the account as active.
        await b.ok(b.call('GET', '/me', bad));
        await b.ok(b.call('GET', `/posts/${p.id}`, fan));
        const stream = await openStream(
          `${base.replace('http', 'ws').replace('localhost', '127.0.0.1')}/api/v1/stream`,
          bad.auth,
        );
        await stream.count(1);
        const sse = await openSse(
          `${base.replace('localhost', '127.0.0.1')}/api/v1/stream/sse`,
          bad.auth,
        );
        await sse.until('event: ready');

        const started = Date.now();
        await a.ok(a.call('POST', `/admin/accounts/${bad.username}/suspend`, mod, {}));
        assert.equal(await stream.closed, ACCOUNT_SUSPENDED_CLOSE);
        assert.match(await sse.ended, /event: error\ndata: \{"code":"account_suspended"\}/);
        assertProblem(await b.call('GET', '/me', bad), 403, 'account_suspended');
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 1000, `node B knew within a second (${elapsed} ms)`);
        const login = { login: bad.username, password: bad.password };
        assertProblem(await b.call('POST', '/auth/login', null, login), 403, 'account_suspended');
        assertProblem(await b.call('GET', `/posts/${p.id}`, fan), 404, 'post_not_found');
        assertProblem(await b.call('GET', `/users/${bad.username}`, null), 404, 'user_not_found');

        await a.ok(a.call('POST', `/admin/accounts/${bad.username}/unsuspend`, mod, {}));
        await b.ok(b.call('GET', `/posts/${p.id}`, fan));
        await b.ok(b.call('GET', `/users/${bad.username}`, null));
      } finally {
        terminateStreams();
        await appB.close();
        await ctxB.close();
        await worker.stop();
      }
    });
  },
);
