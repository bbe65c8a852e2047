/**
 * Hostile input: injection strings and odd Unicode in every text field, look-alike usernames,
 * oversized and deeply nested bodies, wrong content types, invalid UTF-8 and prototype pollution.
 * Every answer is a stored value (NFC, trimmed) or a 400 with a stable code; never a 5xx.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LightMyRequestResponse as Res } from 'fastify';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import { JSON_MAX_DEPTH } from '../../src/http/body-parsers.ts';
import { createAccount, newUser, uniqueUsername, type Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import { api } from '../support/api.ts';
import { assertProblem } from '../support/problems.ts';
import { redisUrl, testPrefix, testRedis } from '../support/services.ts';

const API = '/api/v1';

let app: App;
let ctx: Context;
let alice: Account;
let bob: Account;
let postId: string;
let commentPostId: string;
let commentId: string;
let conversationId: string;
const { call, ok } = api(() => app);

before(async () => {
  if (redisUrl()) await testRedis(); // removes this file's keys afterwards
  ({ app, ctx } = await createTestApp({
    env: {
      RATE_LIMIT_MESSAGES: '100000',
      ...(redisUrl() && { REDIS_URL: redisUrl()!, REDIS_PREFIX: `${testPrefix}:input:` }),
    },
  }));
  [alice, bob] = [await createAccount(app), await createAccount(app)];
  postId = (await ok<{ id: string }>(call('POST', '/posts', alice, { text: 'host post' }), 201)).id;
  commentPostId = (
    await ok<{ id: string }>(call('POST', '/posts', alice, { text: 'comments' }), 201)
  ).id;
  commentId = (
    await ok<{ id: string }>(call('POST', `/posts/${postId}/comments`, alice, { text: 'c' }), 201)
  ).id;
  const conv = call('POST', '/conversations', alice, { username: bob.username });
  conversationId = (await ok<{ id: string }>(conv, 201)).id;
});

function assertNo5xx(res: Res, what: string) {
  assert.ok(res.statusCode < 500, `${what}: ${res.statusCode} ${res.body}`);
}

/** How kith must treat a value: stored everywhere, only where newlines may go, refused, blank. */
type Verdict = 'ok' | 'multiline' | 'refused' | 'blank';

const CORPUS: [name: string, value: string, verdict: Verdict][] = [
  ['SQL quote', "' OR '1'='1", 'ok'],
  ['SQL statement', "Robert'); DROP TABLE users; --", 'ok'],
  ['SQL sleep', '1; SELECT pg_sleep(10); --', 'ok'],
  ['SQL dollar quoting', '$$; DELETE FROM posts; $$', 'ok'],
  ['LIKE wildcards and backslash', '%_%\\', 'ok'],
  ['script tag', '<script>alert(document.cookie)</script>', 'ok'],
  ['img onerror', '<img src=x onerror=alert(1)>', 'ok'],
  ['attribute breakout', '"><svg/onload=alert(1)>', 'ok'],
  ['javascript: URL', 'javascript:alert(1)', 'ok'],
  ['template injection', '{{7*7}} ${7*7} #{7*7} <%= 7*7 %>', 'ok'],
  ['JSON operators and prototype words', '{"$gt":""} __proto__ constructor', 'ok'],
  ['path traversal', '../../../../etc/passwd', 'ok'],
  ['format string', '%s%s%s%n%x', 'ok'],
  ['escapes as text', '\\u0000 \\x00 \\n', 'ok'],
  ['emoji', '😀 👍🏽 🇫🇷', 'ok'],
  ['emoji ZWJ sequences', '👩‍💻 👨‍👩‍👧 🏳️‍🌈', 'ok'],
  [
    'subdivision flag (tag characters)',
    '🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}',
    'ok',
  ],
  ['Persian with a zero-width non-joiner', 'می‌خواهم', 'ok'],
  ['Devanagari conjuncts', 'क्षत्रिय', 'ok'],
  ['Arabic (right-to-left)', 'مرحبا بالعالم', 'ok'],
  ['CJK', '你好，世界', 'ok'],
  ['astral letters', '𝕒𝕝𝕚𝕔𝕖', 'ok'],
  ['decomposed accents (NFD, stored NFC)', 'Cafe\u0301 A\u030a', 'ok'],
  ['Hangul jamo (stored composed)', '\u1100\u1161', 'ok'],
  ['a few combining marks', 'Z\u0301\u0302\u0303\u0304', 'ok'],
  ['a tab', 'a\tb', 'ok'],
  ['surrounding whitespace', '  padded  ', 'ok'],
  ['a newline', 'line one\nline two', 'multiline'],
  ['CRLF header injection', 'a\r\nSet-Cookie: admin=1', 'multiline'],
  ['a line separator', 'a\u2028b', 'multiline'],
  ['NUL', 'a\u0000b', 'refused'],
  ['bell', 'a\u0007b', 'refused'],
  ['ANSI escape', '\u001b[31mred\u001b[0m', 'refused'],
  ['DEL', 'a\u007fb', 'refused'],
  ['C1 control (NEL)', 'a\u0085b', 'refused'],
  ['zero-width space', 'ad\u200bmin', 'refused'],
  ['zero-width joiner between ASCII letters', 'ad\u200dmin', 'refused'],
  ['word joiner', 'ad\u2060min', 'refused'],
  ['byte-order mark inside', 'ad\ufeffmin', 'refused'],
  ['right-to-left override', 'invoice\u202egnp.exe', 'refused'],
  ['bidi isolates (Trojan Source)', 'a\u2066b\u2069c', 'refused'],
  ['left-to-right mark', 'a\u200eb', 'refused'],
  ['Arabic letter mark', 'a\u061cb', 'refused'],
  ['tag characters (invisible ASCII)', 'hi\u{e0069}\u{e0067}\u{e006e}', 'refused'],
  ['a lone surrogate', 'a\ud800b', 'refused'],
  ['a pile of combining marks (Zalgo)', `Z${'\u0301'.repeat(40)}`, 'refused'],
  ['only whitespace', '   \t  ', 'blank'],
];

/** What kith stores for an accepted value: NFC, CRLF as LF, trimmed. */
const stored = (value: string) => value.normalize('NFC').replace(/\r\n?/g, '\n').trim();

interface TextField {
  name: string;
  path: string;
  multiline: boolean;
  /** Minimum length after trimming (0: blank is stored as ""). */
  min: number;
  max: number;
  /** Writes the value; returns the response and a way to read the stored value back. */
  write(value: string): Promise<{ res: Res; readBack?: () => Promise<string> }>;
}

const field = (json: Res, name: string) => json.json<Record<string, string>>()[name]!;
const readMe = (name: string) => async () => field(await call('GET', '/me', alice), name);

const FIELDS: TextField[] = [
  {
    name: 'display name (PATCH /me)',
    path: '/display_name',
    multiline: false,
    min: 1,
    max: 50,
    write: async (display_name) => ({
      res: await call('PATCH', '/me', alice, { display_name }),
      readBack: readMe('display_name'),
    }),
  },
  {
    name: 'bio (PATCH /me)',
    path: '/bio',
    multiline: true,
    min: 0,
    max: 500,
    write: async (bio) => ({
      res: await call('PATCH', '/me', alice, { bio }),
      readBack: readMe('bio'),
    }),
  },
  {
    name: 'display name (registration)',
    path: '/display_name',
    multiline: false,
    min: 1,
    max: 50,
    write: async (display_name) => ({
      res: await call('POST', '/auth/register', undefined, newUser({ display_name })),
    }),
  },
  {
    name: 'post text',
    path: '/text',
    multiline: true,
    min: 1,
    max: 5000,
    write: async (text) => {
      const res = await call('POST', '/posts', alice, { text });
      const id = res.statusCode === 201 ? res.json<{ id: string }>().id : '';
      return { res, readBack: async () => field(await call('GET', `/posts/${id}`, bob), 'text') };
    },
  },
  {
    name: 'post edit',
    path: '/text',
    multiline: true,
    min: 1,
    max: 5000,
    write: async (text) => ({
      res: await call('PATCH', `/posts/${postId}`, alice, { text }),
      readBack: async () => field(await call('GET', `/posts/${postId}`), 'text'),
    }),
  },
  {
    name: 'comment',
    path: '/text',
    multiline: true,
    min: 1,
    max: 2000,
    write: async (text) => {
      const res = await call('POST', `/posts/${commentPostId}/comments`, bob, { text });
      const id = res.statusCode === 201 ? res.json<{ id: string }>().id : '';
      return {
        res,
        readBack: async () => {
          // Oldest first, and this post only gets this field's (under 100) comments.
          const page = await call('GET', `/posts/${commentPostId}/comments?limit=100`);
          const items = page.json<{ items: { id: string; text: string }[] }>().items;
          return items.find((c) => c.id === id)!.text;
        },
      };
    },
  },
  {
    name: 'comment edit',
    path: '/text',
    multiline: true,
    min: 1,
    max: 2000,
    write: async (text) => ({
      res: await call('PATCH', `/comments/${commentId}`, alice, { text }),
    }),
  },
  {
    name: 'direct message',
    path: '/text',
    multiline: true,
    min: 1,
    max: 5000,
    write: async (text) => ({
      res: await call('POST', `/conversations/${conversationId}/messages`, alice, { text }),
      readBack: async () => {
        const page = await call('GET', `/conversations/${conversationId}/messages?limit=1`, bob);
        return page.json<{ items: { text: string }[] }>().items[0]!.text;
      },
    }),
  },
];

/** The status and code a field must answer `value` with; `expected` is the stored text. */
function expectation(f: TextField, value: string, verdict: Verdict) {
  if (verdict === 'refused' || (verdict === 'multiline' && !f.multiline))
    return { code: 'invalid_characters' };
  if (verdict === 'blank' && f.min > 0) return { code: 'required' };
  return { expected: stored(value) };
}

function check(f: TextField, value: string, verdict: Verdict) {
  return async () => {
    const { res, readBack } = await f.write(value);
    assertNo5xx(res, f.name);
    const want = expectation(f, value, verdict);
    if (want.code) {
      const body = assertProblem(res, 400, 'validation_failed');
      assert.deepEqual(
        body.errors?.map((e) => [e.path, e.code]),
        [[f.path, want.code]],
      );
      return;
    }
    assert.ok(res.statusCode === 200 || res.statusCode === 201, res.body);
    // JSON only, never sniffed as HTML: markup in a field cannot run in a browser that opens it.
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    const name = f.path.slice(1);
    assert.equal(res.json<Record<string, string>>()[name], want.expected, 'as answered');
    if (readBack) assert.equal(await readBack(), want.expected, 'as stored');
  };
}

describe('text fields take hostile text verbatim (NFC) or refuse it with 400', () => {
  it('every corpus value fits every field, so only its content decides', () => {
    for (const [name, value] of CORPUS) assert.ok([...stored(value)].length <= 50, name);
  });
  for (const f of FIELDS) {
    describe(f.name, () => {
      for (const [name, value, verdict] of CORPUS) it(name, check(f, value, verdict));
      it('at the length limit: stored; one more character: too_long', async () => {
        // Astral characters count as one character each, as users see them.
        await check(f, '😀'.repeat(f.max), 'ok')();
        const { res } = await f.write('x'.repeat(f.max + 1));
        const body = assertProblem(res, 400, 'validation_failed');
        assert.deepEqual(
          body.errors?.map((e) => [e.path, e.code]),
          [[f.path, 'too_long']],
        );
      });
      it('a huge string (200,000 characters) is refused with 400 too_long', async () => {
        const { res } = await f.write('y'.repeat(200_000));
        const body = assertProblem(res, 400, 'validation_failed');
        assert.equal(body.errors?.[0]?.code, 'too_long');
      });
    });
  }

  it('leaves the database intact after the injection attempts', async () => {
    const { n } = await ctx.database.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    assert.ok(Number(n) >= 2);
    assert.equal((await call('GET', `/posts/${postId}`)).statusCode, 200);
  });
});

describe('hostile text in look-ups, searches and logins', () => {
  const values = [...CORPUS.map(([, v]) => v), 'x'.repeat(5000), '', ' ', '..', '.', '%', '%2F'];
  // A lone surrogate cannot be percent-encoded; its CESU-8 bytes and a bare % go in raw instead.
  const inUrls = [
    ...values.filter((v) => v.isWellFormed()).map(encodeURIComponent),
    '%ED%A0%80',
    '%',
    '%zz',
  ];

  it('user search answers 200 or 400, and LIKE wildcards match only themselves', async () => {
    for (const q of inUrls) {
      const res = await call('GET', `/users?q=${q}`);
      assertNo5xx(res, `q=${JSON.stringify(q)}`);
      if (res.statusCode !== 200) assertProblem(res, 400, 'validation_failed');
    }
    for (const q of ['%', '_', '\\', '%_']) {
      const res = await call('GET', `/users?q=${encodeURIComponent(q)}&limit=100`);
      const names = res.json<{ items: { username: string }[] }>().items.map((u) => u.username);
      assert.deepEqual(
        names.filter((u) => !u.startsWith(q)),
        [],
        `q=${q} matched only names starting with it`,
      );
    }
  });

  it('profiles, follows and relationships answer 404 or 400', async () => {
    // Malformed escapes and segments over 100 characters: see the todo below.
    const segments = values.filter((v) => v && v.isWellFormed()).map(encodeURIComponent);
    for (const path of segments.filter((p) => p.length <= 100)) {
      for (const res of [
        await call('GET', `/users/${path}`),
        await call('POST', `/users/${path}/follow`, alice),
        await call('GET', `/users/${path}/posts`),
        await call('GET', `/relationships?users=${path}`, alice),
      ]) {
        assertNo5xx(res, path);
        if (res.statusCode === 200) assert.deepEqual(res.json().items ?? [], []);
        else {
          assert.ok([400, 404].includes(res.statusCode), res.body);
          assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
        }
      }
    }
  });

  it('a malformed or over-long path segment is answered with problem+json', async () => {
    for (const segment of ['%zz', '%', '%ED%A0%80', '%E0%A4%A', 'x'.repeat(101)]) {
      const res = await call('GET', `/users/${segment}`);
      assert.ok([400, 404, 414].includes(res.statusCode), res.body);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.match(res.json<{ code: string }>().code, /^[a-z_]+$/);
    }
  });

  it('a numeric query parameter too large for a number is refused with 400', async () => {
    for (const limit of ['1e309', '-1e309', 'Infinity']) {
      for (const url of ['/feed', '/conversations', '/notifications']) {
        assertProblem(await call('GET', `${url}?limit=${limit}`, alice), 400, 'validation_failed');
      }
      assertProblem(await call('GET', `/users?limit=${limit}`), 400, 'validation_failed');
    }
  });

  it('logins answer 401 invalid_credentials or 400', async () => {
    for (const login of values) {
      const res = await call('POST', '/auth/login', undefined, { login, password: 'whatever1' });
      assertNo5xx(res, login);
      assert.ok([400, 401].includes(res.statusCode), res.body);
    }
  });

  it('passwords may hold any Unicode, NUL included, and are compared in full', async () => {
    const password = 'pässwörd\u0000🔑-one';
    const user = newUser({ password });
    await ok(call('POST', '/auth/register', undefined, user), 201);
    const session = await call('POST', '/auth/login', undefined, {
      login: user.username,
      password,
    });
    assert.equal(session.statusCode, 200, session.body);
    for (const wrong of ['pässwörd', 'pässwörd\u0000🔑-two', password.normalize('NFD')]) {
      const res = await call('POST', '/auth/login', undefined, {
        login: user.username,
        password: wrong,
      });
      assertProblem(res, 401, 'invalid_credentials');
    }
  });
});

/** Fullwidth forms (U+FF01-U+FF5E) of printable ASCII: NFKC maps them back. */
const fullwidth = (s: string) =>
  s.replace(/[!-~]/g, (c) => String.fromCodePoint(c.charCodeAt(0) + 0xfee0));

describe('usernames: look-alike spellings are one name', () => {
  let name: string;
  let owner: Account;
  before(async () => {
    name = uniqueUsername('conf');
    const user = newUser({ username: fullwidth(name.toUpperCase()), email: `${name}@example.com` });
    const res = await call('POST', '/auth/register', undefined, user);
    const body = await ok<{ id: string; username: string }>(res, 201);
    assert.equal(body.username, name, 'stored in its plain ASCII, lower-case form');
    assert.equal(res.headers.location, `${API}/users/${name}`);
    owner = {
      ...user,
      ...body,
      username: name,
      accessToken: '',
      refreshToken: '',
      auth: { authorization: '' },
    };
  });

  it('refuses the name again in any case or width, or with compatibility forms', async () => {
    const circled = name.replace(/[a-z]/g, (c) =>
      String.fromCodePoint(0x24d0 + c.charCodeAt(0) - 97),
    );
    for (const spelling of [name, name.toUpperCase(), fullwidth(name), circled]) {
      const user = newUser({ username: spelling, email: `${uniqueUsername()}@example.com` });
      assertProblem(await call('POST', '/auth/register', undefined, user), 409, 'username_taken');
    }
  });

  it('refuses letters outside ASCII that only look like ASCII, and invisible characters', async () => {
    for (const spelling of [
      name.replace('o', '\u043e'), // Cyrillic о
      name.replace('c', '\u0441'), // Cyrillic с
      name.replace('o', '\u03bf'), // Greek ο
      name.replace('n', '\u0578'), // Armenian ո
      `${name.slice(0, 4)}\u200b${name.slice(4)}`.slice(0, 30),
      `${name.slice(0, 4)}\u0301${name.slice(4)}`.slice(0, 30),
    ]) {
      const user = newUser({ username: spelling, email: `${uniqueUsername()}@example.com` });
      const body = assertProblem(
        await call('POST', '/auth/register', undefined, user),
        400,
        'validation_failed',
      );
      assert.deepEqual(
        body.errors?.map((e) => [e.path, e.code]),
        [['/username', 'invalid_format']],
      );
    }
  });

  it('logs in, is found and is addressed under any of its spellings', async () => {
    for (const spelling of [fullwidth(name), name.toUpperCase(), ` ${fullwidth(name)} `]) {
      const res = await call('POST', '/auth/login', undefined, {
        login: spelling,
        password: owner.password,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json<{ user: { id: string } }>().user.id, owner.id);
    }
    for (const spelling of [fullwidth(name), name.toUpperCase()]) {
      const profile = await call('GET', `/users/${encodeURIComponent(spelling)}`);
      assert.equal(profile.statusCode, 200, profile.body);
      assert.equal(profile.json<{ id: string }>().id, owner.id);
      const follow = await call('POST', `/users/${encodeURIComponent(spelling)}/follow`, bob);
      assert.equal(follow.statusCode, 200, follow.body);
      assert.equal(follow.json<{ user: { id: string } }>().user.id, owner.id);
    }
    const conv = await call('POST', '/conversations', bob, { username: fullwidth(name) });
    assert.ok([200, 201].includes(conv.statusCode), conv.body);
    assert.equal(conv.json<{ with: { id: string } }>().with.id, owner.id);
    const search = await call('GET', `/users?q=${encodeURIComponent(fullwidth(name))}`);
    assert.deepEqual(
      search.json<{ items: { id: string }[] }>().items.map((u) => u.id),
      [owner.id],
    );
  });

  it('names the user in relationships under any spelling', async () => {
    const res = await call(
      'GET',
      `/relationships?users=${encodeURIComponent(fullwidth(name))}`,
      bob,
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(
      res.json<{ items: { username: string }[] }>().items.map((r) => r.username),
      [name],
    );
  });
});

describe('request bodies', () => {
  const json = (method: string, url: string, payload: string | Buffer, type = 'application/json') =>
    call(method, url, alice, payload, { 'content-type': type });
  const BODY_ROUTES: [string, string][] = [
    ['POST', '/auth/register'],
    ['POST', '/auth/login'],
    ['PATCH', '/me'],
    ['POST', '/posts'],
    ['POST', '/conversations'],
    ['POST', '/notifications/read'],
  ];

  it('refuses a body over 1 MiB with 413 payload_too_large', async () => {
    for (const [method, url] of BODY_ROUTES) {
      const res = await json(method, url, JSON.stringify({ text: 'x'.repeat(1024 * 1024) }));
      assertProblem(res, 413, 'payload_too_large');
    }
  });

  it('refuses deeply nested JSON with 400 json_too_deep, quickly', async () => {
    const arrays = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const objects = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    for (const [method, url] of BODY_ROUTES) {
      for (const body of [
        arrays(10_000),
        objects(10_000),
        `{"text":${arrays(10_000)}}`,
        arrays(500_000), // 1 MB of brackets, under the size limit
      ]) {
        const started = performance.now();
        assertProblem(await json(method, url, body), 400, 'json_too_deep');
        assert.ok(performance.now() - started < 1000, 'refused within a second');
      }
    }
  });

  it(`takes nesting up to ${JSON_MAX_DEPTH} levels, and brackets inside strings`, async () => {
    const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const atLimit = `{"bio":"nested","extra":${nest(JSON_MAX_DEPTH - 1)}}`;
    assert.equal((await json('PATCH', '/me', atLimit)).statusCode, 200);
    const over = `{"bio":"nested","extra":${nest(JSON_MAX_DEPTH)}}`;
    assertProblem(await json('PATCH', '/me', over), 400, 'json_too_deep');
    const inString = JSON.stringify({ bio: `${'[{'.repeat(100)}"\\` });
    const res = await json('PATCH', '/me', inString);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<{ bio: string }>().bio, `${'[{'.repeat(100)}"\\`);
  });

  it('refuses other content types with 415 unsupported_media_type', async () => {
    for (const [type, body] of [
      ['application/xml', '<bio>x</bio>'],
      ['application/x-www-form-urlencoded', 'bio=x'],
      ['text/plain', '{"bio":"x"}'],
      ['application/vnd.api+json', '{"bio":"x"}'],
    ] as const) {
      assertProblem(await json('PATCH', '/me', body, type), 415, 'unsupported_media_type');
    }
    // PATCH /me takes multipart (avatar and header files); other JSON routes do not.
    const form = '--x\r\nContent-Disposition: form-data; name="text"\r\n\r\nx\r\n--x--';
    assertProblem(
      await json('POST', '/posts', form, 'multipart/form-data; boundary=x'),
      415,
      'unsupported_media_type',
    );
  });

  it('takes a bodiless POST with or without an empty text/plain body', async () => {
    const url = `/conversations/${conversationId}/read`;
    assert.equal((await call('POST', url, bob)).statusCode, 200);
    assert.equal((await json('POST', `/posts/${postId}/like`, '', 'text/plain')).statusCode, 200);
  });

  it('refuses bodies that are not UTF-8 with 400 invalid_json', async () => {
    const wrap = (bytes: number[]) =>
      Buffer.concat([Buffer.from('{"bio":"a'), Buffer.from(bytes), Buffer.from('"}')]);
    for (const bytes of [
      [0xff, 0xfe], // never valid
      [0xc0, 0xaf], // overlong "/"
      [0xed, 0xa0, 0x80], // an encoded surrogate (CESU-8)
      [0xe2, 0x82], // truncated sequence
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    ]) {
      assertProblem(await json('PATCH', '/me', wrap(bytes)), 400, 'invalid_json');
    }
    const latin1 = Buffer.from('{"bio":"café"}', 'latin1');
    assertProblem(await json('PATCH', '/me', latin1), 400, 'invalid_json');
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"bio":"bom"}')]);
    const res = await json('PATCH', '/me', bom);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<{ bio: string }>().bio, 'bom');
  });

  it('refuses prototype-polluting keys; nothing reaches Object.prototype', async () => {
    for (const body of [
      '{"__proto__":{"polluted":true},"bio":"x"}',
      '{"bio":"x","constructor":{"prototype":{"polluted":true}}}',
      '{"text":"x","visibility":"public","__proto__":{"visibility":"friends"}}',
      '[{"__proto__":{"polluted":true}}]',
    ]) {
      for (const [method, url] of [
        ['PATCH', '/me'],
        ['POST', '/posts'],
      ]) {
        assertProblem(await json(method!, url!, body), 400, 'invalid_json');
      }
    }
    for (const query of [
      '__proto__[polluted]=1',
      'constructor[prototype][polluted]=1',
      '__proto__=1&q=a',
      'q[__proto__]=1',
    ]) {
      assertNo5xx(await call('GET', `/users?${query}`), query);
    }
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    // The words themselves are just text.
    const post = await call('POST', '/posts', alice, { text: '__proto__ constructor prototype' });
    assert.equal(post.statusCode, 201, post.body);
  });
});
