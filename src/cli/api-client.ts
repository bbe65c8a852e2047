import { setTimeout as delay } from 'node:timers/promises';

/** What went wrong with a call: the server's problem+json, or why the server was not reached. */
export interface CallError {
  /** HTTP status; absent when no response came back. */
  readonly status?: number;
  /** The problem's stable `code` (`post_not_found`, `rate_limited`, …). */
  readonly code?: string;
  readonly detail: string;
}

/** A failed call or step, carrying what to print. */
export class ScriptFailure extends Error {
  readonly error: CallError;
  constructor(error: CallError) {
    super(error.detail);
    this.error = error;
  }
}

export interface ApiClientOptions {
  /** Where kith answers, e.g. `http://localhost:5000` or a proxy's address (a base path is kept). */
  readonly baseUrl: string;
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before waiting out a 429, with the wait in milliseconds. */
  readonly onRateLimit?: (waitMs: number) => void;
  /** 429s retried per call before giving up. */
  readonly maxRetries?: number;
}

interface Problem {
  code?: unknown;
  detail?: unknown;
  title?: unknown;
  errors?: { path?: string; message?: string }[];
}

/** Longest wait honoured for one 429, whatever Retry-After says. */
const MAX_RETRY_AFTER_MS = 120_000;

function problemOf(status: number, body: unknown): CallError {
  const p = (body ?? {}) as Problem;
  const fields = Array.isArray(p.errors)
    ? p.errors.map((e) => `${e.path ?? ''} ${e.message ?? ''}`.trim()).join('; ')
    : '';
  const detail =
    typeof p.detail === 'string' ? p.detail : typeof p.title === 'string' ? p.title : '';
  return {
    status,
    ...(typeof p.code === 'string' ? { code: p.code } : {}),
    detail: (detail || `HTTP ${status}`) + (fields ? ` (${fields})` : ''),
  };
}

function unreachable(url: string, err: unknown): CallError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return {
    detail: `cannot reach ${url} (${why}); is kith running there? Start it with \`npm start\` or pass --url`,
  };
}

/**
 * JSON calls to the kith API over keep-alive connections (Node's fetch pools them). Answers 429
 * by waiting for `Retry-After` and retrying; any other non-2xx becomes a `ScriptFailure` with the
 * server's `code` and `detail`.
 */
export class ApiClient {
  readonly #base: string;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #onRateLimit: (waitMs: number) => void;
  readonly #maxRetries: number;
  /** Milliseconds spent waiting for rate limits since the client was made. */
  waitedMs = 0;

  constructor(opts: ApiClientOptions) {
    this.#base = opts.baseUrl.replace(/\/+$/, '');
    this.#fetch = opts.fetch ?? fetch;
    this.#sleep = opts.sleep ?? ((ms) => delay(ms));
    this.#onRateLimit = opts.onRateLimit ?? (() => {});
    this.#maxRetries = opts.maxRetries ?? 5;
  }

  get baseUrl(): string {
    return this.#base;
  }

  /** Calls `/api/v1<path>`; resolves with the JSON body (undefined for 204). */
  async call<T = unknown>(
    method: string,
    path: string,
    opts: { body?: unknown; token?: string | undefined } = {},
  ): Promise<T> {
    const url = `${this.#base}/api/v1${path}`;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.#fetch(url, {
          method,
          headers: {
            accept: 'application/json',
            ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          },
          ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
        });
      } catch (err) {
        throw new ScriptFailure(unreachable(this.#base, err));
      }
      const text = await res.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      if (res.ok) return body as T;
      if (res.status === 429 && attempt < this.#maxRetries) {
        const seconds = Number(res.headers.get('retry-after'));
        const waitMs = Math.min(
          Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000,
          MAX_RETRY_AFTER_MS,
        );
        this.#onRateLimit(waitMs);
        await this.#sleep(waitMs);
        this.waitedMs += waitMs;
        continue;
      }
      const problem = problemOf(res.status, body);
      throw new ScriptFailure(
        body === undefined && text
          ? { ...problem, detail: `${problem.detail}: ${text.slice(0, 200)}` }
          : problem,
      );
    }
  }
}
