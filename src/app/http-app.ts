import { randomUUID } from 'node:crypto';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyRequest } from 'fastify';
import { AppError, ValidationError } from '../errors.ts';
import { registerAuth } from '../http/auth.ts';
import { registerBodyParsers } from '../http/body-parsers.ts';
import { registerLoadShedding } from '../http/load-shedding.ts';
import { ProblemSchema, sendProblem } from '../http/problem.ts';
import { API_PREFIX, type App, type RouteEntry } from '../http/types.ts';
import type { Context } from './context.ts';
import { healthRoutes } from './health.routes.ts';
import { enabledModules } from './modules.ts';
import { redisLimitStore } from '../http/rate-limit.ts';
import { isStream } from '../http/load-shedding.ts';
import { withDatabaseDeadline } from '../infra/db/deadline.ts';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Builds the HTTP app without listening: tests call `inject`, the api role calls `listen`. */
export async function buildApp(ctx: Context): Promise<App> {
  const { config } = ctx;
  const app = Fastify({
    loggerInstance: ctx.log,
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    bodyLimit: 1024 * 1024,
    // Idle keep-alive connections stay open 120 s (Fastify's default is 72 s): load generators
    // such as DeathStarBench's wrk2 keep theirs for the whole run and count a close as an error.
    keepAliveTimeout: 120_000,
    // While shutting down, requests already on an open connection are still served (the api
    // role answers them with `Connection: close`), rather than refused with a bare 503.
    return503OnClosing: false,
    // A path the router cannot read (a malformed %-escape, a segment over 100 characters) is
    // answered like every other error: problem+json with a stable code.
    frameworkErrors: (error, request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      void sendProblem(
        new AppError(
          tooLong ? 414 : 400,
          tooLong ? 'uri_too_long' : 'bad_url',
          tooLong ? 'A path segment is too long.' : 'The URL cannot be read.',
        ),
        request,
        reply,
      );
    },
    // A request line may carry an absolute URL (`GET http://host:port/path HTTP/1.1`, as wrk2's
    // DSB scripts send): route it by its path.
    rewriteUrl: (req) => {
      const url = req.url ?? '/';
      if (url.startsWith('/')) return url;
      const path = url.replace(/^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i, '');
      return path.startsWith('/') ? path : `/${path}`;
    },
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
  // A number too large for a double (`?limit=1e309`) passes JSON Schema as Infinity, past any
  // maximum: refused here, after validation.
  app.addHook('preHandler', async (request) => {
    const query = request.query as Record<string, unknown> | undefined;
    for (const [name, value] of Object.entries(query ?? {})) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw new ValidationError([
          { path: `/${name}`, code: 'out_of_range', message: 'must be a finite number' },
        ]);
      }
    }
  });
  registerBodyParsers(app);
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
  // if Redis fails, requests pass rather than fail (skipOnError), at once while the Redis
  // breaker is open.
  await app.register(rateLimit, {
    global: false,
    ...(ctx.redis
      ? {
          store: redisLimitStore(ctx.redis, `${config.redisPrefix}rl:`, ctx.redisBreaker),
          skipOnError: true,
        }
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
  // Before everything that costs: an overloaded node refuses at the door (503 `overloaded`).
  // After the WebSocket plugin, whose hooks close an upgrade's socket once it is refused.
  await registerLoadShedding(app, ctx);
  // A request's database work, all of it, gets DATABASE_REQUEST_TIMEOUT_MS (streams excepted:
  // they live on after the request).
  const dbBudget = ctx.config.databaseRequestTimeout;
  // Entered twice: before the auth hooks, and again once the body is read (reading it leaves
  // the request's async context).
  if (dbBudget > 0 && ctx.database.kind === 'postgres') {
    const deadlines = new WeakMap<FastifyRequest, number>();
    app.addHook('onRequest', (request, _reply, done) => {
      if (isStream(request)) return done();
      const deadline = Date.now() + dbBudget;
      deadlines.set(request, deadline);
      withDatabaseDeadline(deadline, done);
    });
    app.addHook('preValidation', (request, _reply, done) => {
      const deadline = deadlines.get(request);
      if (deadline === undefined) done();
      else withDatabaseDeadline(deadline, done);
    });
  }
  registerAuth(app, ctx.accessTokens, (userId) => ctx.activity.touch(userId));

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  );
  await app.register(healthRoutes(ctx));
  for (const feature of enabledModules(config)) {
    for (const routes of feature.routes ?? []) {
      await app.register(routes(ctx), { prefix: feature.prefix ?? API_PREFIX });
    }
  }
  return app;
}
