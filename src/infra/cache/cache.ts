/**
 * The cache port: JSON values by key with a time to live. Losing it must never lose data, so
 * every caller treats a miss, and any cache error, as "read from the database".
 */
export interface Cache {
  get<T>(key: string): Promise<T | undefined>;
  /** One round trip for many keys; misses are undefined, in the order asked. */
  getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]>;
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  delete(...keys: string[]): Promise<void>;
  close(): Promise<void>;
}
