/**
 * JSON bodies must match their schema's types exactly (issue 17, part 4). For every operation of
 * the OpenAPI document that takes a JSON body, and every field of that body: a string field sent
 * as a number, a boolean or null; a boolean sent as "true"; a number sent as "1"; a list sent as
 * one value. Each must be refused with 400 `validation_failed` naming the field, and write
 * nothing. Query strings are text, so they are still read as their schema says.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { App } from '../../src/http/types.ts';
import { createAccount, newUser, type Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import type { Operation, Schema } from '../support/openapi-fuzz.ts';
import { assertProblem } from '../support/problems.ts';

const { app, ctx }: { app: App; ctx: Awaited<ReturnType<typeof createTestApp>>['ctx'] } =
  await createTestApp({ env: { RATE_LIMIT_MESSAGES: '1000000', RATE_LIMIT_MAIL: '1000000' } });
let owner: Account;
let postId: string;

before(async () => {
  owner = await createAccount(app);
  const post = await app.inject({
    method: 'POST',
    url: '/api/v1/posts',
    headers: owner.auth,
    payload: { text: 'hello' },
  });
  assert.equal(post.statusCode, 201, post.body);
  postId = post.json<{ id: string }>().id;
});

/** Every row of every table, as text: equal snapshots mean nothing was written. */
async function snapshot(): Promise<string> {
  const { rows: tables } = await sql<{ name: string }>`
    select tablename as name from pg_tables where schemaname = 'public' order by tablename
  `.execute(ctx.database.db);
  const parts: string[] = [];
  for (const { name } of tables) {
    const { rows } = await sql<{ h: string | null }>`
      select md5(string_agg(t::text, ',' order by t::text)) as h from ${sql.table(name)} t
    `.execute(ctx.database.db);
    parts.push(`${name}:${rows[0]?.h ?? ''}`);
  }
  return parts.join('\n');
}

const typeOf = (s: Schema): string[] => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []);
const allows = (s: Schema, type: string): boolean =>
  typeOf(s).includes(type) || (s.anyOf ?? []).some((a) => allows(a, type));

/** Samples are built before any data exists: an id that is valid, if unknown. */
const SOME_ID = '0190a8e4-1c3b-7000-8000-000000000001';

/** A value valid by `schema` as far as types go (the handler is never reached anyway). */
function sample(s: Schema): unknown {
  if (s.enum) return s.enum[0];
  if ('const' in s) return s.const;
  if (s.anyOf) return sample(s.anyOf[0]!);
  switch (typeOf(s)[0]) {
    case 'string':
      if (s.format === 'uuid') return SOME_ID;
      if (s.format === 'email') return 'someone@example.com';
      if (s.format === 'date') return '1990-01-01';
      return 'x'.repeat(Math.max(s.minLength ?? 1, 8));
    case 'integer':
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return true;
    case 'array':
      return Array.from({ length: s.minItems ?? 1 }, () => sample(s.items ?? {}));
    case 'object':
      return Object.fromEntries(
        Object.entries(s.properties ?? {}).map(([key, p]) => [key, sample(p)]),
      );
    default:
      return 'x';
  }
}

interface Case {
  op: Operation;
  /** JSON pointer of the field. */
  path: string;
  sent: unknown;
  body: unknown;
}

/** Values of the wrong type for a field: each would have been coerced before. */
function wrongValues(s: Schema): unknown[] {
  const out: unknown[] = [];
  if (allows(s, 'string')) out.push(...[1, Infinity, true, null].filter((v) => !accepts(s, v)));
  if (allows(s, 'boolean')) out.push('true', 1, null);
  if (allows(s, 'integer') || allows(s, 'number')) out.push('1', true);
  if (allows(s, 'array')) out.push(sample(s.items ?? {}));
  return out.filter((v) => !accepts(s, v));
}

/** Whether a schema takes this JSON type as it is (a nullable field takes null). */
function accepts(s: Schema, v: unknown): boolean {
  const t =
    v === null
      ? 'null'
      : Array.isArray(v)
        ? 'array'
        : typeof v === 'number'
          ? Number.isInteger(v)
            ? 'integer'
            : 'number'
          : typeof v;
  return allows(s, t) || (t === 'integer' && allows(s, 'number'));
}

/** Body with `value` at `path` (a list of keys), every other field valid. */
function withField(s: Schema, keys: string[], value: unknown): unknown {
  const base = sample(s) as Record<string, unknown>;
  if (keys.length === 0) return value;
  const [key, ...rest] = keys;
  return { ...base, [key!]: withField(s.properties?.[key!] ?? {}, rest, value) };
}

function fieldCases(op: Operation, root: Schema, s: Schema, keys: string[]): Case[] {
  const cases: Case[] = [];
  for (const [key, p] of Object.entries(s.properties ?? {})) {
    const at = [...keys, key];
    for (const sent of wrongValues(p)) {
      cases.push({ op, path: `/${at.join('/')}`, sent, body: withField(root, at, sent) });
    }
    if (allows(p, 'object')) cases.push(...fieldCases(op, root, p, at));
  }
  return cases;
}

const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{
  paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>;
}>();
const withBody: Operation[] = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods)
    .map(([method, op]) => ({ ...op, method: method.toUpperCase(), path }))
    .filter((op) => op.requestBody?.content?.['application/json']),
);
const cases = withBody.flatMap((op) => {
  const schema = op.requestBody!.content!['application/json']!.schema;
  return fieldCases(op, schema, schema, []);
});

function url(op: Operation): string {
  return op.path.replace(/\{(\w+)\}/g, (_, name: string) =>
    name === 'username' ? owner.username : postId,
  );
}

describe('JSON bodies are not coerced to their schema types', () => {
  it('covers every route with a JSON body, and the cases of the issue', () => {
    const routes = app.routeTable.filter((r) => r.body).map((r) => `${r.method} ${r.url}`);
    const covered = new Set(
      cases.map((c) => `${c.op.method} ${c.op.path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    assert.deepEqual(
      routes.filter((r) => !covered.has(r)),
      [],
    );
    assert.ok(cases.length >= 60, `${cases.length} cases`);
    const has = (name: string, path: string, sent: unknown) =>
      assert.ok(
        cases.some(
          (c) =>
            `${c.op.method} ${c.op.path}` === name && c.path === path && Object.is(c.sent, sent),
        ),
        `${name} ${path} ${String(sent)}`,
      );
    has('POST /api/v1/posts', '/text', true);
    has('PATCH /api/v1/me', '/display_name', Infinity);
    has('POST /api/v1/auth/register', '/password', Infinity);
    has('POST /api/v1/notifications/read', '/all', 'true');
  });

  it('refuses every wrong type with 400 validation_failed naming the field, writing nothing', async () => {
    const before = await snapshot();
    const failures: string[] = [];
    for (const c of cases) {
      const res = await app.inject({
        method: c.op.method as 'POST',
        url: url(c.op),
        headers: { ...owner.auth, 'content-type': 'application/json' },
        // JSON.stringify writes Infinity as null: 1e999 is sent as written.
        payload: JSON.stringify(c.body, (_k, v: unknown) =>
          v === Infinity ? '__INF__' : v,
        ).replace('"__INF__"', '1e999'),
      });
      const name = `${c.op.method} ${c.op.path} ${c.path}=${JSON.stringify(c.sent) ?? String(c.sent)}`;
      const body = res.json<{ code?: string; errors?: { path: string; in?: string }[] }>();
      if (
        res.statusCode !== 400 ||
        body.code !== 'validation_failed' ||
        !body.errors?.some((e) => e.path === c.path && e.in === 'body')
      ) {
        failures.push(`${name} -> ${res.statusCode} ${res.body.slice(0, 200)}`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${cases.length} accepted`);
    assert.equal(await snapshot(), before, 'a refused request wrote something');
  });

  it('names the examples of the issue', async () => {
    const register = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(newUser()).replace(/"password":"[^"]*"/, '"password":1e999'),
    });
    const problem = assertProblem(register, 400, 'validation_failed');
    assert.deepEqual(
      problem.errors?.map((e) => [e.path, e.in, e.code]),
      [['/password', 'body', 'invalid_type']],
    );
    const ids = await app.inject({
      method: 'POST',
      url: '/api/v1/notifications/read',
      headers: owner.auth,
      payload: { ids: SOME_ID },
    });
    assert.equal(assertProblem(ids, 400, 'validation_failed').errors?.[0]?.path, '/ids');
  });

  it('still reads query strings as their schema says', async () => {
    const res = await app.inject({
      method: 'GET',
      url: `/api/v1/users/${owner.username}/posts?limit=1`,
      headers: owner.auth,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<{ items: unknown[] }>().items.length, 1);
  });
});
