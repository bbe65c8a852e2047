/**
 * Request arbitraries and response checks built from an OpenAPI 3.1 document, for
 * test/security/fuzz.test.ts: valid values from each schema, values with a troublesome piece spliced in,
 * hostile values, and the check that an answer matches the schema documented for its status.
 */
import assert from 'node:assert/strict';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import fc from 'fast-check';
import type { LightMyRequestResponse as Res } from 'fastify';

export type Schema = {
  type?: string | string[];
  format?: string;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  default?: unknown;
};
export type Param = {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema: Schema;
};
type Content = { content?: Record<string, { schema: Schema }> };
export interface Operation {
  method: string;
  path: string;
  parameters?: Param[];
  requestBody?: Content & { required?: boolean };
  responses: Record<string, Content>;
}

/** Values the arbitraries draw on; the test fills them from the data it seeds. */
export const pools = {
  ids: [] as string[],
  /** Ids by what they name (`posts` for /posts/{id}, `ids` for notification ids in bodies). */
  byKind: {} as Record<string, string[]>,
  usernames: [] as string[],
  emails: [] as string[],
  /** Known-good values of fields by name: passwords, refresh tokens, mailed tokens. */
  byName: {} as Record<string, string[]>,
  /** Every `next_cursor` the fuzzed lists handed out (valid for their list, not for others). */
  cursors: [] as string[],
};

// ---- requests --------------------------------------------------------------------------------

const HOSTILE = [
  '',
  ' ',
  "' OR 1=1 --",
  "'; DROP TABLE users; --",
  '<script>alert(1)</script>',
  '{{7*7}}${7*7}',
  '../../etc/passwd',
  '%00',
  '%s%n',
  'a\u0000b',
  '\u0000',
  '\u202eevil',
  'a\u200bb',
  'a\ud800b',
  '\ufeff',
  '😀'.repeat(300),
  'x'.repeat(10_001),
  'null',
  'undefined',
  'NaN',
  '-1',
  '0',
  '1e309',
  '9'.repeat(40),
  '__proto__',
  'constructor',
  'true',
  '[]',
  '{}',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '2026-02-30',
  '0000-00-00T00:00:00Z',
  '+275760-09-13T00:00:00.001Z',
];

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE) },
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ maxLength: 40 }),
);

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.jsonValue({ maxDepth: 3 }),
);

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const isoDate = fc
  .date({ min: new Date('0001-01-01'), max: new Date('9999-12-31'), noInvalidDate: true })
  .map((d) => d.toISOString());

/** Cursors: shaped like ours (some with wrong or extreme fields), random JSON, or junk. */
const cursor: fc.Arbitrary<string> = fc.oneof(
  fc.record({ id: fc.oneof(fc.uuid(), hostileString) }).map(b64),
  fc
    .record({ t: fc.oneof(isoDate, hostileString), id: fc.oneof(fc.uuid(), hostileString) })
    .map(b64),
  fc.record({ u: hostileString }).map(b64),
  fc.record({ m: fc.oneof(fc.integer(), fc.double()), u: hostileString }).map(b64),
  fc.jsonValue({ maxDepth: 2 }).map(b64),
  hostileString,
);

/** Values valid by `schema` (as far as a schema can say), biased towards the seeded rows. */
function valid(schema: Schema, name = ''): fc.Arbitrary<unknown> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((s) => valid(s, name)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if ('const' in schema) return fc.constant(schema.const);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      return validString(schema, name);
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ noNaN: true, min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9 });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(valid(schema.items ?? {}, name), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 5, 5),
      });
    case 'object': {
      const model = Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([key, s]) => [key, valid(s, key)]),
      );
      return fc.record(model, { requiredKeys: schema.required ?? [] });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function validString(schema: Schema, name: string): fc.Arbitrary<string> {
  const known = pools.byName[name];
  if (known?.length) return fc.oneof(fc.constantFrom(...known), validString(schema, `~${name}`));
  const { minLength = 0, maxLength = 200 } = schema;
  if (schema.format === 'uuid') {
    const own = pools.byKind[name.split(':')[0]!] ?? [];
    return fc.oneof(
      fc.constantFrom(...own, ...pools.ids),
      fc.constantFrom(...pools.ids),
      fc.uuid(),
    );
  }
  if (schema.format === 'email')
    return fc.oneof(fc.constantFrom(...pools.emails), fc.emailAddress());
  if (schema.format === 'date' && name === 'dob') {
    const adult = fc.date({
      min: new Date('1920-01-01'),
      max: new Date('2008-01-01'),
      noInvalidDate: true,
    });
    return fc
      .oneof(adult, fc.date({ noInvalidDate: true }))
      .map((d) => d.toISOString().slice(0, 10));
  }
  if (schema.format === 'date') return isoDate.map((d) => d.slice(0, 10));
  if (name === 'username' || name === 'login') {
    return fc.oneof(fc.constantFrom(...pools.usernames), fc.stringMatching(/^[a-z0-9_]{3,30}$/));
  }
  if (name === 'users')
    return fc.array(fc.constantFrom(...pools.usernames)).map((u) => u.join(','));
  if (name === 'cursor') return cursor;
  if (schema.pattern) {
    return fc
      .stringMatching(new RegExp(schema.pattern, 'u'))
      .filter((s) => s.length >= minLength && s.length <= maxLength);
  }
  return fc.string({ unit: 'grapheme', minLength, maxLength: Math.min(maxLength, 200) });
}

/** A valid value, one with a field broken, or something else entirely. */
/** Characters and fragments that break naive code: SQL, LIKE, paths, encodings, Unicode. */
const PIECES = [
  '\u0000',
  '\u0001',
  '\ud800',
  '\u202e',
  '\u200b',
  "'",
  '"',
  '%',
  '_',
  '\\',
  '/',
  '..',
  '😀',
  'Ａ',
  'e\u0301',
  ' ',
];

/** A valid string with a troublesome piece spliced in, so it still gets past length checks. */
const spliced = (value: fc.Arbitrary<unknown>) =>
  fc.tuple(value, fc.constantFrom(...PIECES), fc.nat()).map(([v, piece, at]) => {
    if (typeof v !== 'string') return piece;
    const i = v.length === 0 ? 0 : at % v.length;
    return v.slice(0, i) + piece + v.slice(i);
  });

/** A body: valid, with one field missing, broken or added, of another type, raw text or none. */
function body(schema: Schema): fc.Arbitrary<{ json?: unknown; raw?: string }> {
  const props = Object.keys(schema.properties ?? {});
  // One field dropped, or replaced by a spliced or hostile value (or an unknown field added).
  const change = fc
    .constantFrom(...props, 'extra')
    .chain((key) =>
      fc.tuple(
        fc.constant(key),
        fc.oneof(spliced(valid(schema.properties?.[key] ?? {}, key)), hostileValue),
        fc.boolean(),
      ),
    );
  const mutated = fc.tuple(valid(schema), change).map(([value, [key, junk, drop]]) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
    const copy = { ...(value as Record<string, unknown>) };
    if (drop) delete copy[key];
    else copy[key] = junk;
    return copy;
  });
  return fc.oneof(
    { weight: 3, arbitrary: valid(schema).map((json) => ({ json })) },
    { weight: 3, arbitrary: mutated.map((json) => ({ json })) },
    { weight: 1, arbitrary: hostileValue.map((json) => ({ json })) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.constantFrom('{', '{"a":', '', '[', '"', '{"__proto__":{"x":1}}', '\u0000'),
          fc.string(),
        )
        .map((raw) => ({ raw })),
    },
    { weight: 1, arbitrary: fc.constant({}) },
  );
}

const WHO = ['owner', 'friend', 'anonymous', 'bad token'] as const;

export interface Request {
  who: (typeof WHO)[number];
  path: Record<string, string>;
  query: [string, string][];
  headers: Record<string, string>;
  body: { json?: unknown; raw?: string };
}

/** How one part of a request is made: valid by the schema, broken on purpose, or either. */
type Mode = 'valid' | 'broken' | 'any';

function part(schema: Schema, name: string, mode: Mode): fc.Arbitrary<unknown> {
  if (mode === 'valid') {
    if (name !== 'cursor') return valid(schema, name);
    // Mostly the first page; sometimes a cursor some list handed out (maybe another list's).
    const handedOut = fc.nat().map((i) => pools.cursors[i % Math.max(1, pools.cursors.length)]);
    return fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, handedOut);
  }
  const broken = fc.oneof(spliced(valid(schema, name)), hostileValue);
  return mode === 'broken' ? broken : fc.oneof(valid(schema, name), broken);
}

const asText = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined'));

/**
 * A path segment the router takes: well-formed, at most 100 characters once encoded, and not a
 * dot segment (`.` and `..` are resolved away by every URL parser: `/tags/./posts` is
 * `/tags/posts`, another route).
 */
const routable = (s: string) =>
  s !== '' && s !== '.' && s !== '..' && s.isWellFormed() && encodeURIComponent(s).length <= 100;

/** `posts:id` for the id of /posts/{id}: valid ids are then mostly ids of posts. */
const idKind = (op: Operation, p: Param) =>
  p.name === 'id' ? `${/\/([a-z-]+)\/\{id\}/.exec(op.path)?.[1]}:id` : p.name;

/** A request whose parts are each made in the mode `modeOf` gives them. */
function request(op: Operation, modeOf: (part: string) => Mode): fc.Arbitrary<Request> {
  const params = op.parameters ?? [];
  const path = fc.record(
    Object.fromEntries(
      params
        .filter((p) => p.in === 'path')
        .map((p) => [
          p.name,
          part(p.schema, idKind(op, p), modeOf(p.name)).map(asText).filter(routable),
        ]),
    ),
  );
  const queryParam = (p: Param) => {
    const mode = modeOf(p.name);
    const value = part(p.schema, p.name, mode);
    // Broken parameters are always sent; others sometimes left out, unless required.
    const sent =
      mode === 'broken' ? value : fc.option(value, { nil: undefined, freq: p.required ? 10 : 2 });
    return sent.map((v): [string, string] | undefined =>
      v === undefined ? undefined : [p.name, asText(v)],
    );
  };
  const junk = modeOf('query junk') === 'valid' ? 0 : 2;
  const query = fc
    .tuple(
      fc.tuple(...params.filter((p) => p.in === 'query').map(queryParam)),
      fc.array(
        fc.tuple(fc.constantFrom('limit', 'cursor', 'q', '__proto__', 'x[y]'), hostileString),
        {
          maxLength: junk,
        },
      ),
    )
    .map(([known, extra]) => [...known.filter((q) => q !== undefined), ...extra]);
  const header = params.find((p) => p.in === 'header');
  const keys =
    modeOf(header?.name ?? '') === 'valid'
      ? fc.uuid()
      : fc.string({ unit: fc.constantFrom(...'abcXYZ09-_.:~!\t '), maxLength: 300 });
  const headers = header
    ? fc
        .option(keys, { nil: undefined })
        .map((v): Record<string, string> => (v === undefined ? {} : { [header.name]: v }))
    : fc.constant({});
  const schema = op.requestBody?.content?.['application/json']?.schema;
  const bodyMode = modeOf('body');
  const who =
    modeOf('who') === 'valid'
      ? fc.constantFrom<Request['who']>('owner', 'owner', 'friend', 'anonymous')
      : fc.constantFrom(...WHO);
  return fc.record({
    who,
    path,
    query,
    headers,
    body: !schema
      ? fc.constant({})
      : bodyMode === 'valid'
        ? valid(schema).map((json) => ({ json }))
        : body(schema),
  });
}

/** The parts of an operation's requests that can be broken one at a time. */
function partsOf(op: Operation): string[] {
  const parts = (op.parameters ?? []).map((p) => p.name);
  return op.requestBody ? [...parts, 'body'] : parts;
}

/**
 * Valid requests (they reach the handlers and the success schemas), requests with exactly one
 * part broken (so that part gets past the others' checks), and requests where anything goes.
 */
export function requests(op: Operation): fc.Arbitrary<Request> {
  const parts = partsOf(op);
  const oneBroken = parts.length
    ? fc
        .constantFrom(...parts)
        .chain((target) => request(op, (p) => (p === target ? 'broken' : 'valid')))
    : request(op, () => 'valid');
  return fc.oneof(
    { weight: 2, arbitrary: request(op, () => 'valid') },
    { weight: 3, arbitrary: oneBroken },
    { weight: 1, arbitrary: request(op, () => 'any') },
  );
}

/**
 * Run before the random ones: one valid request of the owner, then the same with each piece of
 * PIECES spliced into each string parameter and each top-level string field of the body.
 */
export function examples(op: Operation, seed: number): [Request][] {
  const [base] = fc.sample(
    request(op, () => 'valid'),
    { seed, numRuns: 1 },
  );
  const start: Request = { ...base!, who: 'owner' };
  const out: [Request][] = [[start]];
  const splice = (v: string, piece: string) => v.slice(0, 1) + piece + v.slice(1);
  for (const p of op.parameters ?? []) {
    if (p.in === 'header') continue;
    for (const piece of PIECES) {
      const r = structuredClone(start);
      if (p.in === 'path') {
        const value = splice(r.path[p.name]!, piece);
        if (!routable(value)) continue;
        r.path[p.name] = value;
      } else {
        const value = splice(r.query.find(([k]) => k === p.name)?.[1] ?? 'a', piece);
        r.query = [...r.query.filter(([k]) => k !== p.name), [p.name, value]];
      }
      out.push([r]);
    }
  }
  const json = start.body.json;
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const schema = op.requestBody?.content?.['application/json']?.schema;
    for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
      if (prop.type !== 'string' && !prop.anyOf) continue;
      for (const piece of PIECES) {
        const value = (json as Record<string, unknown>)[key];
        const r = structuredClone(start);
        (r.body.json as Record<string, unknown>)[key] = splice(
          typeof value === 'string' ? value : 'a',
          piece,
        );
        out.push([r]);
      }
    }
  }
  return out;
}

// ---- answers -------------------------------------------------------------------------

const ajv = new Ajv2020({ strict: false, allErrors: true });
(formats as unknown as (a: Ajv2020) => void)(ajv);
const validators = new Map<Schema, ValidateFunction>();
function validatorFor(schema: Schema): ValidateFunction {
  let v = validators.get(schema);
  if (!v) validators.set(schema, (v = ajv.compile(schema)));
  return v;
}

/** Statuses seen per operation: a fuzzer that never gets past validation tests little. */
export const seen = new Map<string, Map<number, number>>();

export function check(op: Operation, r: Request, res: Res): void {
  const status = res.statusCode;
  const tally = seen.get(`${op.method} ${op.path}`) ?? new Map<number, number>();
  seen.set(`${op.method} ${op.path}`, tally.set(status, (tally.get(status) ?? 0) + 1));
  assert.ok(status < 500, `${status} ${res.body}`);
  const documented = op.responses[String(status)];
  if (status < 400) {
    assert.ok(documented, `status ${status} is not documented`);
    const schema = documented.content?.['application/json']?.schema;
    if (!schema) {
      assert.equal(res.body, '', `status ${status} documents no body`);
      return;
    }
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const next = res.json<{ next_cursor?: unknown }>().next_cursor;
    if (typeof next === 'string' && pools.cursors.length < 100) pools.cursors.push(next);
    const validate = validatorFor(schema);
    assert.ok(
      validate(res.json()),
      `${status} body breaks its schema: ${ajv.errorsText(validate.errors)}\n${res.body}`,
    );
    return;
  }
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/, res.body);
  const problem = Object.values((documented ?? op.responses.default)?.content ?? {})[0]?.schema;
  assert.ok(problem, 'an error body is documented');
  const validate = validatorFor(problem);
  const body = res.json<{ status: number; code: string }>();
  assert.ok(validate(body), `problem breaks its schema: ${ajv.errorsText(validate.errors)}`);
  assert.equal(body.status, status);
  assert.match(body.code, /^[a-z][a-z0-9_]*$/);
}
