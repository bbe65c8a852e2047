/**
 * A revocation reaches every API node at once: a second node's verifier (its own memory of
 * valid tokens, its own broadcast subscription: a queue of its own on RabbitMQ) refuses the
 * token as soon as the broadcast arrives, without waiting for its memory to expire.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { createAccount } from '../../../test/support/factories.ts';
import { registerApp, userToken } from '../../../test/support/oauth-apps.ts';
import { amqpUrl } from '../../../test/support/services.ts';
import { waitFor } from '../../../test/support/wait.ts';
import type { EventBus } from '../../infra/bus/bus.ts';
import { RabbitMqBus } from '../../infra/bus/rabbitmq-bus.ts';
import { OAuthRepository } from './oauth.repository.ts';
import { OAuthTokens } from './oauth-tokens.ts';

const { app, ctx, worker } = await createTestAppWithWorker('oauth-revocation');
after(() => worker.stop());

describe('revocation across API nodes', () => {
  it('the other node refuses the token as soon as the revocation broadcast arrives', async () => {
    const otherBus: EventBus = amqpUrl()
      ? new RabbitMqBus(amqpUrl()!, { prefix: ctx.config.amqpPrefix })
      : ctx.bus;
    const otherNode = new OAuthTokens(new OAuthRepository(ctx.database.db), otherBus, ctx.log);
    const subscription = await otherNode.listen();
    try {
      const client = await registerApp(app);
      const alice = await createAccount(app);
      const token = await userToken(app, client, alice);
      // The other node has checked the token once and remembers it.
      assert.equal((await otherNode.verify(token)).userId, alice.id);
      const res = await app.inject({
        method: 'POST',
        url: '/oauth/revoke',
        payload: { client_id: client.client_id, client_secret: client.client_secret, token },
      });
      assert.equal(res.statusCode, 200);
      // Remembered tokens are trusted for minutes: a refusal within seconds is the broadcast's.
      const refused = await waitFor(
        () =>
          otherNode.verify(token).then(
            () => undefined,
            (err: unknown) => err,
          ),
        'the other node refuses the revoked token',
        10_000,
      );
      assert.equal((refused as { code?: string }).code, 'invalid_token');
    } finally {
      await subscription.stop();
      if (otherBus !== ctx.bus) await otherBus.close();
    }
  });
});
