import type { Logger } from '../../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Cache } from './cache.ts';

const WARN_EVERY_MS = 10_000;
/** Invalidations remembered while the cache is unreachable (beyond this, TTLs bound staleness). */
const MAX_PENDING = 100_000;

/**
 * A cache that never fails its caller: when the backing cache (Redis) errors, reads are misses
 * and writes are skipped, so requests fall through to the database. Errors are counted and
 * logged at most every ten seconds. An invalidation that fails is remembered and retried once
 * the cache answers again; until then that key reads as a miss, so a change made during an
 * outage is never hidden behind an entry cached before it.
 */
export class ResilientCache implements Cache {
  readonly #inner: Cache;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  #lastWarning = 0;
  readonly #pending = new Set<string>();

  constructor(inner: Cache, log: Logger, metrics: Metrics) {
    this.#inner = inner;
    this.#log = log;
    this.#metrics = metrics;
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.getMany<T>([key]))[0];
  }

  async getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]> {
    try {
      await this.#retryInvalidations();
      const values = (await this.#inner.getMany<T>(keys)).map((v, i) =>
        this.#pending.has(keys[i]!) ? undefined : v,
      );
      const hits = values.filter((v) => v !== undefined).length;
      this.#metrics.cacheRequests.inc({ result: 'hit' }, hits);
      this.#metrics.cacheRequests.inc({ result: 'miss' }, values.length - hits);
      return values;
    } catch (err) {
      this.#failed(err, keys.length);
      return keys.map(() => undefined);
    }
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.#inner.set(key, value, ttlSeconds).catch((err: unknown) => this.#failed(err, 0));
  }

  /** A failed delete is logged and remembered: retried before the next read. */
  async delete(...keys: string[]): Promise<void> {
    try {
      await this.#inner.delete(...keys);
    } catch (err) {
      for (const key of keys) if (this.#pending.size < MAX_PENDING) this.#pending.add(key);
      this.#failed(err, 0);
    }
  }

  async #retryInvalidations(): Promise<void> {
    if (this.#pending.size === 0) return;
    const keys = [...this.#pending];
    await this.#inner.delete(...keys);
    for (const key of keys) this.#pending.delete(key);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  #failed(err: unknown, lookups: number): void {
    if (lookups > 0) this.#metrics.cacheRequests.inc({ result: 'error' }, lookups);
    if (Date.now() - this.#lastWarning > WARN_EVERY_MS) {
      this.#lastWarning = Date.now();
      this.#log.warn({ err }, 'cache unavailable; serving from the database');
    }
  }
}
