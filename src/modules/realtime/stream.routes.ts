import type { FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket';
import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { AppError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import { problemResponse } from '../../http/problem.ts';
import type { StreamEvent } from './stream-log.repository.ts';
import { STREAM_BROADCAST } from './publisher.service.ts';
import type { Delivery } from './stream-log.repository.ts';
import { StreamQuery } from './stream.schemas.ts';
import type { StreamEnd } from './stream-sessions.service.ts';

/** WebSocket close code when the access token expires: reconnect with a fresh token and `since`. */
export const TOKEN_EXPIRED_CLOSE = 4001;
/** WebSocket close code when the account is suspended while the stream is open. */
export const ACCOUNT_SUSPENDED_CLOSE = 4003;
/** WebSocket close code when the account is deactivated (its deletion asked for) meanwhile. */
export const ACCOUNT_DEACTIVATED_CLOSE = 4004;
const GOING_AWAY = 1001;
const POLICY_VIOLATION = 1008;

const EVENTS =
  'Every event is `{seq, type, data}` with `seq` increasing per user: `notification`, `message`, `message.read`, `feed.post`, `post.edited`, `post.deleted`; events about a post reach only those who may see it then (visibility, blocks either way), as reads do. `ready` first when you connect without `since` (its `seq` is where you start: resume from it later), and `resync` (you missed more than the server keeps: reload, then continue from its `seq`).';

const CAP =
  'A user may hold STREAMS_PER_USER streams open on one API node (WebSocket and SSE together); one more is refused with 429 `too_many_streams`.';

/** Error answers of both stream routes, given before any stream opens. */
const STREAM_ERRORS = {
  401: problemResponse('No valid access token (`Authorization: Bearer` or `?access_token=`).'),
  429: problemResponse('Too many streams open for this user on this node (`too_many_streams`).'),
};

/** The real-time stream of the signed-in user, over WebSocket or Server-Sent Events. */
export function streamRoutes(ctx: Context) {
  const { hub, config } = ctx;
  const heartbeatMs = config.streamHeartbeatSeconds * 1000;
  return async (app: App) => {
    // Every node hears every stream broadcast, and checks the log now and then for any it missed,
    // and at once when its subscription is back after a broker outage.
    const check = () => {
      hub.check().catch((err: unknown) => ctx.log.warn({ err }, 'stream check failed'));
    };
    const subscription = await ctx.bus.onBroadcast((message) => {
      if (message.type === STREAM_BROADCAST)
        hub.deliver((message.data as { events: Delivery[] }).events);
    }, check);
    const checker = setInterval(check, heartbeatMs);
    checker.unref();
    const sessions = ctx.streamSessions;
    const tooMany = () =>
      new AppError(
        429,
        'too_many_streams',
        `You have ${config.streamsPerUser} streams open on this server; close one first.`,
      );
    /** Refuses, before any upgrade or response, a stream beyond the user's cap. */
    const underCap = async (request: FastifyRequest) => {
      if (sessions.atCap(principalOf(request).userId)) throw tooMany();
    };
    // Before the server waits for its connections: open streams would otherwise hold it up.
    app.addHook('preClose', async () => sessions.closeAll());
    app.addHook('onClose', async () => {
      clearInterval(checker);
      await subscription.stop();
    });

    /** Attaches a connection (see StreamSessions.open); undefined at the user's cap. */
    const open = (
      request: FastifyRequest,
      since: number | undefined,
      send: (e: StreamEvent) => void,
      end: (reason: StreamEnd) => void,
    ) => sessions.open(principalOf(request), since, send, end);

    app.route({
      method: 'GET',
      url: '/stream',
      config: { auth: 'required', tokenInQuery: true },
      schema: {
        tags: ['realtime'],
        summary: 'Your real-time stream (WebSocket)',
        description: `Upgrade to a WebSocket (\`Connection: Upgrade\`, \`Upgrade: websocket\`, RFC 6455); the access token goes in \`Authorization: Bearer\` or, for browsers, \`?access_token=\`. ${EVENTS} Resume with \`?since=<last seq>\`. The server pings every STREAM_HEARTBEAT_SECONDS and drops connections that do not answer. When the access token expires the socket closes with code ${TOKEN_EXPIRED_CLOSE} (\`token_expired\`); when the account is suspended or deactivated (its deletion asked for) on any node, with ${ACCOUNT_SUSPENDED_CLOSE} (\`account_suspended\`) or ${ACCOUNT_DEACTIVATED_CLOSE} (\`account_deactivated\`). Frames from the client other than pongs are ignored; a frame over 4 KiB or one the protocol refuses closes the socket (1009 or 1002). ${CAP}`,
        querystring: StreamQuery,
        response: {
          101: Type.Null({
            description:
              'Switching Protocols: the WebSocket is open and events follow as text frames.',
          }),
          426: problemResponse(
            'A plain HTTP request, without `Upgrade: websocket` (`upgrade_required`).',
          ),
          ...STREAM_ERRORS,
        },
      },
      preHandler: underCap,
      // A plain HTTP request (no Upgrade): say how to connect instead of a bare 404.
      handler: () => {
        throw new AppError(
          426,
          'upgrade_required',
          'Connect with a WebSocket upgrade, or read /api/v1/stream/sse.',
          { headers: { upgrade: 'websocket', connection: 'Upgrade' } },
        );
      },
      wsHandler: (socket, request) => {
        let alive = true;
        const close = open(
          request,
          (request.query as { since?: number }).since,
          (event) => {
            if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(event));
          },
          (reason) =>
            reason === 'token_expired'
              ? socket.close(TOKEN_EXPIRED_CLOSE, 'token_expired')
              : reason === 'account_suspended'
                ? socket.close(ACCOUNT_SUSPENDED_CLOSE, 'account_suspended')
                : reason === 'account_deactivated'
                  ? socket.close(ACCOUNT_DEACTIVATED_CLOSE, 'account_deactivated')
                  : socket.close(GOING_AWAY, 'server shutting down'),
        );
        if (!close) return void socket.close(POLICY_VIOLATION, 'too_many_streams');
        const ping = setInterval(() => {
          if (!alive) return void socket.terminate();
          alive = false;
          socket.ping();
        }, heartbeatMs);
        socket.on('pong', () => (alive = true));
        socket.on('close', () => {
          clearInterval(ping);
          close();
        });
      },
    });

    app.get(
      '/stream/sse',
      {
        // HEAD would open a stream that never answers.
        exposeHeadRoute: false,
        config: { auth: 'required', tokenInQuery: true },
        schema: {
          tags: ['realtime'],
          summary: 'Your real-time stream (Server-Sent Events)',
          description: `\`text/event-stream\`: each event has \`id: <seq>\`, \`event: <type>\` and \`data: {seq, type, data}\`. ${EVENTS} The access token goes in \`Authorization: Bearer\` or \`?access_token=\` (EventSource cannot send headers). Resume with the \`Last-Event-ID\` header (browsers send it on reconnect) or \`?since=\`. A comment line every STREAM_HEARTBEAT_SECONDS keeps proxies from closing it. When the access token expires, or the account is suspended or deactivated, an \`error\` event (\`{"code":"token_expired"}\`, \`account_suspended\`, \`account_deactivated\`) is sent and the stream ends. ${CAP}`,
          querystring: StreamQuery,
          headers: Type.Object({
            'last-event-id': Type.Optional(
              Type.String({
                description: 'The `seq` of the last event received: resume after it.',
              }),
            ),
          }),
          response: {
            200: {
              description: 'The stream: it stays open, one event after another.',
              content: { 'text/event-stream': { schema: Type.String() } },
            },
            ...STREAM_ERRORS,
          },
        },
        preHandler: underCap,
      },
      (request, reply) => {
        const header = request.headers['last-event-id'];
        const fromHeader =
          typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
        const since = fromHeader ?? (request.query as { since?: number }).since;
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'x-request-id': request.id,
        });
        res.write('retry: 2000\n\n');
        const write = (chunk: string) => {
          if (!res.writableEnded) res.write(chunk);
        };
        const close = open(
          request,
          since,
          (e) => write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`),
          (reason) => {
            if (reason !== 'shutdown')
              write(`event: error\ndata: ${JSON.stringify({ code: reason })}\n\n`);
            res.end();
          },
        );
        // Not reached: nothing runs between the cap check (preHandler) and here.
        if (!close) return void res.end();
        const heartbeat = setInterval(() => write(': heartbeat\n\n'), heartbeatMs);
        res.on('close', () => {
          clearInterval(heartbeat);
          close();
        });
      },
    );
  };
}
