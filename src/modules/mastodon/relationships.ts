import type { Context } from '../../app/context.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import { presentRelationship } from './accounts.presenter.ts';
import { isId } from './lookup.ts';

/**
 * The viewer's relationships with these accounts, in the order asked; unknown or malformed ids
 * are left out (as Mastodon does).
 */
export async function relationshipsOf(ctx: Context, viewerId: string, ids: readonly string[]) {
  const wanted = [...new Set(ids.filter(isId).map((id) => id.toLowerCase()))];
  const users = await new UsersRepository(ctx.database.db).findManyByIds(wanted);
  const nameOf = new Map(users.map((u) => [u.id, u.username]));
  const rels = await ctx.social.relationships(viewerId, [...nameOf.values()]);
  const byName = new Map(rels.map((r) => [r.username, r]));
  return wanted.flatMap((id) => {
    const rel = byName.get(nameOf.get(id) ?? '');
    return rel ? [presentRelationship(id, rel)] : [];
  });
}

export async function relationshipOf(ctx: Context, viewerId: string, id: string) {
  return (await relationshipsOf(ctx, viewerId, [id]))[0]!;
}
