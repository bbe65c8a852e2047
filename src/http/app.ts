import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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
import { AppError, ValidationError } from '../errors.ts';
import { authRoutes } from '../modules/accounts/auth.routes.ts';
import { usersRoutes } from '../modules/accounts/users.routes.ts';
import { commentsRoutes } from '../modules/comments/comments.routes.ts';
import { dsbRoutes } from '../modules/dsb/dsb.routes.ts';
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
import { registerLoadShedding } from './load-shedding.ts';
import { problemResponse, sendProblem } from './problem.ts';
import { partValidators } from './validation.ts';

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

/** JSON bodies nest at most this deep; deeper ones are refused before they are parsed. */
export const JSON_MAX_DEPTH = 64;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether `text` nests arrays/objects deeper than `max`: one pass, no recursion, strings skipped. */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * kith takes JSON only. Bodies must be UTF-8 (RFC 8259; invalid bytes are refused rather than
 * silently replaced), nest at most JSON_MAX_DEPTH levels, and carry no `__proto__` or
 * `constructor.prototype` keys (Fastify's secure-json-parse). An empty text/plain body (what some
 * clients send with a bodiless POST) passes; any other type is 415.
 */
function registerBodyParsers(app: App): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      return done(new AppError(400, 'invalid_json', 'The body is not valid UTF-8.'), undefined);
    }
    if (nestsDeeperThan(text, JSON_MAX_DEPTH)) {
      const message = `The body nests deeper than ${JSON_MAX_DEPTH} levels.`;
      return done(new AppError(400, 'json_too_deep', message), undefined);
    }
    void parseJson(request, text, done);
  });
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') return done(null, undefined);
    const message = 'Send the body as application/json.';
    done(new AppError(415, 'unsupported_media_type', message), undefined);
  });
}

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
  if (config.dsbCompat) await app.register(dsbRoutes(ctx));
  return app;
}
