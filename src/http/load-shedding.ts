import { performance } from 'node:perf_hooks';
import underPressure from '@fastify/under-pressure';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { Metrics } from '../infra/metrics.ts';
import { AppError } from '../errors.ts';
import type { App } from './types.ts';

/**
 * Seconds a refused client is told to wait. Shedding stops a sample or two after the load drops,
 * so this is mostly a back-off that keeps retries from landing while the node is still saturated.
 */
export const SHED_RETRY_AFTER_SECONDS = 5;

/**
 * Routes that answer even under pressure. Liveness: a busy process is alive, and restarting it
 * would turn overload into an outage. Metrics: what operators look at during an overload.
 * `/readyz` is shed like the API: its 503 takes an overloaded node out of its load balancer's
 * rotation until it has caught up (Kubernetes waits for two failed probes, 10 s, first).
 */
const EXEMPT: ReadonlySet<string> = new Set(['/healthz', '/metrics']);

const RESOLUTION_MS = 10;

/**
 * Long-lived streams (a WebSocket upgrade, the server-sent events route) are not requests waiting
 * to be served: they stay open for hours and would fill the in-flight count.
 */
export const isStream = (request: FastifyRequest): boolean =>
  request.headers.upgrade?.toLowerCase() === 'websocket' ||
  /\/stream\/sse$|\/streaming\/user(\/notification)?$/.test(request.routeOptions.url ?? '');

const overloaded = () =>
  new AppError(503, 'overloaded', 'The server is overloaded; try again shortly.', {
    headers: { 'retry-after': String(SHED_RETRY_AFTER_SECONDS) },
  });

/**
 * Event-loop delay, time-weighted: how long, on average, something that became ready at a random
 * moment (a timer, a request) waited for the loop to turn to it. A loop turn of L ms contributes
 * L²/2; steady turns of L ms read as L/2. Measured over the last two samples: a sustained lag
 * shows within one or two, while one long stall (up to about 0.9 s with 1 s samples and a 200 ms
 * limit: a heavy query on the embedded stack) is diluted rather than shedding the next second.
 *
 * Not @fastify/under-pressure's own measure, the mean of its per-turn samples: there a turn of
 * 2 s weighs as much as one of 10 ms, and a loop that runs many short turns between a few very
 * long ones (PGlite answers queries synchronously on the embedded stack) reads as healthy while
 * requests wait for seconds.
 */
class EventLoopDelay {
  #last = performance.now();
  #elapsed = 0;
  #waited = 0;
  #previous = { elapsed: 0, waited: 0 };
  readonly #timer = setInterval(() => this.#tick(), RESOLUTION_MS).unref();

  #tick(): void {
    const now = performance.now();
    const gap = now - this.#last;
    const late = Math.max(0, gap - RESOLUTION_MS);
    this.#last = now;
    this.#elapsed += gap;
    this.#waited += (late * late) / 2;
  }

  /** The delay (ms) over this sample and the one before; starts a new sample. */
  sample(): number {
    this.#tick(); // a turn that has just ended counts, even before the interval timer runs
    const elapsed = this.#elapsed + this.#previous.elapsed;
    const delay = elapsed > 0 ? (this.#waited + this.#previous.waited) / elapsed : 0;
    this.#previous = { elapsed: this.#elapsed, waited: this.#waited };
    this.#elapsed = 0;
    this.#waited = 0;
    return delay;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Load shedding: when too many requests are in flight, or while the event loop lags (or is
 * saturated, or the heap is too big, as configured by the SHED_* settings), requests are refused
 * at the door with 503 `overloaded` and `Retry-After`, which costs far less than serving them.
 * Latency of the requests still accepted stays bounded instead of growing with the queue. The
 * checks run first thing in `onRequest`, before authentication, body parsing and any database
 * work.
 *
 * Two kinds of overload, two checks. When the database is the bottleneck (the usual case: a pool
 * of connections, or PGlite answering one query at a time), requests queue for it while the event
 * loop stays responsive; only the number in flight shows it. When JavaScript is the bottleneck,
 * the loop itself lags, and everything behind it waits.
 */
export async function registerLoadShedding(
  app: App,
  { config, metrics }: { config: Config; metrics: Metrics },
): Promise<void> {
  const maxDelay = config.shedMaxEventLoopDelayMs;
  // Start-up (schema compilation, route registration) is one long busy stretch that the first
  // samples would take for an overload, shedding the first requests of a fresh process. Shedding
  // is armed three sample intervals after the app became ready: by then the delay is measured
  // (over two samples) after it.
  let armedAt = Infinity;
  app.addHook('onReady', async () => {
    armedAt = performance.now() + 3 * config.shedSampleIntervalMs;
  });
  const delay = maxDelay > 0 ? new EventLoopDelay() : undefined;
  if (delay) app.addHook('onClose', async () => delay.stop());
  await app.register(underPressure, {
    sampleInterval: config.shedSampleIntervalMs,
    maxEventLoopUtilization: config.shedMaxEventLoopUtilization,
    // Utilization of the last sample, not since start-up (the plugin's default).
    eventLoopUtilizationMode: 'interval',
    maxHeapUsedBytes: config.shedMaxHeapMb * 2 ** 20,
    // The plugin's periodic health check is where kith's own delay measure plugs in: a false
    // answer puts the app under pressure until the next sample.
    ...(delay && {
      healthCheckInterval: config.shedSampleIntervalMs,
      healthCheck: async () => {
        const ms = delay.sample();
        metrics.shedEventLoopDelay.set(ms / 1000);
        return ms <= maxDelay;
      },
    }),
    // A rejection goes to the error handler: the usual problem+json body, with Retry-After.
    pressureHandler: async (request, _reply, type) => {
      if (EXEMPT.has(request.routeOptions.url ?? '') || performance.now() < armedAt) return;
      metrics.httpShed.inc({ reason: type === 'healthCheck' ? 'eventLoopDelay' : type });
      throw overloaded();
    },
  });

  const maxInFlight = config.shedMaxInFlight;
  if (maxInFlight === 0) return;
  let inFlight = 0;
  // After the plugin's hook: a request it refused is never counted.
  app.addHook('onRequest', async (request, reply) => {
    if (EXEMPT.has(request.routeOptions.url ?? '') || isStream(request)) return;
    if (inFlight >= maxInFlight) {
      metrics.httpShed.inc({ reason: 'inFlight' });
      throw overloaded();
    }
    inFlight++;
    metrics.httpInFlight.set(inFlight);
    // 'close' comes once per response: sent, failed, or the client went away.
    reply.raw.once('close', () => metrics.httpInFlight.set(--inFlight));
  });
}
