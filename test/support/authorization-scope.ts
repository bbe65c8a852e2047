/**
 * Which authorization matrix covers which route. Every route the app registers falls in exactly
 * one area (test/authorization/routes.test.ts checks that), and each matrix file checks it has
 * cases for every route of its area: a new route without a matrix entry fails, by name.
 */
import assert from 'node:assert/strict';
import type { HTTPMethods } from 'fastify';
import { API_PREFIX, type App } from '../../src/http/types.ts';

export type Area =
  | 'content'
  | 'accounts'
  | 'messages'
  | 'streams'
  | 'public'
  | 'oauth'
  | 'lifecycle'
  | 'mastodon'
  | 'moderation'
  | 'media'
  | 'search';

/** The routes of each area (Fastify route urls) and the file whose matrix covers them. */
export const AREAS: Record<Area, { file: string; routes: RegExp }> = {
  content: {
    file: 'test/authorization/matrix.test.ts',
    routes:
      /^\/api\/v1\/(posts|comments|friend-requests|friends|relationships|me\/suggestions|feed|users\/:username\/(follow|block|mute|friend-request|posts|followers|following|friends))(\/|$)/,
  },
  accounts: {
    file: 'test/authorization/routes.test.ts',
    routes:
      /^\/(healthz|readyz|api\/v1\/(auth\/.+|me|me\/(password|email|avatar|header)|users|users\/:username))$/,
  },
  messages: {
    file: 'test/authorization/messages.test.ts',
    // kith's own notification routes; the Mastodon ones beside them are in the mastodon area.
    routes: /^\/api\/v1\/(conversations(\/|$)|notifications(\/(unread-count|read))?$)/,
  },
  streams: {
    file: 'test/authorization/streams.test.ts',
    // kith's streams and Mastodon's streaming API over the same hub.
    routes: /^\/api\/v1\/stream(ing)?(\/|$)/,
  },
  // OAuth for Mastodon clients and the discovery documents (src/modules/oauth, instance).
  oauth: {
    file: 'test/authorization/oauth.test.ts',
    routes:
      /^\/(oauth\/(authorize|token|revoke)|api\/v1\/apps(\/verify_credentials)?|api\/v[12]\/instance|\.well-known\/(oauth-authorization-server|nodeinfo)|nodeinfo\/2\.0)$/,
  },
  lifecycle: {
    file: 'test/authorization/lifecycle.test.ts',
    routes: /^\/api\/v1\/(me\/export|exports\/:token)$/,
  },
  // The Mastodon client API (src/modules/mastodon), with its CORS preflight route (OPTIONS
  // /api/*, which printRoutes shows as a bare `*`).
  mastodon: {
    file: 'test/authorization/mastodon.test.ts',
    routes:
      // (Paths kith's own search module serves too belong to its matrix.)
      /^(?!\/api\/v1\/(followed_tags|trends\/tags|timelines\/public)$)(\*|\/api\/(\*|v2\/(filters|media|search)|v1\/tags\/:name(\/(follow|unfollow))?|v1\/(accounts|statuses|timelines|follow_requests|lists|filters|custom_emojis|announcements|followed_tags|trends|bookmarks|scheduled_statuses|preferences|push|markers|profile|favourites|blocks|mutes)(\/.*)?|v1\/notifications\/(unread_count|clear|:id(\/dismiss)?)))$/,
  },
  moderation: {
    file: 'test/authorization/moderation.test.ts',
    routes: /^\/api\/v1\/(reports|admin)(\/|$)/,
  },
  media: {
    file: 'test/authorization/media.test.ts',
    routes: /^\/api\/v1\/media(\/|$)/,
  },
  search: {
    file: 'test/authorization/search.test.ts',
    routes: /^\/api\/v1\/(search|trends\/tags|timelines\/public|tags\/:tag\/.+|followed_tags)$/,
  },
  // Deliberately public and outside the API: the API description and its UI, Prometheus
  // metrics, the DeathStarBench compatibility routes (only with DSB_COMPAT=true), and media
  // files on disk (unguessable URLs, as on S3).
  public: {
    file: 'test/authorization/routes.test.ts',
    routes:
      /^\/(docs(\/|$)|openapi\.json$|metrics$|wrk2-api\/|media\/|(avatars|headers)\/original\/missing\.png$)/,
  },
};

export interface Route {
  method: string;
  url: string;
}
export const routeKey = (r: Route) => `${r.method} ${r.url}`;

/**
 * Every route the app registered (HEAD left out: Fastify adds it to each GET with the same
 * hooks), documented or not. Fastify has no route list, so this reads `printRoutes`: each line
 * is a tree node `├── <segment> (METHODS)`, four columns deeper per level, and a route's url is
 * the concatenation of the segments on its path (`/follow` + `ers`).
 */
export function registeredRoutes(app: App): Route[] {
  const documented = new Set(app.routeTable.map(routeKey));
  const stack: string[] = [];
  const routes: Route[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    // A route with constraints (the Mastodon flavour) ends with them as JSON; another handler of
    // the same node (other constraints) follows on a line of its own, without a branch.
    const node = /^((?:[│ ] {3})*)(?:([├└])── )?(\S+)(?: \(([^)]*)\))?( \{.*\})?$/.exec(line);
    if (!node) continue;
    const depth = node[1]!.length / 4 - (node[2] ? 0 : 1);
    if (!node[2] && stack[depth] !== node[3]) continue;
    stack.length = depth;
    stack.push(node[3]!);
    for (const method of (node[4] ?? '').split(', ').filter(Boolean)) {
      if (method !== 'HEAD')
        routes.push({ method, url: urlOf(stack, method, documented, !!node[5]) });
    }
  }
  // The parser still understands Fastify's output: it finds every documented route.
  const found = new Set(routes.map(routeKey));
  assert.deepEqual(
    app.routeTable.map(routeKey).filter((k) => !found.has(k)),
    [],
    'printRoutes parsed',
  );
  return routes;
}

/**
 * The url of the node at the top of `stack`. Routes that name one parameter differently share
 * a node printed `:id|:username`: a documented route (kith's, without constraints) takes the
 * name its url has; any other the name no documented route uses there (Mastodon's `:id`).
 */
function urlOf(stack: string[], method: string, documented: Set<string>, constrained: boolean) {
  // Each candidate url, with the prefixes that end in a parameter named one of several ways.
  let urls: { url: string; named: string[] }[] = [{ url: '', named: [] }];
  for (const segment of stack) {
    const [first, ...others] = segment.split('|');
    const base = first!.slice(0, first!.lastIndexOf(':'));
    const variants = [first!, ...others.map((alt) => base + alt)];
    urls = urls.flatMap(({ url, named }) =>
      variants.map((v) => ({
        url: url + v,
        named: variants.length > 1 ? [...named, url + v] : named,
      })),
    );
  }
  if (urls.length === 1) return urls[0]!.url;
  const isDocumented = (url: string) => documented.has(`${method} ${url}`);
  const docUrls = [...documented].map((k) => k.slice(k.indexOf(' ') + 1));
  const usedByDocs = (prefix: string) =>
    docUrls.some((d) => d === prefix || d.startsWith(`${prefix}/`));
  if (!constrained) {
    const doc = urls.find((u) => isDocumented(u.url));
    if (doc) return doc.url;
  }
  const free = urls.filter((u) => !isDocumented(u.url));
  return (free.find((u) => !u.named.some(usedByDocs)) ?? free[0] ?? urls[0]!).url;
}

/** The area each route belongs to (all that match: exactly one is right). */
export const areasOf = (r: Route) =>
  (Object.keys(AREAS) as Area[]).filter((a) => AREAS[a].routes.test(r.url));

/** Asserts `covered` ('METHOD url' keys) holds every route of `area` and nothing else. */
export function assertAreaCovered(app: App, area: Area, covered: Iterable<string>): void {
  const mine = registeredRoutes(app).filter((r) => AREAS[area].routes.test(r.url));
  assert.ok(mine.length > 0, `the ${area} area matches routes`);
  const keys = new Set(covered);
  const missing = mine.map(routeKey).filter((k) => !keys.has(k));
  assert.deepEqual(missing, [], `routes of the ${area} area without a matrix entry`);
  const known = new Set(mine.map(routeKey));
  const stray = [...keys].filter((k) => !known.has(k));
  assert.deepEqual(stray, [], `matrix entries that are no ${area} route`);
}

/** Paths outside the API prefix. */
const ROOT = /^\/(healthz|readyz)$/;
/** The URL of a path as the tests write it: under /api/v1 unless it is a root path. */
export const fullPath = (path: string) => (ROOT.test(path) ? path : API_PREFIX + path);

/**
 * The requests of an authorization test, through `inject`: `call` as an account (its `auth`
 * headers) or anonymously (null), on a path under /api/v1 (or a root path such as /readyz);
 * `must` for a setup step, which fails the test unless it answers `status`.
 */
export function requester(app: App) {
  const call = (
    as: { auth: Record<string, string> } | null,
    method: HTTPMethods,
    path: string,
    body?: object,
    headers: Record<string, string> = {},
  ) =>
    app.inject({
      method,
      url: fullPath(path),
      headers: { ...as?.auth, ...headers },
      ...(body ? { payload: body } : {}),
    });
  const must = async (
    as: { auth: Record<string, string> } | null,
    method: HTTPMethods,
    path: string,
    status: number,
    body?: object,
  ) => {
    const res = await call(as, method, path, body);
    assert.equal(res.statusCode, status, `setup: ${method} ${path}: ${res.body}`);
    return res;
  };
  return { call, must };
}
