import { randomUUID } from 'node:crypto';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { Context } from '../context.ts';
import { AppError } from '../errors.ts';
import { authRoutes } from '../modules/accounts/auth.routes.ts';
import { usersRoutes } from '../modules/accounts/users.routes.ts';
import { commentsRoutes } from '../modules/comments/comments.routes.ts';
import { emailRoutes } from '../modules/accounts/email.routes.ts';
import { messagesRoutes } from '../modules/messages/messages.routes.ts';
import { notificationsRoutes } from '../modules/notifications/notifications.routes.ts';
import { streamRoutes } from '../modules/realtime/stream.routes.ts';
import websocket from '@fastify/websocket';
import { feedRoutes } from '../modules/feed/feed.routes.ts';
import { postsRoutes } from '../modules/posts/posts.routes.ts';
import { friendsRoutes } from '../modules/social/friends.routes.ts';
import { socialRoutes } from '../modules/social/social.routes.ts';
import { registerAuth } from './auth.ts';
import { healthRoutes } from './health.routes.ts';
import { ProblemSchema, sendProblem } from './problem.ts';

/** The Fastify instance kith's routes are written against (TypeBox schemas give the types). */
export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export const API_PREFIX = '/api/v1';

/** One documented route, as registered: the basis of route-table-driven tests. */
export interface RouteEntry {
  method: string;
  url: string;
  auth: 'required' | 'optional' | 'none';
  /** Whether the route takes a JSON body. */
  body: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every documented route of the app (those with a response schema). */
    routeTable: RouteEntry[];
  }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Builds the HTTP app without listening: tests call `inject`, the api role calls `listen`. */
export async function buildApp(ctx: Context): Promise<App> {
  const { config } = ctx;
  const app = Fastify({
    loggerInstance: ctx.log,
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    bodyLimit: 1024 * 1024,
    // Accept a caller's request id (e.g. from nginx) when it is sane; otherwise make one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ajv: {
      customOptions: {
        allErrors: true,
        removeAdditional: true,
        coerceTypes: 'array',
        useDefaults: true,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    // Which API node answered: behind a load balancer, for operators and tests.
    void reply.header('x-kith-node', config.nodeName);
  });
  app.addHook('onResponse', async (request, reply) => {
    ctx.metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
      },
      reply.elapsedTime / 1000,
    );
  });
  app.setErrorHandler((error, request, reply) => sendProblem(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      new AppError(
        404,
        'not_found',
        `No route for ${request.method} ${request.url.split('?')[0]}.`,
      ),
      request,
      reply,
    ),
  );
  // Every route documents its error body; routes add their success responses.
  app.decorate('routeTable', [] as RouteEntry[]);
  app.addHook('onRoute', (route) => {
    const response = route.schema?.response as Record<string, unknown> | undefined;
    if (!response) return; // undocumented plumbing (/openapi.json, /docs assets)
    route.schema = { ...route.schema, response: { ...response, default: ProblemSchema } };
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      app.routeTable.push({
        method,
        url: route.url,
        auth: route.config?.auth ?? 'none',
        body: Boolean(route.schema?.body),
      });
    }
  });

  await app.register(helmet, { contentSecurityPolicy: false });
  // Limits are applied where they are needed, through createLimiter (src/http/rate-limit.ts).
  // Counters live in Redis when there is one, so every API node shares each client's budget;
  // if Redis fails, requests pass rather than fail (skipOnError).
  await app.register(rateLimit, {
    global: false,
    ...(ctx.redis
      ? { redis: ctx.redis, nameSpace: `${config.redisPrefix}rl:`, skipOnError: true }
      : {}),
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'kith API',
        version: '1',
        description:
          'Social-media backend. Errors are application/problem+json with a stable `code`.',
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Clients send nothing but pongs over the stream: small frames only.
  await app.register(websocket, {
    options: { maxPayload: 4096 },
    // On shutdown, tell clients it is a restart ("going away") so they reconnect elsewhere.
    preClose(done) {
      for (const client of this.websocketServer.clients) client.close(1001, 'server shutting down');
      done();
    },
  });
  registerAuth(app, ctx.accessTokens, (userId) => ctx.activity.touch(userId));

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  );
  await app.register(healthRoutes(ctx));
  await app.register(authRoutes(ctx), { prefix: API_PREFIX });
  for (const routes of [
    usersRoutes,
    socialRoutes,
    friendsRoutes,
    postsRoutes,
    commentsRoutes,
    feedRoutes,
    emailRoutes,
    notificationsRoutes,
    messagesRoutes,
    streamRoutes,
  ]) {
    await app.register(routes(ctx), { prefix: API_PREFIX });
  }
  return app;
}
