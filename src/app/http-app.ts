import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { AppError, ValidationError } from '../errors.ts';
import { registerAuth } from '../http/auth.ts';
import { registerBodyParsers } from '../http/body-parsers.ts';
import { registerLoadShedding } from '../http/load-shedding.ts';
import { sendProblem } from '../http/problem.ts';
import { API_PREFIX, type App, type RouteEntry } from '../http/types.ts';
import type { Context } from './context.ts';
import { healthRoutes } from './health.routes.ts';
import { enabledModules } from './modules.ts';
import { redisLimitStore } from '../http/rate-limit.ts';
import { isStream } from '../http/load-shedding.ts';
import { withDatabaseBudget, type DatabaseBudget } from '../infra/db/deadline.ts';

import { problemResponse } from '../http/problem.ts';
import { partValidators } from '../http/validation.ts';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Errors are sent, and documented, as application/problem+json. */
const PROBLEM_RESPONSE = problemResponse(
  'An error: RFC 9457 problem details with a stable `code`.',
);

/**
 * A parameter with a default is one the client may leave out: it is filled in before the handler
 * runs (Ajv `useDefaults`), so the OpenAPI document must not list it as required.
 */
function defaultsOptional(schema: unknown): unknown {
  const s = schema as { required?: string[]; properties?: Record<string, { default?: unknown }> };
  if (!s.required || !s.properties) return schema;
  const required = s.required.filter((name) => s.properties![name]?.default === undefined);
  return required.length === s.required.length ? schema : { ...s, required };
}

/**
 * What Node's HTTP parser refuses before Fastify sees a request (an unknown method such as `FOO`,
 * a malformed request line or header) is answered like every other error: problem+json with a
 * stable code. A client's mistake is logged at debug level only.
 */
function clientError(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, detail] =
    err.code === 'HPE_INVALID_METHOD'
      ? [501, 'method_not_implemented', 'The request method is not one this server implements.']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'The request headers are too large.']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request_timeout', 'The request took too long to arrive.']
          : [400, 'bad_request', 'The request cannot be read as HTTP.'];
  this.log.debug({ code: err.code, message: err.message }, 'client error');
  if (!socket.writable) return void socket.destroy();
  const title = STATUS_CODES[status] ?? 'Error';
  const body = JSON.stringify({ type: `urn:kith:problem:${code}`, title, status, detail, code });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

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
    clientErrorHandler: clientError,
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
    // JSON bodies are validated without type coercion; query, params and headers with it.
    schemaController: { compilersFactory: { buildValidator: partValidators() } },
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
    route.schema = {
      ...route.schema,
      ...(route.schema?.querystring
        ? { querystring: defaultsOptional(route.schema.querystring) }
        : {}),
      response: { ...response, default: PROBLEM_RESPONSE },
    };
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
    // A frame the protocol refuses (bad opcode, too large, not masked) or a client vanishing
    // mid-stream is the client's doing: ws has already closed the socket with the right code, so
    // it is noted at debug level without a stack. Anything else is ours.
    errorHandler(error, socket, request) {
      const code = (error as { code?: string }).code;
      if (code?.startsWith('WS_ERR_') || code === 'ECONNRESET' || code === 'EPIPE') {
        request.log.debug({ code, message: error.message }, 'bad WebSocket frame');
      } else {
        request.log.error({ err: error }, 'WebSocket handler failed');
      }
      socket.terminate();
    },
    // On shutdown, tell clients it is a restart ("going away") so they reconnect elsewhere.
    preClose(done) {
      for (const client of this.websocketServer.clients) client.close(1001, 'server shutting down');
      done();
    },
  });
  // Before everything that costs: an overloaded node refuses at the door (503 `overloaded`).
  // After the WebSocket plugin, whose hooks close an upgrade's socket once it is refused.
  await registerLoadShedding(app, ctx);
  // A request's database work, all of it, gets DATABASE_REQUEST_TIMEOUT_MS of database time on
  // Postgres (streams excepted: they live on after the request), and is counted everywhere.
  // Entered twice: before the auth hooks, and again once the body is read (reading it leaves
  // the request's async context).
  const dbBudget =
    ctx.config.databaseRequestTimeout > 0 && ctx.database.kind === 'postgres'
      ? ctx.config.databaseRequestTimeout
      : Infinity;
  const budgets = new WeakMap<FastifyRequest, DatabaseBudget>();
  app.addHook('onRequest', (request, _reply, done) => {
    if (isStream(request)) return done();
    const budget = { left: dbBudget, statements: 0 };
    budgets.set(request, budget);
    withDatabaseBudget(budget, done);
  });
  app.addHook('preValidation', (request, _reply, done) => {
    const budget = budgets.get(request);
    if (budget === undefined) done();
    else withDatabaseBudget(budget, done);
  });
  app.addHook('onResponse', async (request) => {
    const budget = budgets.get(request);
    if (budget === undefined) return;
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.httpDbStatements.observe({ method: request.method, route }, budget.statements);
  });
  // Whatever verified the token, a suspended account can do nothing (checked from a per-node
  // cache that a broadcast invalidates on every node at once).
  registerAuth(app, ctx.tokens, async (userId, principal) => {
    await ctx.accountStatus.assertActive(principal);
    await ctx.activity.touch(userId);
  });

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
