import { LRUCache } from 'lru-cache';
import type { Cache } from './cache.ts';

/**
 * In-process cache, bounded by entry count with least-recently-used eviction. Values are stored
 * as JSON so callers get copies, exactly as they would from Redis.
 */
export class MemoryCache implements Cache {
  readonly #lru: LRUCache<string, string>;

  /** `clock` exists for tests; TTLs follow it instead of the monotonic clock. */
  constructor(maxEntries = 50_000, clock?: { now(): number }) {
    this.#lru = new LRUCache({
      max: maxEntries,
      ttlAutopurge: false,
      ...(clock ? { perf: clock, ttlResolution: 0 } : {}),
    });
  }

  async get<T>(key: string): Promise<T | undefined> {
    const raw = this.#lru.get(key);
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  async getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]> {
    return Promise.all(keys.map((k) => this.get<T>(k)));
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    this.#lru.set(key, JSON.stringify(value), { ttl: ttlSeconds * 1000 });
  }

  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) this.#lru.delete(key);
  }

  async close(): Promise<void> {
    this.#lru.clear();
  }
}
