import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** The SQL behind a data export: every row about one user, as plain JSON-ready objects. */
export class ArchiveRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async profile(userId: string) {
    const u = await this.#db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', userId)
      .executeTakeFirstOrThrow();
    return {
      id: u.id,
      username: u.username,
      email: u.email,
      email_verified: u.email_verified_at !== null,
      display_name: u.display_name,
      bio: u.bio,
      dob: u.dob,
      dm_policy: u.dm_policy,
      created_at: u.created_at.toISOString(),
      post_count: u.post_count,
      follower_count: u.follower_count,
      following_count: u.following_count,
      friend_count: u.friend_count,
    };
  }

  /** The user's posts, newest first, each with its earlier versions (oldest first). */
  async posts(userId: string) {
    const posts = await this.#db
      .selectFrom('posts')
      .select(['id', 'text', 'visibility', 'like_count', 'comment_count', 'created_at'])
      .select('edited_at')
      .where('author_id', '=', userId)
      .orderBy('id', 'desc')
      .execute();
    const versions = await this.#db
      .selectFrom('post_versions as v')
      .innerJoin('posts as p', 'p.id', 'v.post_id')
      .select(['v.id', 'v.post_id', 'v.text', 'v.visibility', 'v.written_at', 'v.replaced_at'])
      .where('p.author_id', '=', userId)
      .orderBy('v.id')
      .execute();
    return posts.map((p) => ({
      id: p.id,
      text: p.text,
      visibility: p.visibility,
      like_count: p.like_count,
      comment_count: p.comment_count,
      created_at: p.created_at.toISOString(),
      edited_at: iso(p.edited_at),
      history: versions
        .filter((v) => v.post_id === p.id)
        .map((v) => ({
          id: v.id,
          text: v.text,
          visibility: v.visibility,
          written_at: v.written_at.toISOString(),
          replaced_at: v.replaced_at.toISOString(),
        })),
    }));
  }

  async comments(userId: string) {
    const rows = await this.#db
      .selectFrom('comments')
      .select(['id', 'post_id', 'text', 'created_at', 'edited_at'])
      .where('author_id', '=', userId)
      .orderBy('id')
      .execute();
    return rows.map((c) => ({
      ...c,
      created_at: c.created_at.toISOString(),
      edited_at: iso(c.edited_at),
    }));
  }

  async likes(userId: string) {
    const rows = await this.#db
      .selectFrom('likes')
      .select(['post_id', 'created_at'])
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map((l) => ({ post_id: l.post_id, created_at: l.created_at.toISOString() }));
  }

  /** Users on one side of an edge table, with when the edge began, newest first. */
  async people(
    table: 'follows' | 'friendships' | 'blocks' | 'mutes',
    mine: string,
    theirs: string,
    userId: string,
  ) {
    const { rows } = await sql<{ username: string; since: Date }>`
      select u.username, e.created_at as since from ${sql.table(table)} e
      join users u on u.id = e.${sql.ref(theirs)}
      where e.${sql.ref(mine)} = ${userId}
      order by e.created_at desc, u.id desc`.execute(this.#db);
    return rows.map((r) => ({ username: r.username, since: new Date(r.since).toISOString() }));
  }

  async friendRequests(userId: string) {
    const { rows } = await sql<{
      id: string;
      direction: 'incoming' | 'outgoing';
      username: string;
      status: string;
      created_at: Date;
      responded_at: Date | null;
    }>`
      select r.id, case when r.sender_id = ${userId} then 'outgoing' else 'incoming' end as direction,
        u.username, r.status, r.created_at, r.responded_at
      from friend_requests r
      join users u on u.id = case when r.sender_id = ${userId} then r.recipient_id else r.sender_id end
      where r.sender_id = ${userId} or r.recipient_id = ${userId}
      order by r.id desc`.execute(this.#db);
    return rows.map((r) => ({
      ...r,
      created_at: new Date(r.created_at).toISOString(),
      responded_at: r.responded_at && new Date(r.responded_at).toISOString(),
    }));
  }

  /** Conversations, each with every message in it (both sides': it is the user's conversation). */
  async conversations(userId: string) {
    const { rows: convs } = await sql<{ id: string; with: string; created_at: Date }>`
      select c.id, u.username as with, c.created_at from conversations c
      join users u on u.id = case when c.user_a = ${userId} then c.user_b else c.user_a end
      where c.user_a = ${userId} or c.user_b = ${userId}
      order by c.id`.execute(this.#db);
    const { rows: messages } = await sql<{
      id: string;
      conversation_id: string;
      from: string;
      text: string;
      created_at: Date;
    }>`
      select m.id, m.conversation_id, u.username as from, m.text, m.created_at
      from messages m join users u on u.id = m.sender_id
      where m.conversation_id in (
        select id from conversations where user_a = ${userId} or user_b = ${userId})
      order by m.id`.execute(this.#db);
    return convs.map((c) => ({
      id: c.id,
      with: c.with,
      created_at: new Date(c.created_at).toISOString(),
      messages: messages
        .filter((m) => m.conversation_id === c.id)
        .map((m) => ({
          id: m.id,
          from: m.from,
          text: m.text,
          created_at: new Date(m.created_at).toISOString(),
        })),
    }));
  }

  async notifications(userId: string) {
    const { rows } = await sql<{
      id: string;
      type: string;
      actors: string[];
      post_id: string | null;
      comment_id: string | null;
      created_at: Date;
      updated_at: Date;
      read_at: Date | null;
    }>`
      select n.id, n.type, n.post_id, n.comment_id, n.created_at, n.updated_at, n.read_at,
        coalesce((select json_agg(u.username order by a.created_at desc)
          from notification_actors a join users u on u.id = a.actor_id
          where a.notification_id = n.id), '[]'::json) as actors
      from notifications n where n.user_id = ${userId}
      order by n.updated_at desc, n.id desc`.execute(this.#db);
    return rows.map((n) => ({
      id: n.id,
      type: n.type,
      actors: n.actors,
      post_id: n.post_id,
      comment_id: n.comment_id,
      created_at: new Date(n.created_at).toISOString(),
      updated_at: new Date(n.updated_at).toISOString(),
      read: n.read_at !== null,
    }));
  }

  /**
   * The user's media (pictures of posts and uploads not yet attached; not those being removed),
   * oldest first, with the key of the original file to put in the archive.
   */
  async media(userId: string) {
    const rows = await this.#db
      .selectFrom('media')
      .select([
        'id',
        'post_id',
        'kind',
        'original_key',
        'content_type',
        'width',
        'height',
        'description',
        'url',
        'created_at',
      ])
      .where('owner_id', '=', userId)
      .where('deleted_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(({ original_key, created_at, ...m }) => ({
      ...m,
      created_at: created_at.toISOString(),
      /** Where the file is inside the archive. */
      file: `media/${m.id}${original_key.slice(original_key.lastIndexOf('.'))}`,
      key: original_key,
    }));
  }
}
