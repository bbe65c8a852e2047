import type { Context } from '../../app/context.ts';
import {
  PICTURE_KINDS,
  type PictureChanges,
  type PictureKind,
} from '../media/profile-pictures.service.ts';
import type { ProfilePatch } from './users.service.ts';

/**
 * Changes a profile with its pictures: `avatar` / `header` file parts (new pictures), empty
 * values (back to the defaults), the text fields. Everything that can refuse the request (the
 * pictures' processing, the text's rules) runs before anything is written.
 */
export async function changeProfile(
  ctx: Pick<Context, 'users' | 'profilePictures'>,
  userId: string,
  profile: ProfilePatch,
  pictures: Partial<Record<PictureKind, Buffer | null>>,
) {
  const changes: PictureChanges = {};
  for (const kind of PICTURE_KINDS) {
    const file = pictures[kind];
    if (file === undefined) continue;
    changes[kind] = file === null ? null : await ctx.profilePictures.prepare(kind, file);
  }
  const user = await ctx.users.updateProfile(userId, profile);
  return Object.keys(changes).length > 0 ? ctx.profilePictures.apply(userId, changes) : user;
}
