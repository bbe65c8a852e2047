/**
 * The media routes × anonymous, another user, a user O blocks (B), a user who blocks O (X), and
 * O, the owner. Uploads are private to their owner until a post shows them; a post's pictures
 * follow the post's visibility and blocks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { API_PREFIX as API } from '../../src/http/types.ts';
import { assertAreaCovered, requester } from '../support/authorization-scope.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import { testImage, uploadMedia } from '../support/media.ts';
import { assertProblem } from '../support/problems.ts';

const mediaDir = mkdtempSync(join(tmpdir(), 'kith-authz-media-'));
after(() => rmSync(mediaDir, { recursive: true, force: true }));
const { app } = await createTestApp({ env: { MEDIA_DIR: mediaDir } });
const { call, must } = requester(app);

const VIEWERS = ['anon', 'other', 'B', 'X', 'O'] as const;
type Viewer = (typeof VIEWERS)[number];
const account = (prefix: string) => createAccount(app, { username: uniqueUsername(prefix) });
const users: Record<Exclude<Viewer, 'anon'>, Account> = {
  O: await account('owner'),
  other: await account('other'),
  B: await account('b'),
  X: await account('x'),
};
const { O } = users;
await must(O, 'POST', `/users/${users.B.username}/block`, 200);
await must(users.X, 'POST', `/users/${O.username}/block`, 200);
const png = await testImage('png', 16, 16);

async function upload(who: Account): Promise<string> {
  const res = await uploadMedia(app, who, png);
  assert.equal(res.statusCode, 201, res.body);
  return res.json<{ id: string }>().id;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
interface Cell {
  method: Method;
  route: string;
  run: (me: Account | null) => Promise<LightMyRequestResponse>;
  expect: (who: Viewer) => [number, string?];
}
const ownerOnly =
  (ok: number) =>
  (who: Viewer): [number, string?] =>
    who === 'anon' ? [401, 'unauthorized'] : who === 'O' ? [ok] : [404, 'media_not_found'];

const cells: Cell[] = [
  {
    method: 'POST',
    route: '/media',
    run: (me) =>
      me ? uploadMedia(app, me, png) : app.inject({ method: 'POST', url: `${API}/media` }),
    expect: (who) => (who === 'anon' ? [401, 'unauthorized'] : [201]),
  },
  {
    method: 'GET',
    route: '/media/:id',
    run: async (me) => call(me, 'GET', `/media/${await upload(O)}`),
    expect: ownerOnly(200),
  },
  {
    method: 'PATCH',
    route: '/media/:id',
    run: async (me) => call(me, 'PATCH', `/media/${await upload(O)}`, { description: 'mine' }),
    expect: ownerOnly(200),
  },
  {
    method: 'DELETE',
    route: '/media/:id',
    run: async (me) => call(me, 'DELETE', `/media/${await upload(O)}`),
    expect: ownerOnly(204),
  },
  // Mastodon's (its errors are `{"error"}`, not problem+json: statuses only).
  {
    method: 'PUT',
    route: '/media/:id',
    run: async (me) => call(me, 'PUT', `/media/${await upload(O)}`, { description: 'mine' }),
    expect: (who) => [who === 'anon' ? 401 : who === 'O' ? 200 : 404],
  },
];

describe('media matrix', () => {
  for (const cell of cells) {
    for (const who of VIEWERS) {
      const [status, code] = cell.expect(who);
      it(`${who} ${cell.method} ${cell.route} → ${status}${code ? ` ${code}` : ''}`, async () => {
        const res = await cell.run(who === 'anon' ? null : users[who]);
        if (code) assertProblem(res, status, code);
        else assert.equal(res.statusCode, status, res.body);
      });
    }
  }

  it('covers every media route', () => {
    assertAreaCovered(app, 'media', new Set(cells.map((c) => `${c.method} ${API}${c.route}`)));
  });
});

describe('pictures on posts follow the post', () => {
  it("in a block, neither side sees the other's pictures; anyone else sees public ones", async () => {
    const id = await upload(O);
    const post = (
      await must(O, 'POST', '/posts', 201, { text: 'with a picture', media_ids: [id] })
    ).json<{ id: string }>();
    for (const who of ['B', 'X'] as const) {
      assertProblem(await call(users[who], 'GET', `/posts/${post.id}`), 404, 'post_not_found');
    }
    for (const who of [null, users.other]) {
      const seen = (await must(who, 'GET', `/posts/${post.id}`, 200)).json<{
        media: { id: string }[];
      }>();
      assert.deepEqual(
        seen.media.map((m) => m.id),
        [id],
      );
    }
  });

  it('another user cannot attach your upload to their post', async () => {
    const id = await upload(O);
    for (const who of ['other', 'B', 'X'] as const) {
      const res = await call(users[who], 'POST', '/posts', { text: 'stolen', media_ids: [id] });
      assertProblem(res, 400, 'validation_failed');
    }
  });
});
