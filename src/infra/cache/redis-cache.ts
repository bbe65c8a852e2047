import type { Redis } from 'ioredis';
import type { Cache } from './cache.ts';

/** Redis-backed cache; keys are namespaced by `prefix` so several deployments can share a server. */
export class RedisCache implements Cache {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const raw = await this.#redis.get(this.#prefix + key);
    return raw === null ? undefined : (JSON.parse(raw) as T);
  }

  async getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (keys.length === 0) return [];
    const raws = await this.#redis.mget(keys.map((k) => this.#prefix + k));
    return raws.map((raw) => (raw === null ? undefined : (JSON.parse(raw) as T)));
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.#redis.set(this.#prefix + key, JSON.stringify(value), 'EX', ttlSeconds);
  }

  async delete(...keys: string[]): Promise<void> {
    if (keys.length > 0) await this.#redis.del(keys.map((k) => this.#prefix + k));
  }

  async close(): Promise<void> {
    // The connection is shared and closed by its owner (the context).
  }
}
