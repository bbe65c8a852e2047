/**
 * The load generator, run as a child process by `runLoad` (bench/lib.ts): receives its options
 * over IPC, runs autocannon, sends back a summary, exits. A separate process keeps the load
 * generator from competing with the server for the same event loop.
 */
import { createRequire } from 'node:module';

export interface LoadOptions {
  /** Origin of the server, e.g. http://127.0.0.1:5000. */
  url: string;
  path: string;
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
}

export interface LoadResult {
  /** Mean of the per-second request counts. */
  requestsPerSec: number;
  totalRequests: number;
  /** Milliseconds. */
  latencyP50: number;
  latencyP99: number;
  latencyMax: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Response bytes per second (mean). */
  bytesPerSec: number;
  duration: number;
  connections: number;
}

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
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
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export async function load(opts: LoadOptions): Promise<LoadResult> {
  const method = opts.method ?? 'GET';
  const headers = opts.headers ?? {};
  const sets = opts.rotateHeaders ?? [];
  const requests = sets.map((h) => ({ method, path: opts.path, headers: { ...headers, ...h } }));
  let next = 0;
  const step = Math.max(1, Math.floor(requests.length / Math.max(1, opts.connections)));
  const result = await autocannon({
    url: opts.url + opts.path,
    connections: opts.connections,
    duration: opts.duration,
    method,
    headers,
    ...(requests.length > 0
      ? {
          requests,
          setupClient: (client) => {
            const offset = (next++ * step) % requests.length;
            const rotated = [...requests.slice(offset), ...requests.slice(0, offset)];
            client.setRequests(rotated.map((r) => ({ ...r })));
          },
        }
      : {}),
  });
  return {
    requestsPerSec: result.requests.average,
    totalRequests: result.requests.total,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMax: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    bytesPerSec: result.throughput.average,
    duration: result.duration,
    connections: result.connections,
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
