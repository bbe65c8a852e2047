import type { FastifyReply, FastifyRequest } from 'fastify';
import { decodeCursor, encodeCursor, TimeCursor } from '../../http/pagination.ts';

/** Mastodon's page parameters: `max_id`, `since_id` and `min_id` are exclusive bounds. */
export interface PageParams {
  maxId: string | undefined;
  sinceId: string | undefined;
  minId: string | undefined;
  limit: number;
}

/** Default and largest `limit` per kind of list (docs methods/timelines.md and others). */
export const LIMITS = {
  statuses: { fallback: 20, max: 40 },
  accounts: { fallback: 40, max: 80 },
  notifications: { fallback: 40, max: 80 },
  conversations: { fallback: 20, max: 40 },
  reports: { fallback: 100, max: 200 },
} as const;

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const one = (value: unknown): string | undefined => {
  const first: unknown = Array.isArray(value) ? (value as unknown[])[0] : value;
  return typeof first === 'string' && first !== '' ? first : undefined;
};

/** A bound that is not an id of ours matches nothing rather than failing: an empty page. */
const bound = (value: unknown): string | undefined => {
  const id = one(value)?.toLowerCase();
  return id === undefined ? undefined : ID.test(id) ? id : '';
};

/** Reads the page parameters; `limit` is clamped, never refused (as Mastodon does). */
export function pageParams(query: unknown, kind: keyof typeof LIMITS): PageParams {
  const q = (query ?? {}) as Record<string, unknown>;
  const { fallback, max } = LIMITS[kind];
  const asked = Number.parseInt(one(q.limit) ?? '', 10);
  const limit = Number.isFinite(asked) ? Math.min(Math.max(asked, 1), max) : fallback;
  return { maxId: bound(q.max_id), sinceId: bound(q.since_id), minId: bound(q.min_id), limit };
}

/** Newest-first pages of a list that can only be read backwards from an id. */
export type ReadBefore<T> = (beforeId: string | undefined, limit: number) => Promise<T[]>;

/** How far `min_id` walks back looking for its page (pages of MIN_ID_CHUNK). */
const MIN_ID_CHUNKS = 10;
const MIN_ID_CHUNK = 40;

/**
 * One Mastodon page of a newest-first list keyed by time-ordered ids: `max_id` reads before it,
 * `since_id` keeps the newest items above it, `min_id` the items just above it (read backwards
 * from the top, at most MIN_ID_CHUNKS × MIN_ID_CHUNK items deep), all returned newest first.
 */
export async function readPage<T extends { id: string }>(
  params: PageParams,
  readBefore: ReadBefore<T>,
): Promise<T[]> {
  const { maxId, sinceId, minId, limit } = params;
  if (maxId === '' || sinceId === '' || minId === '') return [];
  if (minId === undefined) {
    const items = await readBefore(maxId, limit);
    return sinceId === undefined ? items : items.filter((item) => item.id > sinceId);
  }
  const lower = sinceId !== undefined && sinceId > minId ? sinceId : minId;
  const above: T[] = [];
  let before = maxId;
  for (let chunk = 0; chunk < MIN_ID_CHUNKS; chunk++) {
    const items = await readBefore(before, MIN_ID_CHUNK);
    const newer = items.filter((item) => item.id > lower);
    above.push(...newer);
    if (newer.length < items.length || items.length < MIN_ID_CHUNK) break;
    before = items.at(-1)!.id;
  }
  return above.slice(-limit);
}

/** The request's own origin (behind trusted proxies, the one they name). */
export const originOf = (request: FastifyRequest) => `${request.protocol}://${request.host}`;

/**
 * `Link` with absolute URLs (masto parses them with `new URL`): `next` (older, `max_id`) only
 * after a full page, `prev` (newer, `min_id`) after any non-empty page, no header for an empty
 * one. Other query parameters (`types[]`, `limit`, …) are kept.
 */
export function setLinks(
  request: FastifyRequest,
  reply: FastifyReply,
  page: readonly { id: string }[],
  params: PageParams,
  cursorOf: (item: { id: string }) => string = (item) => item.id,
): void {
  if (page.length === 0) return;
  const [path, search = ''] = request.url.split('?', 2) as [string, string?];
  const kept = new URLSearchParams(search);
  for (const name of ['max_id', 'since_id', 'min_id']) kept.delete(name);
  const link = (name: string, value: string) => {
    const query = new URLSearchParams(kept);
    query.set(name, value);
    return `${originOf(request)}${path}?${query.toString()}`;
  };
  const links = [];
  if (page.length >= params.limit)
    links.push(`<${link('max_id', cursorOf(page.at(-1)!))}>; rel="next"`);
  links.push(`<${link('min_id', cursorOf(page[0]!))}>; rel="prev"`);
  void reply.header('link', links.join(', '));
}

/**
 * An opaque cursor as `max_id`, for lists ordered by when an edge was made (a follow, a like, a
 * block): undefined when absent, null when not a cursor of ours (an empty page).
 */
export function edgeCursor(value: unknown) {
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    return decodeCursor(TimeCursor, value);
  } catch {
    return null;
  }
}

/** `Link` for such a list: each item's cursor is its edge time and id. */
export function edgeLinks<T extends { id: string }>(
  request: FastifyRequest,
  reply: FastifyReply,
  page: readonly T[],
  params: PageParams,
  edgeAt: (item: T) => Date,
): void {
  const cursors = new Map(
    page.map((r) => [r.id, encodeCursor({ t: new Date(edgeAt(r)).toISOString(), id: r.id })]),
  );
  setLinks(request, reply, page, params, (r) => cursors.get(r.id)!);
}

/** An integer query parameter, `fallback` when absent or not a number, clamped to [min, max]. */
export function clamp(value: unknown, fallback: number, min: number, max: number): number {
  const first: unknown = Array.isArray(value) ? (value as unknown[])[0] : value;
  const n = typeof first === 'string' ? Number.parseInt(first, 10) : Number.NaN;
  return Number.isFinite(n) ? Math.min(Math.max(n, min), max) : fallback;
}
