/**
 * The authorization matrix of finding things (search, tag and public timelines, followed tags,
 * trends): for every route, what each kind of viewer finds of O's posts and of O.
 *
 * O writes a public, a followers and a friends post, each with O's own tag and a word nobody
 * else uses. Viewers: anonymous, O, an unrelated user (other), a follower (F), a friend (R), a
 * user O blocked (B) and a user who blocked O (X), as in matrix.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API_PREFIX as API } from '../../src/http/types.ts';
import { assertAreaCovered, requester } from '../support/authorization-scope.ts';
import { createTestApp } from '../support/harness.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';

const { app } = await createTestApp({ env: { SHED_MAX_EVENT_LOOP_DELAY_MS: '0' } });
const { call, must } = requester(app);

type Visibility = 'public' | 'followers' | 'friends';
const VIEWERS = ['anon', 'O', 'other', 'F', 'R', 'B', 'X'] as const;
type Viewer = (typeof VIEWERS)[number];
const SEES: Record<Visibility, Viewer[]> = {
  public: ['anon', 'O', 'other', 'F', 'R'],
  followers: ['O', 'F', 'R'],
  friends: ['O', 'R'],
};
const inBlockWithO = (who: Viewer) => who === 'B' || who === 'X';

const O = await createAccount(app, { username: uniqueUsername('owner') });
async function makeUser(who: Exclude<Viewer, 'anon' | 'O'>): Promise<Account> {
  const me = await createAccount(app, { username: uniqueUsername(who.toLowerCase()) });
  if (who === 'F') await must(me, 'POST', `/users/${O.username}/follow`, 200);
  if (who === 'R' || who === 'B' || who === 'X') {
    const req = await must(me, 'POST', `/users/${O.username}/friend-request`, 201);
    await must(O, 'POST', `/friend-requests/${req.json<{ id: string }>().id}/accept`, 200);
  }
  if (who === 'B') await must(O, 'POST', `/users/${me.username}/block`, 200);
  if (who === 'X') await must(me, 'POST', `/users/${O.username}/block`, 200);
  return me;
}
const users: Record<Viewer, Account | null> = {
  anon: null,
  O,
  other: await makeUser('other'),
  F: await makeUser('F'),
  R: await makeUser('R'),
  B: await makeUser('B'),
  X: await makeUser('X'),
};

const tag = `own${uniqueUsername('t').replace(/\W/g, '')}`.toLowerCase();
const word = `word${tag}`;
const posts = {} as Record<Visibility, string>;
for (const visibility of ['public', 'followers', 'friends'] as const) {
  const body = { text: `${word} #${tag} ${visibility}`, visibility };
  posts[visibility] = (await must(O, 'POST', '/posts', 201, body)).json<{ id: string }>().id;
}
const seenBy = (who: Viewer, only?: Visibility) =>
  (['friends', 'followers', 'public'] as const)
    .filter((v) => (only ? v === only : true) && SEES[v].includes(who))
    .map((v) => posts[v]);

interface Case {
  who: Viewer;
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  path: string;
  status: number;
  code?: string;
  /** What of O's (posts, O, O's tag) the answer holds, in order. */
  finds?: (body: unknown) => string[];
  found?: string[];
  /** `Kith-Flavour: mastodon`: Mastodon's answer, on kith's path or Mastodon's own. */
  headers?: Record<string, string>;
  /** A Mastodon-only route: its matrix entry is in test/authorization/mastodon.test.ts. */
  mastodonOnly?: boolean;
}
type Items = { items: { id?: string; name?: string }[] };
const postIds = (b: unknown) =>
  (b as Items).items.map((i) => i.id!).filter((id) => Object.values(posts).includes(id));
const userIds = (b: unknown) => (b as Items).items.map((i) => i.id!).filter((id) => id === O.id);
const tagNames = (b: unknown) => (b as Items).items.map((i) => i.name!).filter((n) => n === tag);
const trendNames = (b: unknown) =>
  (b as { name: string }[]).map((t) => t.name).filter((n) => n === tag);
// Mastodon's answers: bare lists, and `/api/v2/search`'s three.
type Found = { id?: string; name?: string }[];
const listedPosts = (b: unknown) =>
  (b as Found).map((i) => i.id!).filter((id) => Object.values(posts).includes(id));
const v2 = (key: 'accounts' | 'statuses' | 'hashtags') => (b: unknown) => {
  const list = (b as Record<string, Found>)[key]!;
  if (key === 'statuses') return listedPosts(list);
  if (key === 'accounts') return list.map((a) => a.id!).filter((id) => id === O.id);
  return list.map((t) => t.name!).filter((n) => n === tag);
};
const MASTODON = { 'kith-flavour': 'mastodon' };

const cases: Case[] = [];
for (const who of VIEWERS) {
  const hidden = inBlockWithO(who);
  const signedIn = (status: number): Partial<Case> =>
    who === 'anon' ? { status: 401, code: 'unauthorized' } : { status };
  cases.push(
    {
      who,
      method: 'GET',
      url: '/search',
      path: `/search?q=${word}&type=posts&limit=100`,
      status: 200,
      finds: postIds,
      found: seenBy(who),
    },
    {
      who,
      method: 'GET',
      url: '/search',
      path: `/search?q=${O.username}&type=accounts`,
      status: 200,
      finds: userIds,
      found: hidden ? [] : [O.id],
    },
    {
      who,
      method: 'GET',
      url: '/search',
      path: `/search?q=${tag}&type=tags`,
      status: 200,
      finds: tagNames,
      found: hidden ? [] : [tag],
    },
    {
      who,
      method: 'GET',
      url: '/tags/:tag/posts',
      path: `/tags/${tag}/posts`,
      status: 200,
      finds: postIds,
      found: seenBy(who, 'public'),
    },
    {
      who,
      method: 'GET',
      url: '/timelines/public',
      path: '/timelines/public?limit=100',
      status: 200,
      finds: postIds,
      found: seenBy(who, 'public'),
    },
    {
      who,
      method: 'GET',
      url: '/trends/tags',
      path: '/trends/tags?limit=20',
      status: 200,
      finds: trendNames,
      found: hidden ? [] : [tag],
    },
    {
      who,
      method: 'POST',
      url: '/tags/:tag/follow',
      path: `/tags/${tag}/follow`,
      ...signedIn(200),
    } as Case,
    {
      who,
      method: 'DELETE',
      url: '/tags/:tag/follow',
      path: `/tags/${tag}/follow`,
      ...signedIn(200),
    } as Case,
    { who, method: 'GET', url: '/followed_tags', path: '/followed_tags', ...signedIn(200) } as Case,
  );
  // The same rules in Mastodon's presentation.
  const mastodon = { status: 200, headers: MASTODON };
  cases.push(
    {
      who,
      method: 'GET',
      url: '/timelines/public',
      path: '/timelines/public?limit=40',
      ...mastodon,
      finds: listedPosts,
      found: seenBy(who, 'public'),
    },
    {
      who,
      method: 'GET',
      url: '/timelines/tag/:hashtag',
      path: `/timelines/tag/${tag}`,
      ...mastodon,
      mastodonOnly: true,
      finds: listedPosts,
      found: seenBy(who, 'public'),
    },
    {
      who,
      method: 'GET',
      url: '/trends/tags',
      path: '/trends/tags?limit=20',
      ...mastodon,
      finds: trendNames,
      found: hidden ? [] : [tag],
    },
    {
      who,
      method: 'GET',
      url: '/followed_tags',
      path: '/followed_tags',
      headers: MASTODON,
      ...signedIn(200),
    } as Case,
    {
      who,
      method: 'POST',
      url: '/tags/:name/follow',
      path: `/tags/${tag}/follow`,
      headers: MASTODON,
      mastodonOnly: true,
      ...signedIn(200),
    } as Case,
    ...(['statuses', 'accounts', 'hashtags'] as const).map((type): Case => ({
      who,
      method: 'GET',
      url: '/api/v2/search',
      path: `/api/v2/search?type=${type}&limit=40&q=${type === 'accounts' ? O.username : type === 'hashtags' ? tag : word}`,
      ...mastodon,
      mastodonOnly: true,
      finds: v2(type),
      found: type === 'statuses' ? seenBy(who) : hidden ? [] : [type === 'accounts' ? O.id : tag],
    })),
  );
}

describe('search authorization matrix', () => {
  for (const c of cases) {
    it(`${c.who} ${c.method} ${c.path}${c.headers ? ' (Mastodon)' : ''} → ${c.status}${c.found ? ` finding ${c.found.length}` : ''}`, async () => {
      const res = c.path.startsWith('/api/')
        ? await app.inject({
            method: c.method,
            url: c.path,
            headers: { ...users[c.who]?.auth, ...c.headers },
          })
        : await call(users[c.who], c.method, c.path, undefined, c.headers);
      assert.equal(res.statusCode, c.status, res.body);
      if (c.code) assert.equal(res.json<{ code: string }>().code, c.code);
      if (c.finds) assert.deepEqual(c.finds(res.json()), c.found);
    });
  }

  it('covers every route of the area', () => {
    const kith = cases.filter((c) => !c.mastodonOnly);
    assertAreaCovered(app, 'search', new Set(kith.map((c) => `${c.method} ${API}${c.url}`)));
  });
});
