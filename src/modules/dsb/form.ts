/**
 * Reading DeathStarBench requests. Its wrk2 scripts write form bodies and query strings without
 * encoding them (raw spaces, quotes, brackets), so fields are split the way browsers parse
 * `application/x-www-form-urlencoded` (WHATWG URLSearchParams): `&` between fields, the first `=`
 * in each, `+` as a space, and a `%` that does not start a valid escape kept as it is.
 */
import { AppError, ValidationError } from '../../errors.ts';
import type { DsbMedia } from '../../infra/db/schema.ts';

export const incomplete = () => new AppError(400, 'incomplete_arguments', 'Incomplete arguments');

const invalid = (name: string, message: string) =>
  new ValidationError([{ path: `/${name}`, message }], `Invalid ${name}`);

/** The fields of a form body (a string, or nothing for a request without one). */
export function formOf(body: unknown): URLSearchParams {
  return new URLSearchParams(typeof body === 'string' ? body : '');
}

/** The fields of a request's query string. */
export function queryOf(url: string): URLSearchParams {
  const at = url.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : url.slice(at + 1));
}

/** A field's value, or undefined when it is missing or empty (DSB treats both alike). */
export function field(form: URLSearchParams, name: string): string | undefined {
  const value = form.get(name);
  return value === null || value === '' ? undefined : value;
}

/** The named fields, all present and non-empty, or a 400 "Incomplete arguments". */
export function required<const K extends string>(
  form: URLSearchParams,
  ...names: K[]
): Record<K, string> {
  const out = {} as Record<K, string>;
  for (const name of names) {
    const value = field(form, name);
    if (value === undefined) throw incomplete();
    out[name] = value;
  }
  return out;
}

const INT64_MAX = 2n ** 63n - 1n;

/**
 * A DSB user id: a signed 64-bit integer, returned as its canonical decimal ("007" is "7", as
 * DSB's `tonumber` reads it). Parsed with BigInt, so it never loses digits in a double.
 */
export function dsbId(raw: string, name: string): string {
  const text = raw.trim();
  if (!/^-?\d{1,20}$/.test(text)) throw invalid(name, 'must be a whole number');
  const n = BigInt(text);
  if (n > INT64_MAX || n < -INT64_MAX - 1n) throw invalid(name, 'must fit a signed 64-bit integer');
  return n.toString();
}

/** A timeline bound: a whole number from 0 to `max`. */
export function bound(raw: string, name: string, max: number): number {
  const text = raw.trim();
  if (!/^\d{1,9}$/.test(text) || Number(text) > max) {
    throw invalid(name, `must be a whole number from 0 to ${max}`);
  }
  return Number(text);
}

/** DSB's post types (POST, REPOST, REPLY, DM) are small integers. */
export function postType(raw: string): number {
  const text = raw.trim();
  if (!/^\d{1,3}$/.test(text)) throw invalid('post_type', 'must be a small whole number');
  return Number(text);
}

const MAX_MEDIA = 100;

/**
 * The items of a list written like a JSON array of strings (`["1","2"]`) or of bare numbers
 * (`[1,2]`), as text: an 18-digit id stays exact because it never becomes a number.
 */
function listItems(raw: string, name: string): string[] {
  const match = /^\s*\[(.*)\]\s*$/s.exec(raw);
  if (!match) throw invalid(name, 'must be a list like ["a","b"]');
  const inner = match[1]!.trim();
  if (inner === '') return [];
  const items = inner.split(',').map((item) => {
    const quoted = /^\s*"(.*)"\s*$/s.exec(item);
    return (quoted ? quoted[1]! : item).trim();
  });
  if (items.length > MAX_MEDIA) throw invalid(name, `may hold at most ${MAX_MEDIA} items`);
  return items;
}

/**
 * Media of a composed post. As in DSB, media are taken only when both lists are given; their
 * lengths must then match. Ids are 1-19 digits, kept exactly as sent (leading zeros too).
 */
export function mediaOf(ids: string | undefined, types: string | undefined): DsbMedia[] {
  if (ids === undefined || types === undefined) return [];
  const idList = listItems(ids, 'media_ids');
  const typeList = listItems(types, 'media_types');
  if (idList.length !== typeList.length) {
    throw invalid('media_types', 'must have one type for each of media_ids');
  }
  return idList.map((id, i) => {
    if (!/^\d{1,19}$/.test(id)) throw invalid('media_ids', 'must hold numeric ids (1-19 digits)');
    const type = typeList[i]!;
    if (type.length < 1 || type.length > 64) {
      throw invalid('media_types', 'must hold types of 1-64 characters');
    }
    return { media_id: id, media_type: type };
  });
}
