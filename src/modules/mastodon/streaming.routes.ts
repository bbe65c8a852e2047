import type { FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket';
import type { Context } from '../../app/context.ts';
import { AppError, ForbiddenError } from '../../errors.ts';
import { hasScope, principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import type { StreamEnd } from '../realtime/stream-sessions.service.ts';
import type { StreamEvent } from '../realtime/stream-log.repository.ts';
import { originOf } from './paging.ts';
import { mastodonEvents, parseSubscription, type MastodonEvent } from './streaming.events.ts';
import { PublicStreams } from './public-streams.ts';

/** Close codes: as kith's own stream (token expired, account suspended or deactivated). */
const CLOSE: Record<StreamEnd, [number, string]> = {
  token_expired: [4001, 'token_expired'],
  account_suspended: [4003, 'account_suspended'],
  account_deactivated: [4004, 'account_deactivated'],
  shutdown: [1001, 'server shutting down'],
};
const POLICY_VIOLATION = 1008;

const streamingConfig = { auth: 'required' as const, tokenInQuery: true, scope: '' };

/**
 * Mastodon's streaming API (docs methods/streaming.md) over kith's stream hub, so it reaches
 * every API node and follows the same rules as kith's own streams (docs/MASTODON.md).
 */
export function mastodonStreamingRoutes(ctx: Context) {
  const { config, streamSessions: sessions } = ctx;
  const heartbeatMs = config.streamHeartbeatSeconds * 1000;
  const translate = mastodonEvents(ctx);
  const gauge = ctx.metrics.mastodonStreamSubscriptions;
  const publicStreams = new PublicStreams(ctx);

  /** A read scope for the user's streams, and room under STREAMS_PER_USER. */
  const admit = async (request: FastifyRequest) => {
    const principal = principalOf(request);
    if (!['read:statuses', 'read:notifications'].some((s) => hasScope(principal, s)))
      throw new ForbiddenError('insufficient_scope', 'Streaming needs the "read" scope.');
    if (sessions.atCap(principal.userId))
      throw new AppError(
        429,
        'too_many_streams',
        `You have ${config.streamsPerUser} streams open on this server; close one first.`,
      );
  };

  /**
   * Attaches a connection whose kith events are turned into Mastodon events in order; `deliver`
   * gets each. Undefined at the user's cap.
   */
  function open(
    request: FastifyRequest,
    deliver: (e: MastodonEvent) => void,
    end: (reason: StreamEnd) => void,
  ) {
    const principal = principalOf(request);
    const origin = originOf(request);
    let chain = Promise.resolve();
    const send = (e: StreamEvent) => {
      chain = chain
        .then(async () => {
          for (const event of await translate(principal.userId, origin, e)) deliver(event);
        })
        .catch((err: unknown) =>
          request.log.warn({ err, type: e.type }, 'Mastodon stream event dropped'),
        );
    };
    return sessions.open(principal, undefined, send, end);
  }

  return async (app: App) => {
    // masto.js and browsers send the token as the WebSocket subprotocol (ws echoes the first
    // one offered, as the browsers require): read it as a bearer token when nothing else is.
    app.addHook('onRequest', async (request) => {
      const protocol = request.headers['sec-websocket-protocol'];
      const query = request.query as { access_token?: unknown };
      if (typeof protocol === 'string' && !request.headers.authorization && !query.access_token)
        request.headers.authorization = `Bearer ${protocol.split(',')[0]!.trim()}`;
    });
    app.addHook('preClose', async () => sessions.closeAll());
    app.addHook('onClose', await publicStreams.start());

    app.get('/v1/streaming/health', async (_request, reply) =>
      reply.type('text/plain; charset=utf-8').send('OK'),
    );

    app.route({
      method: 'GET',
      url: '/v1/streaming',
      config: streamingConfig,
      preHandler: admit,
      handler: () => {
        throw new AppError(426, 'upgrade_required', 'Connect with a WebSocket upgrade.', {
          headers: { upgrade: 'websocket', connection: 'Upgrade' },
        });
      },
      wsHandler: (socket, request) => {
        const subscribed = new Map<string, string[]>();
        const frame = (body: unknown) => {
          if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(body));
        };
        const subscribe = (params: Record<string, unknown>, on: boolean) => {
          const sub = parseSubscription(params);
          if ('error' in sub) return frame(sub);
          if (on === subscribed.has(sub.key)) return;
          if (on) subscribed.set(sub.key, sub.stream);
          else subscribed.delete(sub.key);
          gauge.inc({ stream: sub.stream[0] }, on ? 1 : -1);
        };
        const close = open(
          request,
          ({ event, payload, streams }) => {
            for (const name of streams)
              if (subscribed.has(name)) frame({ stream: [name], event, payload });
          },
          (reason) => socket.close(...CLOSE[reason]),
        );
        if (!close) return void socket.close(POLICY_VIOLATION, 'too_many_streams');
        const unlisten = publicStreams.listen({
          viewerId: principalOf(request).userId,
          origin: originOf(request),
          subscribed,
          send: (stream, event, payload) => frame({ stream, event, payload }),
        });
        const query = request.query as Record<string, unknown>;
        if (query.stream !== undefined) subscribe(query, true);
        socket.on('message', (raw: Buffer) => {
          let message: Record<string, unknown>;
          try {
            message = JSON.parse(raw.toString()) as Record<string, unknown>;
          } catch {
            return frame({ error: 'Error parsing JSON', status: 400 });
          }
          if (message?.type === 'subscribe' || message?.type === 'unsubscribe')
            subscribe(message, message.type === 'subscribe');
        });
        let alive = true;
        const ping = setInterval(() => {
          if (!alive) return void socket.terminate();
          alive = false;
          socket.ping();
        }, heartbeatMs);
        socket.on('pong', () => (alive = true));
        socket.on('close', () => {
          clearInterval(ping);
          for (const [, stream] of subscribed) gauge.dec({ stream: stream[0] });
          unlisten();
          close();
        });
      },
    });

    /** Server-Sent Events: `event: <name>` and `data: <payload>`, for one stream. */
    const sse = (url: string, stream: 'user' | 'user:notification' | 'direct') =>
      app.get(
        url,
        { exposeHeadRoute: false, config: streamingConfig, preHandler: admit },
        (request, reply) => {
          reply.hijack();
          const res = reply.raw;
          res.writeHead(200, {
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-cache, no-transform',
            connection: 'keep-alive',
            'x-accel-buffering': 'no',
            'access-control-allow-origin': '*',
          });
          res.write(':)\n\n');
          const write = (chunk: string) => {
            if (!res.writableEnded) res.write(chunk);
          };
          const close = open(
            request,
            ({ event, payload, streams }) => {
              if (streams.includes(stream)) write(`event: ${event}\ndata: ${payload}\n\n`);
            },
            () => res.end(),
          );
          if (!close) return void res.end();
          gauge.inc({ stream });
          const heartbeat = setInterval(() => write(':thump\n\n'), heartbeatMs);
          res.on('close', () => {
            clearInterval(heartbeat);
            gauge.dec({ stream });
            close();
          });
        },
      );
    sse('/v1/streaming/user', 'user');
    sse('/v1/streaming/user/notification', 'user:notification');
    sse('/v1/streaming/direct', 'direct');
  };
}
