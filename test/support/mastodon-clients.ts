/** A listening app for tests that drive the Mastodon client libraries (masto.js, megalodon). */
import { after } from 'node:test';
import { createRestAPIClient } from 'masto';
import type { Account } from './factories.ts';
import { createTestAppWithWorker } from './harness.ts';
import { registerApp, userToken } from './oauth-apps.ts';

/**
 * The app (with its worker) listening on 127.0.0.1, an OAuth client registered, `signIn` for a
 * user's token and masto REST client, `subscriptions` for the streams open on this node (the
 * gauge the streaming route keeps) and `closers` run after the file's tests. Call it at the top
 * level of a test file (it registers `after` hooks).
 */
export async function clientLibrariesApp(name: string) {
  const { app, ctx, worker } = await createTestAppWithWorker(name);
  const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
  const closers: (() => void)[] = [];
  after(async () => {
    for (const close of closers) close();
    await worker.stop();
  });
  const client = await registerApp(app);
  const subscriptions = async (stream: string) =>
    (await ctx.metrics.mastodonStreamSubscriptions.get()).values.find(
      (v) => v.labels.stream === stream,
    )?.value ?? 0;
  async function signIn(who: Account) {
    const token = await userToken(app, client, who, 'read write follow');
    return { token, rest: createRestAPIClient({ url: base, accessToken: token }) };
  }
  return { app, ctx, base, closers, subscriptions, signIn };
}
