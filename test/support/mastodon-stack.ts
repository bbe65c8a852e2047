/**
 * A kith for Mastodon client libraries to talk to, as a deployment would run it: one `kith
 * serve` process on the embedded defaults, or, when Postgres, Redis and RabbitMQ are set, two
 * API nodes and a worker behind nginx (scripts/cluster.ts), so a stream is held by one node
 * while writes land on the other. People sign in through `/oauth/authorize` as a browser would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNginx, freePort, startCluster, type Cluster } from '../../scripts/cluster.ts';
import { signUpOn, type ServerUser } from './api.ts';
import { newUser } from './factories.ts';
import { TEST_JWT_SECRET } from './harness.ts';
import { authorizeInBrowser, Browser, fetchTransport, pkcePair } from './oauth.ts';
import { processDefaults, sample, startKith, type KithProcess } from './processes.ts';
import { amqpUrl, CONSUMER_GROUPS, deleteAmqpTopology, redisUrl, testPrefix } from './services.ts';
import { createTestDatabase, postgresUrl, type TestDatabase } from './test-databases.ts';

export const REAL = Boolean(postgresUrl() && redisUrl() && amqpUrl());
export const REDIRECT = 'http://127.0.0.1:1/callback';

export interface MastodonStack {
  /** The one URL clients use (nginx's on the real stack). */
  url: string;
  /** Each API node's own URL (for its metrics). */
  nodes: string[];
  stop(): Promise<void>;
}

/** Starts the stack for `name` (a prefix for its Redis keys and RabbitMQ queues). */
export async function startMastodonStack(name: string): Promise<MastodonStack> {
  // Pictures' URLs are absolute (PUBLIC_URL): the port must be known before the start.
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  if (!REAL) {
    const kith: KithProcess = await startKith('serve', {
      PORT: String(port),
      PUBLIC_URL: publicUrl,
    });
    return {
      url: kith.url,
      nodes: [kith.url],
      stop: async () => {
        kith.child.kill('SIGTERM');
        await kith.exited;
      },
    };
  }
  if (!findNginx()) throw new Error('nginx is not installed: .ci/run installs it');
  const database: TestDatabase = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), `kith-${name}-`));
  const amqpPrefix = `${testPrefix}.${name}`;
  let cluster: Cluster | undefined;
  const stop = async () => {
    await cluster?.stop(5_000);
    await database.drop();
    await deleteAmqpTopology(amqpUrl()!, amqpPrefix, CONSUMER_GROUPS);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    cluster = await startCluster({
      apiNodes: 2,
      port,
      env: {
        ...processDefaults,
        PATH: process.env.PATH,
        DATABASE_URL: database.databaseUrl,
        REDIS_URL: redisUrl(),
        REDIS_PREFIX: `${testPrefix}:${name}:`,
        AMQP_URL: amqpUrl(),
        AMQP_PREFIX: amqpPrefix,
        JWT_SECRET: TEST_JWT_SECRET,
        DATA_DIR: dataDir,
        PUBLIC_URL: publicUrl,
        OUTBOX_POLL_MS: '10',
        STREAM_HEARTBEAT_SECONDS: '600',
      },
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: cluster.url, nodes: cluster.api.map((p) => p.url), stop };
}

/** Mastodon stream subscriptions of `stream` open on every node together. */
export async function subscriptions(stack: MastodonStack, stream: string): Promise<number> {
  let total = 0;
  for (const node of stack.nodes) {
    const body = await (await fetch(`${node}/metrics`)).text();
    total += sample(body, 'kith_mastodon_stream_subscriptions', { stream });
  }
  return total;
}

export type Person = ServerUser & { password: string };

/** A new kith user (signed up through kith's API), with their password. */
export async function person(stack: MastodonStack, prefix: string): Promise<Person> {
  const user = await signUpOn(stack.url, prefix);
  // signUpOn gives the factory's password to everyone: read it back from the factory.
  return { ...user, password: newUser().password };
}

/** Signs `who` in to the app through the browser form with PKCE: the authorization code. */
export async function signInWithPkce(
  stack: MastodonStack,
  app: { clientId: string },
  who: Person,
  scope: string,
) {
  const pkce = pkcePair();
  const { code } = await authorizeInBrowser(new Browser(fetchTransport(stack.url)), {
    clientId: app.clientId,
    redirectUri: REDIRECT,
    scope,
    codeChallenge: pkce.challenge,
    login: who.username,
    password: who.password,
  });
  return { code, verifier: pkce.verifier };
}
