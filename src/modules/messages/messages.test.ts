/** Direct messages through the API, and their delivery to the participants' streams. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import type { Account } from '../../../test/support/factories.ts';
import { api, type Page } from '../../../test/support/api.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { assertProblem } from '../../../test/support/problems.ts';
import { openStream, terminateStreams } from '../../../test/support/streams.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
} from '../../../test/support/services.ts';

type Ev = { seq: number; type: string; data: Partial<Message> & { [k: string]: unknown } };
type Ref = { id: string; username: string; display_name: string };
type Message = {
  id: string;
  conversation_id: string;
  sender: Ref;
  text: string;
  created_at: string;
};
type Conversation = {
  id: string;
  with: Ref;
  last_message: Message | null;
  unread_count: number;
  created_at: string;
};

const env = {
  ...(redisUrl() && { REDIS_URL: redisUrl()!, REDIS_PREFIX: `${testPrefix}:msg:` }),
  ...(amqpUrl() && { AMQP_URL: amqpUrl()!, AMQP_PREFIX: `${testPrefix}.msg` }),
};
let app: App;
let ctx: Context;
let base: string;
after(async () => {
  // After the harness closed the app (it registered its `after` first).
  const url = amqpUrl();
  if (url)
    await deleteAmqpTopology(
      url,
      `${testPrefix}.msg`,
      ctx.consumers.map((c) => c.group),
    );
});

const { call, ok, accounts, follow, befriend } = api(() => app);
const open = (from: Account, to: Account) =>
  call('POST', '/conversations', from, { username: to.username });
const send = (who: Account, id: string, text: string, headers = {}) =>
  call('POST', `/conversations/${id}/messages`, who, { text }, headers);
const say = (who: Account, id: string, text: string) => ok<Message>(send(who, id, text), 201);
const conversation = (who: Account, id: string) =>
  ok<Conversation>(call('GET', `/conversations/${id}`, who));
const ref = (u: Account) => ({ id: u.id, username: u.username, display_name: u.username });
const setPolicy = (u: Account, dm_policy: string) => ok(call('PATCH', '/me', u, { dm_policy }));

/** Every page of a list, following next_cursor. */
async function pages<T>(who: Account, url: string, limit: number): Promise<T[][]> {
  const out: T[][] = [];
  let cursor: string | null = null;
  do {
    const q: string = `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const page: Page<T> = await ok<Page<T>>(call('GET', `${url}${q}`, who));
    out.push(page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

/** A WebSocket of `user`, resuming from their newest seq so it misses nothing later. */
async function connect(user: Account) {
  const row = await ctx.database.db
    .selectFrom('users')
    .select('stream_seq')
    .where('id', '=', user.id)
    .executeTakeFirstOrThrow();
  return openStream<Ev>(new URL(`/api/v1/stream?since=${row.stream_seq}`, base), user.auth);
}

describe('direct messages', () => {
  before(async () => {
    ({ app, ctx } = await createTestApp({ env }));
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(terminateStreams);

  it('a pair has one conversation: 201 when created, then 200 with the same id from either side', async () => {
    const [a, b] = await accounts(2);
    const created = await ok<Conversation>(open(a, b), 201);
    assert.deepEqual(
      { ...created, id: '', created_at: '' },
      {
        id: '',
        with: ref(b),
        last_message: null,
        unread_count: 0,
        created_at: '',
      },
    );
    assert.deepEqual(await ok(open(a, b)), created);
    assert.deepEqual(await ok(open(b, a)), { ...created, with: ref(a) });
    assert.deepEqual(await conversation(a, created.id), created);
    assert.deepEqual(await conversation(b, created.id), { ...created, with: ref(a) });
    assertProblem(await open(a, a), 400, 'cannot_target_self');
    const unknown = await call('POST', '/conversations', a, { username: 'nobody_here_zz' });
    assertProblem(unknown, 404, 'user_not_found');
  });

  it('lists conversations by latest activity with the last message and unread count; pages', async () => {
    const [a, b, c, d] = await accounts(4);
    const withB = (await ok<Conversation>(open(a, b), 201)).id;
    const withD = (await ok<Conversation>(open(d, a), 201)).id;
    await say(b, withB, 'b1');
    const b2 = await say(b, withB, 'b2');
    const a1 = await say(a, withD, 'a1'); // your own messages are never unread to you
    const withC = (await ok<Conversation>(open(a, c), 201)).id;
    const list = (await pages<Conversation>(a, '/conversations', 20)).flat();
    assert.deepEqual(
      list.map((x) => [x.id, x.with.id, x.last_message?.id ?? null, x.unread_count]),
      [
        [withC, c.id, null, 0],
        [withD, d.id, a1.id, 0],
        [withB, b.id, b2.id, 2],
      ],
    );
    assert.deepEqual(list[1]!.last_message, a1);
    for (const limit of [1, 2]) {
      const paged = await pages<Conversation>(a, '/conversations', limit);
      assert.equal(paged.length, Math.ceil(3 / limit));
      assert.deepEqual(paged.flat(), list);
    }
    assert.deepEqual(
      (await pages<Conversation>(d, '/conversations', 20)).flat().map((x) => x.unread_count),
      [1],
    );
    const bad = await call('GET', '/conversations?cursor=nonsense', a);
    assertProblem(bad, 400, 'invalid_cursor');
  });

  it('messages come newest first, page by page', async () => {
    const [a, b] = await accounts(2);
    const id = (await ok<Conversation>(open(a, b), 201)).id;
    const sent: Message[] = [];
    for (let i = 1; i <= 5; i++) sent.push(await say(i % 2 ? a : b, id, `m${i}`));
    assert.deepEqual(sent[1]!.sender, ref(b));
    const paged = await pages<Message>(b, `/conversations/${id}/messages`, 2);
    assert.deepEqual(paged, [[sent[4], sent[3]], [sent[2], sent[1]], [sent[0]]]);
  });

  it('text is 1-5000 characters after trimming; an Idempotency-Key replay makes one message', async () => {
    const [a, b] = await accounts(2);
    const id = (await ok<Conversation>(open(a, b), 201)).id;
    const bStream = await connect(b);
    for (const text of ['', '   \n\t ', 'x'.repeat(5001)]) {
      const body = assertProblem(await send(a, id, text), 400, 'validation_failed');
      assert.deepEqual(
        body.errors?.map((e) => e.path),
        ['/text'],
        JSON.stringify(text),
      );
    }
    assert.equal((await say(a, id, `  ${'y'.repeat(5000)}  `)).text.length, 5000);
    const key = { 'idempotency-key': 'send-once-1' };
    const first = await send(a, id, 'only once', key);
    const retry = await send(a, id, 'only once', key);
    assert.deepEqual([first.statusCode, retry.statusCode], [201, 201]);
    assert.deepEqual(retry.json(), first.json());
    assert.equal(retry.headers['idempotent-replayed'], 'true');
    assertProblem(await send(a, id, 'something else', key), 422, 'idempotency_key_reused');
    const texts = (await pages<Message>(a, `/conversations/${id}/messages`, 100)).flat();
    assert.deepEqual(
      texts.map((m) => m.text.slice(0, 9)),
      ['only once', 'yyyyyyyyy'],
    );
    await say(a, id, 'last');
    const evs = await bStream.until((e) => e.some((x) => x.data.text === 'last') && e, 'last');
    assert.deepEqual(
      evs.map((e) => [e.type, e.data.text?.slice(0, 9)]),
      [
        ['message', 'yyyyyyyyy'],
        ['message', 'only once'],
        ['message', 'last'],
      ],
    );
  });

  it('reading clears the unread count and tells the other side (message.read)', async () => {
    const [a, b] = await accounts(2);
    const id = (await ok<Conversation>(open(a, b), 201)).id;
    assert.deepEqual(await ok(call('POST', `/conversations/${id}/read`, a)), {
      last_read_id: null,
    });
    await say(b, id, 'one');
    const last = await say(b, id, 'two');
    assert.equal((await conversation(a, id)).unread_count, 2);
    const [bStream, aOther] = [await connect(b), await connect(a)];
    const read = await ok(call('POST', `/conversations/${id}/read`, a));
    assert.deepEqual(read, { last_read_id: last.id });
    assert.equal((await conversation(a, id)).unread_count, 0);
    assert.equal((await conversation(b, id)).unread_count, 0);
    const event = { conversation_id: id, user_id: a.id, last_read_id: last.id };
    for (const s of [bStream, aOther]) {
      const [got] = await s.count(1);
      assert.deepEqual([got!.type, got!.data], ['message.read', event]);
    }
    // Reading again changes nothing and announces nothing; the next event is the next message.
    assert.deepEqual(await ok(call('POST', `/conversations/${id}/read`, a)), read);
    await say(a, id, 'three');
    assert.deepEqual(
      (await bStream.count(2)).map((e) => e.type),
      ['message.read', 'message'],
    );
  });

  it('someone else’s conversation (or none) is 404 on every route', async () => {
    const [a, b, x] = await accounts(3);
    const id = (await ok<Conversation>(open(a, b), 201)).id;
    await say(a, id, 'private');
    const routes = (cid: string): [string, string, object?][] => [
      ['GET', `/conversations/${cid}`],
      ['GET', `/conversations/${cid}/messages`],
      ['POST', `/conversations/${cid}/messages`, { text: 'let me in' }],
      ['POST', `/conversations/${cid}/read`],
    ];
    for (const cid of [id, '01900000-0000-7000-8000-000000000000'])
      for (const [method, url, body] of routes(cid))
        assertProblem(await call(method, url, x, body), 404, 'conversation_not_found');
    assert.equal((await call('GET', '/conversations/not-a-uuid', a)).statusCode, 400);
    assert.deepEqual(
      (await pages<Message>(b, `/conversations/${id}/messages`, 100)).flat().map((m) => m.text),
      ['private'],
    );
    assert.deepEqual(await pages(x, '/conversations', 20), [[]]);
  });

  it('blocked either way: 403 blocked on create, and on everything in an existing conversation; an unblock reopens it', async () => {
    const [a, b, d] = await accounts(3);
    const id = (await ok<Conversation>(open(a, b), 201)).id;
    await say(a, id, 'before');
    await ok(call('POST', `/users/${b.username}/block`, a));
    await ok(call('POST', `/users/${a.username}/block`, d));
    assertProblem(await open(a, d), 403, 'blocked');
    assertProblem(await open(d, a), 403, 'blocked');
    for (const [me, other] of [
      [a, b],
      [b, a],
    ] as const) {
      assertProblem(await open(me, other), 403, 'blocked');
      assertProblem(await send(me, id, 'hello?'), 403, 'blocked');
      for (const path of [`/conversations/${id}`, `/conversations/${id}/messages`])
        assertProblem(await call('GET', path, me), 403, 'blocked');
      assertProblem(await call('POST', `/conversations/${id}/read`, me), 403, 'blocked');
      assert.deepEqual(await pages(me, '/conversations', 20), [[]], 'left out of the list');
    }
    await ok(call('DELETE', `/users/${b.username}/block`, a));
    assert.equal((await conversation(a, id)).last_message?.text, 'before', 'nothing was stored');
    await say(b, id, 'unblocked');
  });

  for (const [policy, allowed] of [
    ['everyone', ['stranger', 'follower', 'friend']],
    ['followers', ['follower', 'friend']],
    ['friends', ['friend']],
    ['nobody', []],
  ] as const) {
    it(`dm_policy ${policy}: who may start a conversation and send`, async () => {
      const [r, stranger, follower, friend] = await accounts(4);
      await follow(follower, r);
      await befriend(friend, r);
      const senders = { stranger, follower, friend };
      assert.equal((await setPolicy(r, policy)).dm_policy, policy);
      const may = (name: string) => (allowed as readonly string[]).includes(name);
      for (const [name, sender] of Object.entries(senders)) {
        const res = await open(sender, r);
        if (may(name)) assert.equal(res.statusCode, 201, `${name}: ${res.body}`);
        else assertProblem(res, 403, 'messages_not_allowed');
      }
      // In conversations that exist (opened while r took messages from everyone).
      await setPolicy(r, 'everyone');
      const ids = new Map<string, string>();
      for (const [name, sender] of Object.entries(senders))
        ids.set(name, (await ok<Conversation>(open(sender, r), may(name) ? 200 : 201)).id);
      await setPolicy(r, policy);
      for (const [name, sender] of Object.entries(senders)) {
        const res = await send(sender, ids.get(name)!, `from the ${name}`);
        if (may(name)) assert.equal(res.statusCode, 201, `${name}: ${res.body}`);
        else assertProblem(res, 403, 'messages_not_allowed');
        await say(r, ids.get(name)!, 'r’s policy limits what r receives, not what r sends');
      }
    });
  }

  it('rejects an unknown dm_policy', async () => {
    const [a] = await accounts(1);
    assertProblem(await call('PATCH', '/me', a, { dm_policy: 'some' }), 400, 'validation_failed');
  });

  it('a message reaches every stream of the recipient and the sender’s other connections', async () => {
    const [a, b] = await accounts(2);
    const id = (await ok<Conversation>(open(a, b), 201)).id;
    const streams = [await connect(b), await connect(b), await connect(a), await connect(a)];
    const sent = await say(a, id, 'to all of you');
    const timeless = (m: object) => ({ ...m, created_at: '' });
    for (const s of streams) {
      const [got] = await s.count(1);
      assert.deepEqual([got!.type, timeless(got!.data)], ['message', timeless(sent)]);
    }
    const seqs = streams.map((s) => s.events[0]!.seq);
    assert.equal(seqs[0], seqs[1], 'one event per user, the same on each connection');
    assert.equal(seqs[2], seqs[3]);
  });

  it('the pushed message is the stored message, created_at included', async () => {
    const [a, b] = await accounts(2);
    const id = (await ok<Conversation>(open(a, b), 201)).id;
    const stream = await connect(b);
    const sent = await say(a, id, 'when?');
    const [stored] = (await pages<Message>(b, `/conversations/${id}/messages`, 1))[0]!;
    assert.deepEqual(stored, sent);
    assert.deepEqual((await stream.count(1))[0]!.data, stored);
  });
});
