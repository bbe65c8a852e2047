import type { FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import { ForbiddenError, NotFoundError } from '../../errors.ts';
import type { ProfileRow } from '../accounts/users.repository.ts';
import { UsersRepository } from '../accounts/users.repository.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Mastodon's answer for anything missing, invisible or malformed. */
export const recordNotFound = () => new NotFoundError('not_found', 'Record not found');

/** Whether `id` can be one of kith's ids (a malformed id is a 404, never a database error). */
export const isId = (id: unknown): id is string => typeof id === 'string' && UUID.test(id);

export const viewerOf = (request: FastifyRequest) => request.principal?.userId ?? null;

/** The account with this id as the viewer sees it; hidden (a block either way) = not found. */
export async function visibleAccount(
  ctx: Context,
  id: string,
  viewerId: string | null,
): Promise<ProfileRow> {
  if (!isId(id)) throw recordNotFound();
  const user = await new UsersRepository(ctx.database.db).findById(id.toLowerCase());
  if (!user) throw recordNotFound();
  return ctx.users.getProfile(user.username, viewerId).catch((err: unknown) => {
    if (err instanceof NotFoundError) throw recordNotFound();
    throw err;
  });
}

/** A query value that may come as `x`, `x[]` or repeated: always a list of strings. */
export function listParam(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter((v): v is string => typeof v === 'string');
}

/** A body field that should be text: the fallback when absent, '' when of another type. */
export const textParam = (value: unknown, fallback = ''): string =>
  typeof value === 'string' ? value : value === undefined || value === null ? fallback : '';

/** A body or query flag as Rails reads it: `true`, `"true"`, `"1"`, `"on"`. */
export const truthy = (value: unknown) =>
  value === true || value === 'true' || value === '1' || value === 'on';

/** Mastodon's wording when the role is not enough (kith's code rides along). */
export async function asStaff<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ForbiddenError && /_only$/.test(err.code))
      throw new ForbiddenError(err.code, 'This action is not allowed');
    throw err;
  }
}
