import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiClient, ScriptFailure, type ApiClientOptions, type CallError } from './api-client.ts';
import { actorOf, type CommandName, type ScriptCommand } from './script-parser.ts';

/** A post in the output of FEED. */
export interface FeedEntry {
  readonly id: string;
  /** `post N` when the script created it, else undefined. */
  readonly post: number | undefined;
  readonly author: string;
  readonly text: string;
  readonly like_count: number;
  readonly comment_count: number;
}

/** A notification in the output of NOTIFICATIONS. */
export interface NotificationEntry {
  readonly type: string;
  readonly actors: readonly string[];
  readonly actor_count: number;
  readonly post: number | undefined;
  readonly read: boolean;
}

export interface CommandResult {
  readonly line: number;
  readonly seq: number | undefined;
  readonly command: CommandName;
  /** The user the command acted as (absent for SLEEP). */
  readonly user: string | undefined;
  readonly ok: boolean;
  /** What happened (`post 1 = <id>`), or the error (`404 post_not_found: …`). */
  readonly message: string;
  /** The id of what the command created, if it created something. */
  readonly id: string | undefined;
  readonly error: CallError | undefined;
  /** Time the command took, rate-limit waits excluded. */
  readonly latencyMs: number;
  /** Time spent waiting out 429 answers (Retry-After) before retrying. */
  readonly rateLimitWaitMs: number;
  /** FEED and NOTIFICATIONS: the first page. */
  readonly items?: readonly FeedEntry[] | readonly NotificationEntry[];
}

export interface RunReport {
  readonly url: string;
  readonly results: readonly CommandResult[];
  /** Wall time of the whole run, waits and SLEEPs included (seed A's "time taken"). */
  readonly totalMs: number;
  /** Commands left unrun because the run stopped at a failure. */
  readonly notRun: number;
}

export interface RunOptions extends ApiClientOptions {
  /** Run past failures instead of stopping at the first one. */
  readonly keepGoing?: boolean;
  /** Called as each command finishes, before the next starts. */
  readonly onResult?: (result: CommandResult) => void;
}

interface Outcome {
  message: string;
  id?: string;
  items?: readonly FeedEntry[] | readonly NotificationEntry[];
}

interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
type UserRef = { username: string };
type PostBody = {
  id: string;
  author: UserRef;
  text: string;
  like_count: number;
  comment_count: number;
};
type Session = { access_token: string; user: { id: string } };
type RequestBody = { id: string; from: UserRef; status: string };
type LikeBody = { like_count: number; changed: boolean };

const FIRST_PAGE = 20;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The script's view of the server: who it is logged in as, and what its posts are called. */
class ScriptState {
  readonly #api: ApiClient;
  readonly #logins = new Map<string, { password: string; token: string }>();
  readonly #posts = new Map<number, string>();
  readonly #numbers = new Map<string, number>();
  /** `from>to` → id of the last friend request the script sent. */
  readonly #requests = new Map<string, string>();
  /** `a>b` (sorted) → conversation id. */
  readonly #conversations = new Map<string, string>();

  constructor(api: ApiClient) {
    this.#api = api;
  }

  async #login(username: string, password: string): Promise<Session> {
    const session = await this.#api.call<Session>('POST', '/auth/login', {
      body: { login: username, password },
    });
    this.#logins.set(username.toLowerCase(), { password, token: session.access_token });
    return session;
  }

  /** A call as `username`; logs in again once if the access token expired meanwhile. */
  async #as<T>(username: string, method: string, path: string, body?: unknown): Promise<T> {
    const login = this.#logins.get(username.toLowerCase());
    if (!login) {
      throw new ScriptFailure({
        detail: `not logged in as ${username}: the ADD or LOGIN line for that user failed`,
      });
    }
    try {
      return await this.#api.call<T>(method, path, { body, token: login.token });
    } catch (err) {
      if (!(err instanceof ScriptFailure) || err.error.code !== 'token_expired') throw err;
      const session = await this.#login(username, login.password);
      return this.#api.call<T>(method, path, { body, token: session.access_token });
    }
  }

  #post(n: number): string {
    const id = this.#posts.get(n);
    if (!id) throw new ScriptFailure({ detail: `post ${n} was not created (its line failed)` });
    return id;
  }

  async #pendingFrom(username: string, from: string): Promise<string> {
    const key = `${from.toLowerCase()}>${username.toLowerCase()}`;
    const known = this.#requests.get(key);
    if (known) return known;
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page: Page<RequestBody> = await this.#as(
        username,
        'GET',
        `/friend-requests?direction=incoming&limit=100${query}`,
      );
      const found = page.items.find((r) => r.from.username === from.toLowerCase());
      if (found) return found.id;
      cursor = page.next_cursor;
    } while (cursor);
    throw new ScriptFailure({ detail: `${username} has no pending friend request from ${from}` });
  }

  #feedEntry = (p: PostBody): FeedEntry => ({
    id: p.id,
    post: this.#numbers.get(p.id),
    author: p.author.username,
    text: p.text,
    like_count: p.like_count,
    comment_count: p.comment_count,
  });

  async execute(cmd: ScriptCommand): Promise<Outcome> {
    const user = (name: string) => `/users/${encodeURIComponent(name)}`;
    switch (cmd.name) {
      case 'ADD': {
        const { username, dob, email, password } = cmd.args;
        const me = await this.#api.call<{ id: string }>('POST', '/auth/register', {
          body: { username, email, password, dob },
        });
        await this.#login(username, password);
        return { message: `user ${username} = ${me.id}`, id: me.id };
      }
      case 'LOGIN': {
        const session = await this.#login(cmd.args.username, cmd.args.password);
        return { message: `logged in as ${cmd.args.username} = ${session.user.id}` };
      }
      case 'CREATE_POST': {
        const { username, text, visibility } = cmd.args;
        const post = await this.#as<PostBody>(username, 'POST', '/posts', {
          text,
          ...(visibility ? { visibility } : {}),
        });
        this.#posts.set(cmd.creates, post.id);
        this.#numbers.set(post.id, cmd.creates);
        const shown = visibility && visibility !== 'public' ? ` (${visibility})` : '';
        return { message: `post ${cmd.creates} = ${post.id}${shown}`, id: post.id };
      }
      case 'EDIT_POST': {
        const { username, post, text } = cmd.args;
        await this.#as(username, 'PATCH', `/posts/${this.#post(post)}`, { text });
        return { message: `post ${post} edited` };
      }
      case 'DELETE_POST': {
        const { username, post } = cmd.args;
        await this.#as(username, 'DELETE', `/posts/${this.#post(post)}`);
        return { message: `post ${post} deleted` };
      }
      case 'COMMENT': {
        const { username, post, text } = cmd.args;
        const path = `/posts/${this.#post(post)}/comments`;
        const comment = await this.#as<{ id: string }>(username, 'POST', path, { text });
        return { message: `comment = ${comment.id} on post ${post}`, id: comment.id };
      }
      case 'LIKE':
      case 'UNLIKE': {
        const { username, post } = cmd.args;
        const method = cmd.name === 'LIKE' ? 'POST' : 'DELETE';
        const state = await this.#as<LikeBody>(username, method, `/posts/${this.#post(post)}/like`);
        const did = cmd.name === 'LIKE' ? 'liked' : 'unliked';
        const what = state.changed ? `post ${post} ${did}` : `post ${post} was already ${did}`;
        return { message: `${what} (${plural(state.like_count, 'like')})` };
      }
      case 'FRIEND_REQUEST': {
        const { from, to } = cmd.args;
        const request = await this.#as<RequestBody>(from, 'POST', `${user(to)}/friend-request`);
        if (request.status !== 'pending') {
          return { message: `${to} had asked first: now friends (request ${request.id})` };
        }
        this.#requests.set(`${from.toLowerCase()}>${to.toLowerCase()}`, request.id);
        return { message: `friend request = ${request.id} to ${to}`, id: request.id };
      }
      case 'ACCEPT_FRIEND':
      case 'DECLINE_FRIEND': {
        const { username, from } = cmd.args;
        const id = await this.#pendingFrom(username, from);
        const action = cmd.name === 'ACCEPT_FRIEND' ? 'accept' : 'decline';
        await this.#as(username, 'POST', `/friend-requests/${id}/${action}`);
        this.#requests.delete(`${from.toLowerCase()}>${username.toLowerCase()}`);
        return {
          message:
            action === 'accept'
              ? `now friends with ${from} (request ${id})`
              : `declined ${from}'s request ${id}`,
        };
      }
      case 'FOLLOW':
      case 'UNFOLLOW': {
        const { username, target } = cmd.args;
        const method = cmd.name === 'FOLLOW' ? 'POST' : 'DELETE';
        const state = await this.#as<{ changed: boolean }>(
          username,
          method,
          `${user(target)}/follow`,
        );
        const [done, already] =
          cmd.name === 'FOLLOW'
            ? ['following', 'already following']
            : ['no longer following', 'was not following'];
        return { message: `${state.changed ? done : already} ${target}` };
      }
      case 'MESSAGE': {
        const { from, to, text } = cmd.args;
        const key = [from.toLowerCase(), to.toLowerCase()].sort().join('>');
        let conversation = this.#conversations.get(key);
        if (!conversation) {
          const body = { username: to };
          conversation = (await this.#as<{ id: string }>(from, 'POST', '/conversations', body)).id;
          this.#conversations.set(key, conversation);
        }
        const path = `/conversations/${conversation}/messages`;
        const message = await this.#as<{ id: string }>(from, 'POST', path, { text });
        return { message: `message = ${message.id} to ${to}`, id: message.id };
      }
      case 'FEED': {
        const page = await this.#as<Page<PostBody>>(
          cmd.args.username,
          'GET',
          `/feed?limit=${FIRST_PAGE}`,
        );
        const more = page.next_cursor ? ' (first page)' : '';
        return {
          message: `${plural(page.items.length, 'post')}${more}`,
          items: page.items.map(this.#feedEntry),
        };
      }
      case 'NOTIFICATIONS': {
        type Body = {
          type: string;
          actors: UserRef[];
          actor_count: number;
          post_id: string | null;
          read: boolean;
        };
        const page = await this.#as<Page<Body>>(
          cmd.args.username,
          'GET',
          `/notifications?limit=${FIRST_PAGE}`,
        );
        const unread = page.items.filter((n) => !n.read).length;
        return {
          message: `${plural(page.items.length, 'notification')}, ${unread} unread`,
          items: page.items.map((n) => ({
            type: n.type,
            actors: n.actors.map((a) => a.username),
            actor_count: n.actor_count,
            post: n.post_id ? this.#numbers.get(n.post_id) : undefined,
            read: n.read,
          })),
        };
      }
      case 'SLEEP':
        await delay(cmd.args.milliseconds);
        return { message: `slept ${cmd.args.milliseconds} ms` };
    }
  }
}

/**
 * Replays parsed commands against a kith server through its public API, reading every answer.
 * Stops at the first failure unless `keepGoing`.
 */
export async function runScript(
  commands: readonly ScriptCommand[],
  opts: RunOptions,
): Promise<RunReport> {
  const api = new ApiClient(opts);
  const state = new ScriptState(api);
  const results: CommandResult[] = [];
  const started = performance.now();
  let notRun = 0;
  for (const [index, cmd] of commands.entries()) {
    const waitedBefore = api.waitedMs;
    const t0 = performance.now();
    let outcome: Outcome | undefined;
    let error: CallError | undefined;
    try {
      outcome = await state.execute(cmd);
    } catch (err) {
      error =
        err instanceof ScriptFailure
          ? err.error
          : { detail: `unexpected error: ${err instanceof Error ? err.message : String(err)}` };
    }
    const waited = api.waitedMs - waitedBefore;
    const result: CommandResult = {
      line: cmd.line,
      seq: cmd.seq,
      command: cmd.name,
      user: actorOf(cmd),
      ok: error === undefined,
      message: outcome?.message ?? describeError(error!),
      id: outcome?.id,
      error,
      latencyMs: performance.now() - t0 - waited,
      rateLimitWaitMs: waited,
      ...(outcome?.items ? { items: outcome.items } : {}),
    };
    results.push(result);
    opts.onResult?.(result);
    if (error && !opts.keepGoing) {
      notRun = commands.length - index - 1;
      break;
    }
  }
  return { url: api.baseUrl, results, totalMs: performance.now() - started, notRun };
}

/** `404 post_not_found: The post does not exist.` */
export function describeError(error: CallError): string {
  const head = [error.status, error.code].filter((x) => x !== undefined).join(' ');
  return head ? `${head}: ${error.detail}` : error.detail;
}
