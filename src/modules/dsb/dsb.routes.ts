import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { sendProblem, toAppError } from '../../http/problem.ts';
import { DsbService, MAX_STOP, type DsbPair } from './dsb.service.ts';
import {
  bound,
  dsbId,
  field,
  formOf,
  incomplete,
  mediaOf,
  postType,
  queryOf,
  required,
} from './form.ts';

/** DSB's nginx answers with `ngx.say`: plain text ending in a newline. */
function text(reply: FastifyReply, body: string, status = 200) {
  return reply.status(status).type('text/plain; charset=utf-8').send(`${body}\n`);
}

/** DSB clients read text: client errors are plain text; a 5xx is kith's usual problem+json. */
function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const e = toAppError(error);
  if (e.status >= 500) return sendProblem(error, request, reply);
  const details = e.errors?.map((f) => `${f.path.replace(/^\//, '')} ${f.message}`).join('; ');
  if (e.headers) void reply.headers(e.headers);
  return text(reply, details ? `${e.message.replace(/\.$/, '')}: ${details}` : e.message, e.status);
}

/** Follow and unfollow name both users by DSB id, or both by username. */
function pairOf(form: URLSearchParams): DsbPair {
  const [userId, followeeId] = [field(form, 'user_id'), field(form, 'followee_id')];
  if (userId !== undefined && followeeId !== undefined) {
    return { ids: [dsbId(userId, 'user_id'), dsbId(followeeId, 'followee_id')] };
  }
  const [userName, followeeName] = [field(form, 'user_name'), field(form, 'followee_name')];
  if (userName !== undefined && followeeName !== undefined)
    return { names: [userName, followeeName] };
  throw incomplete();
}

/**
 * The HTTP routes DeathStarBench's social-network workload generator (wrk2 scripts) and graph
 * loader (init_social_graph.py) call, registered only when DSB_COMPAT is on. Requests are
 * `application/x-www-form-urlencoded`, sent unencoded (see form.ts); writes answer 200 with
 * DSB's texts, timeline reads a JSON array. Undocumented in the OpenAPI: they are not kith's API.
 */
export function dsbRoutes(ctx: Context) {
  const dsb = new DsbService({
    db: ctx.database.db,
    cache: ctx.cache,
    users: ctx.users,
    social: ctx.social,
    posts: ctx.posts,
    feed: ctx.feed,
  });
  const hidden = { schema: { hide: true } };
  return async (app: App) => {
    // Every body is read as text, whatever its content type says (GETs carry a form content
    // type with no body), then parsed as a form by each route.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) =>
      done(null, body),
    );
    app.setErrorHandler(sendError);

    app.post('/wrk2-api/user/register', hidden, async (request, reply) => {
      const form = formOf(request.body);
      const f = required(form, 'first_name', 'last_name', 'username', 'password', 'user_id');
      await dsb.register({
        dsbId: dsbId(f.user_id, 'user_id'),
        username: f.username,
        password: f.password,
        firstName: f.first_name,
        lastName: f.last_name,
      });
      return text(reply, 'Success!');
    });

    app.post('/wrk2-api/user/follow', hidden, async (request, reply) => {
      await dsb.follow(pairOf(formOf(request.body)), true);
      return text(reply, 'Success!');
    });

    app.post('/wrk2-api/user/unfollow', hidden, async (request, reply) => {
      await dsb.follow(pairOf(formOf(request.body)), false);
      return text(reply, 'Success!');
    });

    app.post('/wrk2-api/post/compose', hidden, async (request, reply) => {
      const form = formOf(request.body);
      const f = required(form, 'username', 'user_id', 'text', 'post_type');
      await dsb.compose({
        dsbId: dsbId(f.user_id, 'user_id'),
        username: f.username,
        text: f.text,
        media: mediaOf(field(form, 'media_ids'), field(form, 'media_types')),
        postType: postType(f.post_type),
      });
      return text(reply, 'Successfully upload post');
    });

    /** A timeline slice as DeathStarBench's clients expect it: a bare JSON array. */
    type Read = (dsbId: string, start: number, stop: number) => Promise<unknown[]>;
    const timeline = (read: Read) => async (request: FastifyRequest, reply: FastifyReply) => {
      const q = required(queryOf(request.url), 'user_id', 'start', 'stop');
      const posts = await read(
        dsbId(q.user_id, 'user_id'),
        bound(q.start, 'start', MAX_STOP),
        bound(q.stop, 'stop', MAX_STOP),
      );
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(posts));
    };
    app.get(
      '/wrk2-api/home-timeline/read',
      hidden,
      timeline((...a) => dsb.homeTimeline(...a)),
    );
    app.get(
      '/wrk2-api/user-timeline/read',
      hidden,
      timeline((...a) => dsb.userTimeline(...a)),
    );
  };
}
