import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { createAccount, type Account } from '../../../test/support/factories.ts';
import { assertInvalid, assertProblem } from '../../../test/support/problems.ts';
import { api, type Page } from '../../../test/support/api.ts';

type Item = { id?: string; text?: string; username?: string; name?: string };

/** A 400 with an error of this code at `path`. */
function assertInvalidAt(res: Parameters<typeof assertInvalid>[0], path: string, code: string) {
  const body = assertInvalid(res, path);
  assert.ok(
    body.errors?.some((e) => e.path === path && e.code === code),
    JSON.stringify(body.errors),
  );
}

let app: App;
before(async () => {
  ({ app } = await createTestApp());
});

const { call, ok, users, post, block, mute, befriend, follow } = api(() => app);
const word = () => `w${Math.random().toString(36).slice(2, 10)}`;
const write = async (who: Account, text: string, visibility = 'public') =>
  (await post(who, { text, visibility })).id;
const search = (q: string, type: string, who: Account | null = null, extra = '') =>
  ok<Page<Item>>(call('GET', `/search?q=${encodeURIComponent(q)}&type=${type}${extra}`, who));
const ids = async (q: string, who: Account | null = null) =>
  (await search(q, 'posts', who, '&limit=100')).items.map((p) => p.id);

describe('GET /search?type=posts', () => {
  it('ranks by relevance, then newest first, and pages without repeats', async () => {
    const { a } = await users('a');
    const w = word();
    const once = await write(a, `${w} appears once among other words here`);
    const twice = await write(a, `${w} ${w} twice`);
    const olderTie = await write(a, `tie ${w}`);
    const newerTie = await write(a, `tie ${w}`);
    const all = await ids(w);
    // ts_rank counts matches; equal ranks fall back to the newest first.
    assert.deepEqual(all, [twice, newerTie, olderTie, once]);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<Item> = await search(
        w,
        'posts',
        null,
        `&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      );
      paged.push(...page.items.map((p) => p.id!));
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(paged, all);
  });

  it('folds case and accents in any language, and supports phrases and exclusion', async () => {
    const { a } = await users('a');
    const w = word();
    const cafe = await write(a, `Un CAFÉ crème ${w}`);
    const greek = await write(a, `Καλημέρα κόσμε ${w}`);
    assert.deepEqual(await ids(`cafe ${w}`), [cafe]);
    assert.deepEqual(await ids(`καλημερα ${w}`), [greek]);
    assert.deepEqual(await ids(`"café crème" ${w}`), [cafe]);
    assert.deepEqual(await ids(`"crème café" ${w}`), []);
    assert.deepEqual(await ids(`${w} -cafe`), [greek]);
    assert.deepEqual(await ids(`#${w}`), [greek, cafe], 'a # is just punctuation here');
  });

  it('finds only posts the viewer may see: visibility, blocks and mutes', async () => {
    const { a, friend, stranger, blocker, muter } = await users(
      'a',
      'friend',
      'stranger',
      'blocker',
      'muter',
    );
    await befriend(a, friend);
    await follow(stranger, a);
    const w = word();
    const pub = await write(a, `${w} public`);
    const followers = await write(a, `${w} followers`, 'followers');
    const friends = await write(a, `${w} friends`, 'friends');
    await block(blocker, a);
    await mute(muter, a);
    assert.deepEqual(await ids(w, a), [friends, followers, pub]);
    assert.deepEqual(await ids(w, friend), [friends, followers, pub]);
    assert.deepEqual(await ids(w, stranger), [followers, pub]);
    assert.deepEqual(await ids(w), [pub]);
    assert.deepEqual(await ids(w, blocker), []);
    assert.deepEqual(await ids(w, muter), []);
  });

  it('refuses an empty or over-long query and a cursor of another type', async () => {
    assertInvalidAt(await call('GET', '/search?q=%20%20&type=posts'), '/q', 'required');
    assertInvalidAt(await call('GET', `/search?q=${'a'.repeat(201)}`), '/q', 'too_long');
    const tags = await search('a', 'tags');
    assert.equal(tags.next_cursor, null);
    const cursor = Buffer.from(JSON.stringify({ name: 'a' })).toString('base64url');
    assertProblem(await call('GET', `/search?q=x&cursor=${cursor}`), 400, 'invalid_cursor');
    assert.deepEqual((await search('!!!', 'posts')).items, [], 'no words: nothing, no error');
  });
});

describe('GET /search?type=accounts', () => {
  it('finds people by username or display name despite typos, case and accents', async () => {
    const stem = word().slice(0, 6);
    const margarita = await createAccount(app, {
      username: `${stem}_margarita`,
      display_name: 'Margarita Pérez',
    });
    const jose = await createAccount(app, {
      username: `${stem}_jose`,
      display_name: 'José Álvarez',
    });
    const names = async (q: string, who: Account | null = null) =>
      (await search(q, 'accounts', who, '&limit=100')).items.map((u) => u.username);
    assert.ok((await names('margartia perez')).includes(margarita.username), 'typo and accent');
    assert.ok((await names('JOSE ALVAREZ')).includes(jose.username), 'case and accents');
    assert.equal((await names(`@${stem}_jo`))[0], jose.username, 'a username prefix first');
    assert.deepEqual(await names('@'), []);
    await block(jose, margarita);
    assert.ok(
      !(await names('margarita perez', jose)).includes(margarita.username),
      'blocked: hidden',
    );
    assert.ok(!(await names('jose alvarez', margarita)).includes(jose.username), 'either way');
  });
});

describe('GET /search?type=tags', () => {
  it('lists tags by prefix, only when used in a post the viewer may see', async () => {
    const { a, b, viewer } = await users('a', 'b', 'viewer');
    const stem = word();
    await write(a, `#${stem}_one`);
    await write(a, `#${stem}_two`, 'friends');
    await write(b, `#${stem}_three`);
    await block(viewer, b);
    const names = async (who: Account | null) =>
      (await search(`#${stem.toUpperCase()}`, 'tags', who)).items.map((t) => t.name);
    assert.deepEqual(await names(null), [`${stem}_one`, `${stem}_three`]);
    assert.deepEqual(await names(viewer), [`${stem}_one`]);
    assert.deepEqual(await names(a), [`${stem}_one`, `${stem}_three`, `${stem}_two`]);
    const first = await search(stem, 'tags', a, '&limit=2');
    const rest = await search(stem, 'tags', a, `&limit=2&cursor=${first.next_cursor}`);
    assert.deepEqual(
      rest.items.map((t) => t.name),
      [`${stem}_two`],
    );
    assertInvalidAt(await call('GET', '/search?q=12&type=tags'), '/q', 'invalid_tag');
  });
});
