/**
 * The load generator, run as a child process by `runLoad` (bench/lib.ts): receives its options
 * over IPC, runs autocannon, sends back a summary, exits. A separate process keeps the load
 * generator from competing with the server for the same event loop.
 */
import { createRequire } from 'node:module';

/**
 * One request of a list (`LoadOptions.requests`). Plain data, since options cross a process
 * boundary: a token is an index into `LoadOptions.tokens`, so a long list stays small.
 */
export interface RequestTemplate {
  method?: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** JSON, sent with `content-type: application/json` (or `contentType`). */
  body?: string;
  /** Content type of `body`, when it is not JSON (DSB's scripts send unencoded forms). */
  contentType?: string;
  /** Index into `LoadOptions.tokens`: sent as `authorization: Bearer <token>`. */
  token?: number;
}

export interface LoadOptions {
  /** Origin of the server, e.g. http://127.0.0.1:5000. */
  url: string;
  /** The one request sent over and over, unless `requests` is given. */
  path?: string;
  method?: 'GET' | 'POST';
  connections: number;
  /** Seconds. */
  duration: number;
  headers?: Record<string, string>;
  /**
   * Header sets sent in turn (e.g. one Authorization per user). Each connection walks the whole
   * list, starting at its own offset, so the connections spread over the users.
   */
  rotateHeaders?: Record<string, string>[];
  /**
   * A list of requests dealt out to the connections like cards (request i goes to connection
   * i mod connections); each connection sends its share in order, over and over. Every request
   * is sent once before any is sent twice (as long as the connections keep pace with each other),
   * so a list of distinct writes (likes of distinct posts…) makes distinct writes until it runs out.
   */
  requests?: RequestTemplate[];
  /** Bearer tokens that `requests` refer to by index. */
  tokens?: string[];
  /**
   * Requests per second over all connections (open loop: latencies include the wait of a request
   * that could not be sent on time). Unset: each connection sends as fast as it is answered.
   */
  overallRate?: number;
}

export interface LoadResult {
  /** Mean of the per-second request counts. */
  requestsPerSec: number;
  totalRequests: number;
  /** Responses with a 2xx status. */
  ok: number;
  /** Milliseconds. */
  latencyP50: number;
  latencyP99: number;
  latencyMax: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Responses by status code. */
  statusCodes: Record<string, number>;
  /** Response bytes per second (mean). */
  bytesPerSec: number;
  duration: number;
  connections: number;
  /** Length of `requests` (0 without): more total requests than this means some were repeated. */
  distinctRequests: number;
}

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}

interface AutocannonClient {
  setRequests(requests: AutocannonRequest[]): void;
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  throughput: { average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  duration: number;
  connections: number;
}

type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  method?: string;
  headers?: Record<string, string>;
  requests?: AutocannonRequest[];
  setupClient?: (client: AutocannonClient) => void;
  overallRate?: number;
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** Per connection, the requests it cycles through. */
function perConnection(opts: LoadOptions): AutocannonRequest[][] | undefined {
  const method = opts.method ?? 'GET';
  const headers = opts.headers ?? {};
  const c = Math.max(1, opts.connections);
  if (opts.requests && opts.requests.length > 0) {
    const tokens = opts.tokens ?? [];
    const all = opts.requests.map((t): AutocannonRequest => {
      const h: Record<string, string> = { ...headers };
      if (t.token !== undefined) h.authorization = `Bearer ${tokens[t.token]}`;
      if (t.body !== undefined) h['content-type'] = t.contentType ?? 'application/json';
      return { method: t.method ?? 'GET', path: t.path, headers: h, body: t.body };
    });
    const hands: AutocannonRequest[][] = Array.from({ length: c }, () => []);
    all.forEach((r, i) => hands[i % c]!.push(r));
    return hands.map((hand, i) => (hand.length > 0 ? hand : [all[i % all.length]!]));
  }
  const sets = opts.rotateHeaders ?? [];
  if (sets.length === 0) return undefined;
  const requests = sets.map((h) => ({ method, path: opts.path, headers: { ...headers, ...h } }));
  const step = Math.max(1, Math.floor(requests.length / c));
  return Array.from({ length: c }, (_, i) => {
    const offset = (i * step) % requests.length;
    return [...requests.slice(offset), ...requests.slice(0, offset)];
  });
}

export async function load(opts: LoadOptions): Promise<LoadResult> {
  const hands = perConnection(opts);
  let next = 0;
  const result = await autocannon({
    url: opts.url + (opts.path ?? '/'),
    connections: opts.connections,
    duration: opts.duration,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    method: opts.method ?? 'GET',
    headers: opts.headers ?? {},
    ...(hands
      ? {
          requests: hands[0]!.map((r) => ({ ...r })),
          // Fresh objects per connection: autocannon stores each built request on its object.
          setupClient: (client) =>
            client.setRequests(hands[next++ % hands.length]!.map((r) => ({ ...r }))),
        }
      : {}),
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = count;
  return {
    requestsPerSec: result.requests.average,
    totalRequests: result.requests.total,
    ok: result['2xx'],
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMax: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    bytesPerSec: result.throughput.average,
    duration: result.duration,
    connections: result.connections,
    distinctRequests: opts.requests?.length ?? 0,
  };
}

if (process.send) {
  process.once('message', (opts: LoadOptions) => {
    load(opts).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (err: unknown) => process.send!({ error: String(err) }, () => process.exit(1)),
    );
  });
}
