import type { Cache } from './cache.ts';

/**
 * Values for `keys` (repeats and all) from the cache in one round trip; the misses from `load`
 * in one call, then cached for `ttlSeconds`. A key `load` does not answer is left out.
 */
export async function readManyThrough<T>(
  cache: Cache,
  keys: readonly string[],
  cacheKey: (key: string) => string,
  load: (missing: string[]) => Promise<Map<string, T>>,
  ttlSeconds: number,
): Promise<Map<string, T>> {
  const unique = [...new Set(keys)];
  const found = new Map<string, T>();
  if (unique.length === 0) return found;
  const cached = await cache.getMany<T>(unique.map(cacheKey));
  const missing = unique.filter((key, i) => {
    const hit = cached[i];
    if (hit) found.set(key, hit);
    return !hit;
  });
  if (missing.length === 0) return found;
  const loaded = await load(missing);
  for (const [key, value] of loaded) found.set(key, value);
  await Promise.all([...loaded].map(([key, value]) => cache.set(cacheKey(key), value, ttlSeconds)));
  return found;
}
