/** kith's direct messages through the Mastodon API: `direct` statuses and Conversations. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { api } from '../../../test/support/api.ts';
import { mastodonApi } from '../../../test/support/mastodon.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import type { App } from '../../http/types.ts';

let app: App;
const m = api(() => app);
before(async () => {
  ({ app } = await createTestApp());
});

type Json = Record<string, unknown>;
type Status = Json & {
  id: string;
  in_reply_to_id: string | null;
  account: Json;
  mentions: Json[];
};
type Conversation = { id: string; unread: boolean; accounts: Json[]; last_status: Status | null };

const { call, ok, fails } = mastodonApi(() => app);
const dm = (who: Account, status: string, extra: Json = {}, headers = {}) =>
  call(who, 'POST', '/api/v1/statuses', { status, visibility: 'direct', ...extra }, headers);
const send = (who: Account, status: string, extra: Json = {}) => ok<Status>(dm(who, status, extra));
const conversations = (who: Account, query = '') =>
  ok<Conversation[]>(call(who, 'GET', `/api/v1/conversations${query}`));
/** kith's own view of the user's conversations (a JWT without the flavour header). */
const kithConversations = async (who: Account) =>
  (
    await m.json<{ items: { id: string; last_message: { text: string } | null }[] }>(
      'GET',
      '/conversations',
      who,
    )
  ).items;

describe('Mastodon direct statuses', () => {
  it('a direct status mentioning one account is a kith message, threaded by the conversation', async () => {
    const { ana, bob } = await m.users('ana', 'bob');
    const first = await send(ana, `@${bob.username} hi`);
    assert.equal(first.visibility, 'direct');
    assert.equal(first.account.id, ana.id);
    assert.deepEqual(
      first.mentions.map((u) => u.id),
      [bob.id],
    );
    assert.equal(first.in_reply_to_id, null);
    assert.deepEqual(first.kith, {
      kind: 'message',
      conversation_id: (first.kith as Json).conversation_id,
    });
    assert.match(String(first.content), /class="u-url mention"/);

    // kith sees the message in the pair's conversation.
    const [kith] = await kithConversations(bob);
    assert.equal(kith!.id, (first.kith as Json).conversation_id);
    assert.equal(kith!.last_message!.text, `@${bob.username} hi`);

    // A reply (its mention is the other member) and a new status both follow the last message.
    const second = await send(bob, `@${ana.username} hello`, { in_reply_to_id: first.id });
    assert.equal(second.in_reply_to_id, first.id);
    assert.equal(second.in_reply_to_account_id, ana.id);
    assert.deepEqual(
      second.mentions.map((u) => u.id),
      [ana.id],
    );
    const third = await send(ana, `@${bob.username} and more`);
    assert.equal(third.in_reply_to_id, second.id);
    const noMention = await send(bob, 'no mention needed in a reply', { in_reply_to_id: third.id });
    assert.equal(noMention.in_reply_to_id, third.id);

    // Both read every message; the context is the conversation as a thread.
    for (const who of [ana, bob]) {
      const shown = await ok<Status>(call(who, 'GET', `/api/v1/statuses/${second.id}`));
      assert.deepEqual(shown, { ...second, application: shown.application });
      const context = await ok<{ ancestors: Status[]; descendants: Status[] }>(
        call(who, 'GET', `/api/v1/statuses/${second.id}/context`),
      );
      assert.deepEqual(
        context.ancestors.map((s) => s.id),
        [first.id],
      );
      assert.deepEqual(
        context.descendants.map((s) => s.id),
        [third.id, noMention.id],
      );
    }
  });

  it('honours Idempotency-Key through the messages service', async () => {
    const { ana, bob } = await m.users('ana', 'bob');
    const key = { 'idempotency-key': 'dm-once' };
    const once = await ok<Status>(dm(ana, `@${bob.username} once`, {}, key));
    const again = await dm(ana, `@${bob.username} once`, {}, key);
    assert.equal(again.statusCode, 200);
    assert.equal(again.json<Status>().id, once.id);
    const [conversation] = await conversations(bob);
    assert.equal(conversation!.last_status!.id, once.id);
    const messages = await m.json<{ items: unknown[] }>(
      'GET',
      `/conversations/${conversation!.id}/messages`,
      bob,
    );
    assert.equal(messages.items.length, 1);
  });

  it('refuses what is not one-to-one, or not allowed, and writes nothing', async () => {
    const { ana, bob, cy, shy, blocker } = await m.users('ana', 'bob', 'cy', 'shy', 'blocker');
    await fails(dm(ana, 'nobody named'), 422, /one-to-one/);
    await fails(dm(ana, `@${bob.username} @${cy.username} both`), 422, /one-to-one/);
    await fails(dm(ana, '@nobody_here_zz unknown'), 422, /one-to-one/);
    await fails(dm(ana, `@${ana.username} myself`), 422, /one-to-one/);
    await fails(dm(ana, `@${bob.username} with media`, { media_ids: [crypto.randomUUID()] }), 422);
    await fails(dm(ana, `@${bob.username} poll`, { poll: { options: ['a', 'b'] } }), 422);
    await fails(dm(ana, `@${bob.username} ${'x'.repeat(5001)}`), 422);
    await m.json('PATCH', '/me', shy, { dm_policy: 'nobody' });
    await fails(dm(ana, `@${shy.username} hello?`), 403, /does not accept messages/);
    await ok(call(blocker, 'POST', `/api/v1/accounts/${ana.id}/block`));
    await fails(dm(ana, `@${blocker.username} hello?`), 403, /blocked/);
    await fails(dm(blocker, `@${ana.username} hello?`), 403, /blocked/);
    // A reply to something that is no message of yours.
    await fails(dm(ana, `@${bob.username} re`, { in_reply_to_id: crypto.randomUUID() }), 404);
    const post = await ok<Status>(call(bob, 'POST', '/api/v1/statuses', { status: 'public' }));
    await fails(dm(ana, `@${bob.username} re`, { in_reply_to_id: post.id }), 404);
    // Nothing was opened or sent.
    assert.deepEqual(await kithConversations(ana), []);
    // A reply that mentions someone else than the other member.
    const first = await send(ana, `@${bob.username} hi`);
    await fails(dm(bob, `@${cy.username} look`, { in_reply_to_id: first.id }), 422, /one-to-one/);
    const [only] = await conversations(ana);
    assert.equal(only!.last_status!.id, first.id);
  });

  it('shows a message to the two members only; favourite, edit and delete are refused', async () => {
    const { ana, bob, eve } = await m.users('ana', 'bob', 'eve');
    const msg = await send(ana, `@${bob.username} secret`);
    const url = `/api/v1/statuses/${msg.id}`;
    for (const who of [eve, null]) {
      await fails(call(who, 'GET', url), 404, /Record not found/);
      await fails(call(who, 'GET', `${url}/context`), 404, /Record not found/);
    }
    for (const [method, path] of [
      ['POST', `${url}/favourite`],
      ['POST', `${url}/unfavourite`],
      ['PUT', url],
      ['DELETE', url],
    ] as const) {
      await fails(call(ana, method, path, { status: 'x' }), 422, /cannot be/);
      await fails(call(eve, method, path, { status: 'x' }), 404);
    }
    await ok(call(ana, 'GET', url));
    // A block closes the conversation: both sides lose the message (and the conversation).
    await ok(call(bob, 'POST', `/api/v1/accounts/${ana.id}/block`));
    for (const who of [ana, bob]) {
      await fails(call(who, 'GET', url), 404, /Record not found/);
      await fails(call(who, 'GET', `${url}/context`), 404);
      assert.deepEqual(await conversations(who), []);
    }
    await ok(call(bob, 'POST', `/api/v1/accounts/${ana.id}/unblock`));
    await ok(call(bob, 'GET', url));
  });
});

describe('Mastodon conversations', () => {
  it('lists conversations newest first with unread, marks read, refuses hiding', async () => {
    const { ana, bob, cy, eve } = await m.users('ana', 'bob', 'cy', 'eve');
    const toBob = await send(ana, `@${bob.username} one`);
    const fromCy = await send(cy, `@${ana.username} two`);
    const list = await conversations(ana);
    assert.deepEqual(
      list.map((c) => [c.accounts.map((a) => a.id), c.unread, c.last_status?.id]),
      [
        [[cy.id], true, fromCy.id],
        [[bob.id], false, toBob.id],
      ],
    );
    assert.equal(list[0]!.last_status!.visibility, 'direct');
    const id = list[0]!.id;
    const read = await ok<Conversation>(call(ana, 'POST', `/api/v1/conversations/${id}/read`));
    assert.deepEqual(read, { ...list[0]!, unread: false });
    assert.equal((await conversations(ana))[0]!.unread, false);

    // Another user: none of it.
    assert.deepEqual(await conversations(eve), []);
    await fails(call(eve, 'POST', `/api/v1/conversations/${id}/read`), 404, /Record not found/);
    await fails(call(eve, 'DELETE', `/api/v1/conversations/${id}`), 404);
    await fails(call(ana, 'POST', '/api/v1/conversations/not-an-id/read'), 404);
    // Anonymous: 401 on every route.
    for (const [method, path] of [
      ['GET', '/api/v1/conversations'],
      ['POST', `/api/v1/conversations/${id}/read`],
      ['DELETE', `/api/v1/conversations/${id}`],
    ] as const)
      await fails(call(null, method, path), 401, /access token is invalid/);
    // kith cannot hide a conversation: said, not faked.
    await fails(call(ana, 'DELETE', `/api/v1/conversations/${id}`), 422, /cannot hide/);
    assert.equal((await conversations(ana)).length, 2);

    // kith's own routes on the same paths still answer kith tokens.
    const kith = await m.json<{ items: { id: string; unread_count: number }[] }>(
      'GET',
      '/conversations',
      ana,
    );
    assert.deepEqual(
      kith.items.map((c) => [c.id, c.unread_count]),
      list.map((c) => [c.id, 0]),
    );
    assert.deepEqual(await m.json('POST', `/conversations/${id}/read`, ana), {
      last_read_id: fromCy.id,
    });
  });

  it('pages conversations without gaps through absolute Link headers', async () => {
    const [ana, ...others] = await m.accounts(6);
    const sent: string[] = [];
    for (const other of others) sent.push((await send(other, `@${ana.username} hi`)).id);
    const newest = [...sent].reverse();
    const seen: string[] = [];
    let url: string | undefined = '/api/v1/conversations?limit=2';
    while (url) {
      const res = await call(ana, 'GET', url);
      assert.equal(res.statusCode, 200, res.body);
      seen.push(...res.json<Conversation[]>().map((c) => c.last_status!.id));
      const next = /<([^>]+)>; rel="next"/.exec(String(res.headers.link ?? ''))?.[1];
      if (next)
        assert.match(next, /^http:\/\/localhost(:80)?\/api\/v1\/conversations\?limit=2&max_id=/);
      url = next;
    }
    assert.deepEqual(seen, newest);
    const ids = async (q: string) =>
      (await conversations(ana, `?limit=2&${q}`)).map((c) => c.last_status!.id);
    assert.deepEqual(await ids(`since_id=${sent[2]}`), [sent[4], sent[3]]);
    assert.deepEqual(await ids(`min_id=${sent[1]}`), [sent[3], sent[2]]);
    assert.deepEqual(await ids(`max_id=${sent[2]}`), [sent[1], sent[0]]);
    assert.deepEqual(await ids('max_id=nonsense'), []);
    assert.equal((await conversations(ana, '?limit=1000')).length, 5);
  });
});
