import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { AppError } from '../errors.ts';

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;

export const PageQuery = {
  limit: Type.Integer({
    minimum: 1,
    maximum: MAX_LIMIT,
    default: DEFAULT_LIMIT,
    description: 'Items per page.',
  }),
  cursor: Type.Optional(
    Type.String({ maxLength: 1024, description: 'Opaque cursor from `next_cursor`.' }),
  ),
};

/** A page of items: `{ items, next_cursor }`; `next_cursor` is null on the last page. */
export function Page<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  });
}

/** Keyset position of a list ordered by a time-ordered id (UUIDv7). */
export const IdCursor = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** Keyset position of a list ordered by (timestamp, id). */
export const TimeCursor = Type.Object({
  t: Type.String({ format: 'date-time' }),
  id: Type.String({ format: 'uuid' }),
});

/** Cursors are opaque to clients: base64url JSON of the keyset position. */
export function encodeCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** Decodes a cursor made by encodeCursor and checks its shape; a bad one is a 400. */
export function decodeCursor<S extends TSchema>(
  schema: S,
  cursor: string | undefined,
): Static<S> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Value.Check(schema, value)) return value;
  } catch {
    // fall through to the error below
  }
  throw new AppError(400, 'invalid_cursor', 'The cursor is not valid.', {
    errors: [
      { path: '/cursor', code: 'invalid_cursor', message: 'is not a cursor this list produced' },
    ],
  });
}

/**
 * Builds the page body from `limit + 1` fetched rows, and sets the RFC 8288 `Link` header.
 * `positionOf` turns the last returned row into the keyset position of the next page.
 */
export function pageOf<R, T>(
  request: FastifyRequest,
  reply: FastifyReply,
  rows: R[],
  limit: number,
  present: (row: R) => T,
  positionOf: (row: R) => unknown,
): { items: T[]; next_cursor: string | null } {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page.at(-1);
  const next_cursor = more && last !== undefined ? encodeCursor(positionOf(last)) : null;
  if (next_cursor) {
    const url = new URL(request.url, 'http://placeholder');
    url.searchParams.set('cursor', next_cursor);
    url.searchParams.set('limit', String(limit));
    void reply.header('link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  return { items: page.map(present), next_cursor };
}
