import { ReplyError, type Redis } from 'ioredis';
import type { Logger } from '../../logger.ts';

/** Thrown at once, without touching Redis, while the breaker is open. */
export class RedisUnavailable extends Error {
  constructor() {
    super('redis unavailable (circuit open)');
  }
}

export interface BreakerOptions {
  /** Between two probes while open. */
  probeEveryMs?: number;
  /** A probe PING that takes longer counts as failed (and recycles the connection). */
  probeTimeoutMs?: number;
}

/**
 * One circuit breaker for every user of a Redis connection (cache, timelines, rate limits), so a
 * sick Redis costs a request at most one command timeout, and later requests nothing.
 *
 * Closed (healthy): calls go through. A call that fails for a reason other than a Redis reply
 * (a command timeout, a closed or unwritable connection), the connection closing, or a call while
 * the client is not ready opens the breaker. A timeout also recycles the connection
 * (destroys the socket; ioredis dials again): that rejects every command still waiting on it
 * at once, and a
 * frozen TCP connection (open, but no bytes moving) is never reused.
 *
 * Open: calls fail at once with `RedisUnavailable` (callers serve from SQL or memory). A
 * background probe PINGs every `probeEveryMs` once the client is ready; the first answer within
 * `probeTimeoutMs` closes the breaker, a probe timing out recycles the connection again.
 */
export class RedisBreaker {
  readonly #redis: Redis;
  readonly #log: Logger;
  readonly #probeEveryMs: number;
  readonly #probeTimeoutMs: number;
  readonly #listeners: ((up: boolean) => void)[] = [];
  #open = false;
  #probe: NodeJS.Timeout | undefined;
  #probing = false;
  #closed = false;

  constructor(redis: Redis, log: Logger, opts: BreakerOptions = {}) {
    this.#redis = redis;
    this.#log = log;
    this.#probeEveryMs = opts.probeEveryMs ?? 250;
    this.#probeTimeoutMs = opts.probeTimeoutMs ?? 500;
    redis.on('close', () => this.trip());
    if (redis.status !== 'ready') this.trip();
  }

  /** True while calls go through to Redis. */
  get up(): boolean {
    return !this.#open;
  }

  /** Called with the new state whenever the breaker opens (false) or closes (true). */
  onChange(listener: (up: boolean) => void): void {
    this.#listeners.push(listener);
    listener(this.up);
  }

  /** Runs a Redis call through the breaker (see the class comment). */
  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.#open) throw new RedisUnavailable();
    if (this.#redis.status !== 'ready') {
      this.trip();
      throw new RedisUnavailable();
    }
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof ReplyError)) {
        const timedOut = err instanceof Error && err.message === 'Command timed out';
        this.trip(timedOut ? 'command timed out' : undefined);
      }
      throw err;
    }
  }

  /** `target` with every method run through the breaker (but `close`). */
  guard<T extends object>(target: T): T {
    return new Proxy(target, {
      get: (t, prop) => {
        const value: unknown = Reflect.get(t, prop, t);
        if (typeof value !== 'function' || prop === 'close' || prop === 'constructor') return value;
        return (...args: unknown[]) =>
          this.run(() => (value as (...a: unknown[]) => Promise<unknown>).apply(t, args));
      },
    });
  }

  /**
   * The client for @fastify/rate-limit's Redis store: its two commands (callback style) run
   * through the breaker, so while it is open they fail at once (and the limiter, with
   * skipOnError, lets requests through).
   */
  rateLimitClient(): Redis {
    const commands = new Set<string | symbol>(['rateLimit', 'rateLimitRead']);
    return new Proxy(this.#redis, {
      get: (t, prop) => {
        const value: unknown = Reflect.get(t, prop, t);
        if (!commands.has(prop) || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const callback = args.pop() as (err: unknown, result?: unknown) => void;
          this.run(() => (value as (...a: unknown[]) => Promise<unknown>).apply(t, args)).then(
            (result) => callback(null, result),
            (err: unknown) => callback(err),
          );
        };
      },
    });
  }

  /**
   * Opens the breaker. With a `recycle` reason (a command or probe timed out: the connection
   * may be frozen), also drops the connection and dials again.
   */
  trip(recycle?: string): void {
    if (this.#closed) return;
    if (recycle) {
      this.#log.warn({ reason: recycle }, 'redis not answering; recycling the connection');
      // Not disconnect(true): it ends the socket gracefully and waits up to 2 s for a close that a
      // frozen peer never acknowledges. Destroyed, the socket closes now: ioredis rejects every
      // command still waiting on it and dials again.
      const { stream } = this.#redis as unknown as { stream?: { destroy(): void } };
      if (stream) stream.destroy();
      else this.#redis.disconnect(true);
    }
    if (this.#open) return;
    this.#open = true;
    this.#log.warn('redis unavailable; serving from the database until it answers again');
    for (const listener of this.#listeners) listener(false);
    this.#probe = setInterval(() => void this.#tryProbe(), this.#probeEveryMs);
    this.#probe.unref();
  }

  async #tryProbe(): Promise<void> {
    if (this.#probing || this.#closed || this.#redis.status !== 'ready') return;
    this.#probing = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.#probeTimeoutMs);
      });
      const answer = await Promise.race([this.#redis.ping().catch(() => 'failed'), timeout]);
      if (answer === 'PONG') return this.#close();
      if (answer === 'timeout') this.trip('probe timed out');
    } finally {
      clearTimeout(timer);
      this.#probing = false;
    }
  }

  #close(): void {
    if (!this.#open || this.#closed) return;
    clearInterval(this.#probe);
    this.#open = false;
    this.#log.info('redis answers again');
    for (const listener of this.#listeners) listener(true);
  }

  /** Stops probing (the connection is closed by its owner). */
  stop(): void {
    this.#closed = true;
    clearInterval(this.#probe);
  }
}
