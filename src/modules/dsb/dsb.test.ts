/**
 * DeathStarBench compatibility (DSB_COMPAT): the /wrk2-api/ routes that DSB's graph loader
 * (init_social_graph.py, which form-encodes) and its wrk2 scripts (which send unencoded bodies,
 * absolute URLs in the request line, and a form content type on bodiless GETs) call. Requests are
 * sent as those clients send them: app.inject with raw form bodies, and raw bytes over node:net
 * to a listening server. Everything they create is a real kith user, follow and post, checked
 * through kith's own API. Runs on Postgres, Redis and RabbitMQ when their variables are set.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it, mock } from 'node:test';
import type { AddressInfo } from 'node:net';
import type { Env } from '../../config.ts';
import { startWorker } from '../../app/roles/worker.ts';
import { drain } from '../../../test/support/drain.ts';
import { login } from '../../../test/support/factories.ts';
import { createTestApp, type TestApp } from '../../../test/support/harness.ts';
import { assertProblem } from '../../../test/support/problems.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../../../test/support/services.ts';
import { DsbRepository } from './dsb.repository.ts';

const FORM = 'application/x-www-form-urlencoded';

interface DsbPost {
  post_id: string;
  creator: { user_id: string; username: string };
  req_id: string;
  text: string;
  user_mentions: { user_id: string; username: string }[];
  media: { media_id: string; media_type: string }[];
  urls: { shortened_url: string; expanded_url: string }[];
  timestamp: string;
  post_type: number;
}

const topologies: [prefix: string, groups: () => string[]][] = [];
if (redisUrl()) await testRedis(); // removes this file's Redis keys afterwards
after(async () => {
  for (const [prefix, groups] of topologies) await deleteAmqpTopology(amqpUrl()!, prefix, groups());
});

/**
 * An app on this run's services with a worker (stopped by `stop`), DSB_COMPAT on unless `env`
 * says otherwise.
 */
async function kith(name: string, env: Env = {}): Promise<TestApp & { stop(): Promise<void> }> {
  const [redis, amqp] = [redisUrl(), amqpUrl()];
  const t = await createTestApp({
    env: {
      DSB_COMPAT: 'true',
      OUTBOX_POLL_MS: '10',
      ...(redis && { REDIS_URL: redis, REDIS_PREFIX: `${testPrefix}:${name}:` }),
      ...(amqp && { AMQP_URL: amqp, AMQP_PREFIX: `${testPrefix}.${name}` }),
      ...env,
    },
  });
  if (amqp) topologies.push([`${testPrefix}.${name}`, () => t.ctx.consumers.map((c) => c.group)]);
  const worker = await startWorker(t.ctx);
  return { ...t, stop: () => worker.stop() };
}

/** Form-encodes fields the way aiohttp (init_social_graph.py) does. */
const encoded = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `request` byte for byte over a new TCP connection and reads one response (sized by its
 * content-length, as kith's are), as wrk2 would.
 */
function rawHttp(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let data = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [
          l.slice(0, l.indexOf(':')).toLowerCase(),
          l.slice(l.indexOf(':') + 1).trim(),
        ]),
      );
      const length = Number(headers['content-length']);
      const body = data.subarray(end + 4);
      if (body.length < length) return;
      socket.destroy();
      resolve({
        status: Number(statusLine!.split(' ')[1]),
        headers,
        body: body.subarray(0, length).toString('utf8'),
      });
    });
  });
}

/** A request as wrk.format builds it from DSB's scripts: absolute URL, unencoded body. */
function wrk2Request(method: 'GET' | 'POST', port: number, path: string, body?: string): string {
  const head = [
    `${method} http://localhost:${port}${path} HTTP/1.1`,
    `Host: localhost:${port}`,
    `Content-Type: ${FORM}`,
    ...(body === undefined ? [] : [`Content-Length: ${Buffer.byteLength(body)}`]),
  ];
  return `${head.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

describe('DSB_COMPAT off (the default)', () => {
  it('serves none of the /wrk2-api/ routes', async () => {
    const { app, ctx } = await createTestApp();
    assert.equal(ctx.config.dsbCompat, false);
    for (const [method, url] of [
      ['POST', '/wrk2-api/user/register'],
      ['POST', '/wrk2-api/user/follow'],
      ['POST', '/wrk2-api/user/unfollow'],
      ['POST', '/wrk2-api/post/compose'],
      ['GET', '/wrk2-api/home-timeline/read?user_id=1&start=0&stop=10'],
      ['GET', '/wrk2-api/user-timeline/read?user_id=1&start=0&stop=10'],
    ] as const) {
      const res = await app.inject({
        method,
        url,
        headers: { 'content-type': FORM },
        ...(method === 'POST' ? { payload: 'user_id=1' } : {}),
      });
      assertProblem(res, 404, 'not_found');
    }
  });
});

describe('DSB_COMPAT on', { timeout: 120_000 }, () => {
  let t: Awaited<ReturnType<typeof kith>>;
  let port: number;
  const N = 8;
  const post = (url: string, payload: string) =>
    t.app.inject({ method: 'POST', url, headers: { 'content-type': FORM }, payload });
  const read = async (
    kind: 'home' | 'user',
    userId: number | string,
    start: number,
    stop: number,
  ) => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/wrk2-api/${kind}-timeline/read?user_id=${userId}&start=${start}&stop=${stop}`,
      headers: { 'content-type': FORM },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    return res.json<DsbPost[]>();
  };
  const follow = async (fields: Record<string, string>, on = true) => {
    const res = await post(`/wrk2-api/user/${on ? 'follow' : 'unfollow'}`, encoded(fields));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.body, 'Success!\n');
  };
  const compose = async (userId: number, text: string, extra: Record<string, string> = {}) => {
    const fields = { username: `username_${userId}`, user_id: `${userId}`, text, post_type: '0' };
    const res = await post('/wrk2-api/post/compose', encoded({ ...fields, ...extra }));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.body, 'Successfully upload post\n');
  };
  const followers = async (username: string) => {
    const res = await t.app.inject({ url: `/api/v1/users/${username}/followers?limit=100` });
    assert.equal(res.statusCode, 200, res.body);
    return res
      .json<{ items: { username: string }[] }>()
      .items.map((u) => u.username)
      .sort();
  };

  before(async () => {
    t = await kith('on');
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as AddressInfo).port;
  });
  after(() => t.stop());

  it('registers users exactly as init_social_graph.py sends them, as real kith users', async () => {
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        post(
          '/wrk2-api/user/register',
          encoded({
            first_name: `first_name_${i}`,
            last_name: `last_name_${i}`,
            username: `username_${i}`,
            password: `password_${i}`,
            user_id: `${i}`,
          }),
        ),
      ),
    );
    for (const res of results) {
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.body, 'Success!\n');
      assert.match(res.headers['content-type'] as string, /^text\/plain/);
    }
    const profile = await t.app.inject({ url: '/api/v1/users/username_3' });
    assert.equal(profile.statusCode, 200);
    assert.equal(profile.json<{ display_name: string }>().display_name, 'first_name_3 last_name_3');
    // The password was hashed and works through the normal login.
    assert.ok((await login(t.app, 'username_3', 'password_3')).access_token);
  });

  it('refuses a taken username or user_id with 409, creating nothing', async () => {
    const base = { first_name: 'a', last_name: 'b', password: 'password_x' };
    const again = await post(
      '/wrk2-api/user/register',
      encoded({ ...base, username: 'username_1', user_id: '100' }),
    );
    assert.equal(again.statusCode, 409);
    assert.equal(again.body, 'User username_1 already existed\n');
    const sameId = await post(
      '/wrk2-api/user/register',
      encoded({ ...base, username: 'someone_new', user_id: '001' }), // 001 is user_id 1
    );
    assert.equal(sameId.statusCode, 409, sameId.body);
    assert.equal((await t.app.inject({ url: '/api/v1/users/someone_new' })).statusCode, 404);
  });

  it('stores a user and their user_id together: a failure between them leaves nothing, the retry registers', async () => {
    const fields = encoded({
      first_name: 'r',
      last_name: 'r',
      username: 'username_900',
      password: 'password_900',
      user_id: '900',
    });
    // The request fails after the account is written, before its user_id is (as a request
    // that runs out of database time there does).
    const fault = mock.method(DsbRepository.prototype, 'map', () =>
      Promise.reject(new Error('injected: user_id not stored')),
    );
    let failed;
    try {
      failed = await post('/wrk2-api/user/register', fields);
    } finally {
      fault.mock.restore();
    }
    assert.equal(fault.mock.callCount(), 1);
    assert.equal(failed.statusCode, 500, failed.body);
    assert.equal((await t.app.inject({ url: '/api/v1/users/username_900' })).statusCode, 404);
    // The loader's retry of the same request registers the user, who can then post.
    const retry = await post('/wrk2-api/user/register', fields);
    assert.equal(retry.statusCode, 200, retry.body);
    assert.equal(retry.body, 'Success!\n');
    await compose(900, 'registered on the second try');
    assert.equal((await read('user', 900, 0, 10))[0]?.text, 'registered on the second try');
    // Once more: the user exists, and is answered as DSB answers for one.
    const again = await post('/wrk2-api/user/register', fields);
    assert.equal(again.statusCode, 409);
    assert.equal(again.body, 'User username_900 already existed\n');
  });

  it('leaves exactly one user, mapped, when registrations race for one user_id', async () => {
    const names = ['username_901', 'racer_a', 'username_901', 'racer_b', 'username_901'];
    const results = await Promise.all(
      names.map((username) =>
        post(
          '/wrk2-api/user/register',
          encoded({
            first_name: 'c',
            last_name: 'c',
            username,
            password: 'password_c',
            user_id: '901',
          }),
        ),
      ),
    );
    const won = names.filter((_, i) => results[i]!.statusCode === 200);
    assert.equal(won.length, 1, results.map((r) => `${r.statusCode} ${r.body}`).join(''));
    for (const res of results) assert.ok([200, 409].includes(res.statusCode), res.body);
    for (const name of new Set(names)) {
      const profile = await t.app.inject({ url: `/api/v1/users/${name}` });
      assert.equal(profile.statusCode, name === won[0] ? 200 : 404, name);
    }
    const res = await post(
      '/wrk2-api/post/compose',
      encoded({ username: won[0]!, user_id: '901', text: 'the one user', post_type: '0' }),
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await read('user', 901, 0, 10))[0]?.creator.username, won[0]);
  });

  it('follows along graph edges by name (both ways, as the loader does) and by id; unfollows', async () => {
    for (const [a, b] of [
      [0, 1],
      [1, 2],
      [0, 2],
    ]) {
      await follow({ user_name: `username_${a}`, followee_name: `username_${b}` });
      await follow({ user_name: `username_${b}`, followee_name: `username_${a}` });
    }
    await follow({ user_id: '3', followee_id: '1' });
    await follow({ user_id: '6', followee_id: '1' });
    assert.deepEqual(await followers('username_1'), [
      'username_0',
      'username_2',
      'username_3',
      'username_6',
    ]);
    await follow({ user_id: '6', followee_id: '1' }, false);
    await follow({ user_name: 'username_2', followee_name: 'username_1' }, false);
    assert.deepEqual(await followers('username_1'), ['username_0', 'username_3']);
  });

  let composedId = '';
  const text256 = 'aB3'.repeat(85) + 'z';
  const url64 = 'http://' + 'x1'.repeat(32);
  const composedText = `${text256} @username_5 @username_7 @username_99 ${url64}`;

  it('composes from the raw bytes wrk2 sends: absolute URL, unencoded text, 18-digit media ids', async () => {
    const body =
      `username=username_1&user_id=1&text=${composedText}` +
      `&media_ids=["123456789012345678","012345678901234567"]&media_types=["png","jpg"]&post_type=0`;
    const res = await rawHttp(port, wrk2Request('POST', port, '/wrk2-api/post/compose', body));
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, 'Successfully upload post\n');
    assert.equal(res.headers['keep-alive'], 'timeout=120');
    await drain(t.ctx);

    // Through kith's normal API: a real post by username_1.
    const byAuthor = await t.app.inject({ url: '/api/v1/users/username_1/posts' });
    const items = byAuthor.json<{ items: { id: string; text: string }[] }>().items;
    assert.equal(items.length, 1);
    composedId = items[0]!.id;
    assert.equal(items[0]!.text, composedText);
    const single = await t.app.inject({ url: `/api/v1/posts/${composedId}` });
    assert.equal(single.statusCode, 200);
    assert.equal(single.json<{ author: { username: string } }>().author.username, 'username_1');
    // And in the follower's normal home feed.
    const session = await login(t.app, 'username_0', 'password_0');
    const feed = await t.app.inject({
      url: '/api/v1/feed',
      headers: { authorization: `Bearer ${session.access_token}` },
    });
    assert.deepEqual(
      feed.json<{ items: { id: string }[] }>().items.map((p) => p.id),
      [composedId],
    );
  });

  it('reads it back in the follower’s home timeline, as DSB presents posts', async () => {
    const res = await rawHttp(
      port,
      wrk2Request('GET', port, '/wrk2-api/home-timeline/read?user_id=0&start=0&stop=10'),
    );
    assert.equal(res.status, 200, res.body);
    // Ids stay strings in the JSON text itself: never numbers that lose digits.
    assert.match(res.body, /"media_id":"123456789012345678"/);
    const [p, ...rest] = JSON.parse(res.body) as DsbPost[];
    assert.equal(rest.length, 0);
    assert.equal(p!.post_id, composedId);
    assert.deepEqual(p!.creator, { user_id: '1', username: 'username_1' });
    assert.equal(p!.text, composedText);
    assert.deepEqual(p!.user_mentions, [
      { user_id: '5', username: 'username_5' },
      { user_id: '7', username: 'username_7' },
    ]);
    assert.deepEqual(p!.media, [
      { media_id: '123456789012345678', media_type: 'png' },
      { media_id: '012345678901234567', media_type: 'jpg' },
    ]);
    assert.deepEqual(p!.urls, [{ shortened_url: url64, expanded_url: url64 }]);
    assert.match(p!.req_id, /^\d+$/);
    assert.match(p!.timestamp, /^\d{13}$/);
    assert.ok(Math.abs(Number(p!.timestamp) - Date.now()) < 60_000);
    assert.equal(p!.post_type, 0);
  });

  it('delivers a post to the home timelines of the users it mentions, and only theirs', async () => {
    for (const mentioned of [5, 7]) {
      assert.deepEqual(
        (await read('home', mentioned, 0, 10)).map((p) => p.post_id),
        [composedId],
        `username_${mentioned}`,
      );
    }
    assert.deepEqual(await read('home', 4, 0, 10), [], 'neither following nor mentioned');
    assert.deepEqual(
      (await read('home', 3, 0, 10)).map((p) => p.post_id),
      [composedId],
      'followed by id',
    );
  });

  it('reads windows [start, stop) newest first, from both timelines', async () => {
    for (let i = 0; i < 5; i++) await compose(2, `post ${i} of user 2`);
    await drain(t.ctx);
    const all = await read('user', 2, 0, 100);
    assert.deepEqual(
      all.map((p) => p.text),
      [4, 3, 2, 1, 0].map((i) => `post ${i} of user 2`),
    );
    assert.deepEqual(await read('user', 2, 0, 3), all.slice(0, 3));
    assert.deepEqual(await read('user', 2, 3, 13), all.slice(3));
    assert.deepEqual(await read('user', 2, 1, 2), all.slice(1, 2));
    assert.deepEqual(await read('user', 2, 5, 15), []);
    assert.deepEqual(await read('user', 2, 3, 3), [], 'an empty window');
    // User 0 follows 1 and 2: their posts (and 0's own, as kith's home feed has them).
    await compose(0, 'my own post');
    const home = await read('home', 0, 0, 100);
    assert.deepEqual(
      home.map((p) => p.text),
      ['my own post', ...all.map((p) => p.text), composedText],
    );
    assert.ok(
      home.every((p, i) => i === 0 || home[i - 1]!.post_id > p.post_id),
      'newest first',
    );
    assert.deepEqual(await read('home', 0, 2, 5), home.slice(2, 5));
    assert.deepEqual(await read('home', 0, 6, 10), home.slice(6));
  });

  it('decodes a form leniently: + is a space, a malformed %-escape is kept as written', async () => {
    const body = 'username=username_4&user_id=4&text=50%25+off %zz deal %E2%82%AC&post_type=1';
    const res = await post('/wrk2-api/post/compose', body);
    assert.equal(res.statusCode, 200, res.body);
    const [p] = await read('user', 4, 0, 1);
    assert.equal(p!.text, '50% off %zz deal €');
    assert.equal(p!.post_type, 1);
    assert.deepEqual(p!.media, []);
  });

  it('answers a bodiless GET with a form content type, and GETs with an absolute URL', async () => {
    const res = await rawHttp(
      port,
      wrk2Request('GET', port, '/wrk2-api/user-timeline/read?user_id=4&start=0&stop=10'),
    );
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).length, 1);
    // Absolute-form targets reach kith's own API too.
    const health = await rawHttp(
      port,
      `GET http://localhost:${port}/api/v1/users/username_4 HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    assert.equal(health.status, 200, health.body);
  });

  it('keeps idle connections open for at least 120 s', () => {
    assert.ok(t.app.server.keepAliveTimeout >= 120_000, `${t.app.server.keepAliveTimeout}`);
  });

  it('answers bad input with a clear 4xx in plain text, never a 5xx', async () => {
    const reg = (fields: Record<string, string>) =>
      post('/wrk2-api/user/register', encoded(fields));
    const full = {
      first_name: 'f',
      last_name: 'l',
      username: 'fresh_user',
      password: 'password_fresh',
      user_id: '500',
    };
    const get = (path: string) =>
      t.app.inject({ method: 'GET', url: path, headers: { 'content-type': FORM } });
    const cases: [
      string,
      Promise<{ statusCode: number; body: string; headers: object }>,
      number,
      RegExp,
    ][] = [
      ['register without user_id', reg({ ...full, user_id: '' }), 400, /^Incomplete arguments/],
      ['register with no body', post('/wrk2-api/user/register', ''), 400, /^Incomplete arguments/],
      ['register, user_id not a number', reg({ ...full, user_id: '12ab' }), 400, /user_id/],
      [
        'register, user_id past 64 bits',
        reg({ ...full, user_id: '9223372036854775808' }),
        400,
        /user_id/,
      ],
      ['register, bad username', reg({ ...full, username: 'no spaces!' }), 400, /username/],
      ['register, short password', reg({ ...full, password: 'short' }), 400, /password/],
      [
        'follow, unknown id',
        post('/wrk2-api/user/follow', 'user_id=0&followee_id=404'),
        404,
        /user_id 404/,
      ],
      [
        'follow, unknown name',
        post('/wrk2-api/user/follow', 'user_name=username_0&followee_name=nobody_here'),
        404,
        /nobody_here/,
      ],
      [
        'follow, one field',
        post('/wrk2-api/user/follow', 'user_id=0'),
        400,
        /^Incomplete arguments/,
      ],
      [
        'follow yourself',
        post('/wrk2-api/user/follow', 'user_id=0&followee_id=0'),
        400,
        /yourself/,
      ],
      [
        'compose, unknown user',
        post('/wrk2-api/post/compose', 'username=x_y&user_id=404&text=hi&post_type=0'),
        404,
        /user_id 404/,
      ],
      [
        'compose, no text',
        post('/wrk2-api/post/compose', 'username=username_1&user_id=1&post_type=0'),
        400,
        /^Incomplete/,
      ],
      [
        'compose, name not the id',
        post('/wrk2-api/post/compose', 'username=username_2&user_id=1&text=hi&post_type=0'),
        400,
        /username_1/,
      ],
      [
        'compose, bad media id',
        post(
          '/wrk2-api/post/compose',
          'username=username_1&user_id=1&text=hi&post_type=0&media_ids=[1,x]&media_types=["a","b"]',
        ),
        400,
        /media_ids/,
      ],
      [
        'compose, media not a list',
        post(
          '/wrk2-api/post/compose',
          'username=username_1&user_id=1&text=hi&post_type=0&media_ids=1&media_types=png',
        ),
        400,
        /media_ids/,
      ],
      [
        'compose, one type for two ids',
        post(
          '/wrk2-api/post/compose',
          'username=username_1&user_id=1&text=hi&post_type=0&media_ids=["1","2"]&media_types=["png"]',
        ),
        400,
        /media_types/,
      ],
      [
        'compose, text too long',
        post(
          '/wrk2-api/post/compose',
          `username=username_1&user_id=1&post_type=0&text=${'a'.repeat(5001)}`,
        ),
        400,
        /text/,
      ],
      [
        'compose, bad post_type',
        post('/wrk2-api/post/compose', 'username=username_1&user_id=1&text=hi&post_type=x'),
        400,
        /post_type/,
      ],
      [
        'read without stop',
        get('/wrk2-api/home-timeline/read?user_id=0&start=0'),
        400,
        /^Incomplete/,
      ],
      [
        'read, start not a number',
        get('/wrk2-api/user-timeline/read?user_id=0&start=a&stop=10'),
        400,
        /start/,
      ],
      [
        'read, stop too deep',
        get('/wrk2-api/home-timeline/read?user_id=0&start=0&stop=1001'),
        400,
        /stop/,
      ],
      [
        'read, unknown user',
        get('/wrk2-api/home-timeline/read?user_id=404&start=0&stop=10'),
        404,
        /user_id 404/,
      ],
      [
        'read, unknown user (user timeline)',
        get('/wrk2-api/user-timeline/read?user_id=404&start=0&stop=10'),
        404,
        /user_id 404/,
      ],
    ];
    for (const [what, pending, status, body] of cases) {
      const res = await pending;
      assert.equal(res.statusCode, status, `${what}: ${res.body}`);
      assert.match(res.body, body, what);
      assert.match((res.headers as Record<string, string>)['content-type']!, /^text\/plain/, what);
    }
    // Nothing of the refused registrations exists.
    assert.equal((await t.app.inject({ url: '/api/v1/users/fresh_user' })).statusCode, 404);
  });
});
