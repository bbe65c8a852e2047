/**
 * Load shedding (issue 11): when too many requests are in flight, or while the event loop lags
 * behind, a listening kith refuses requests at the door with 503 `overloaded` (problem+json,
 * `Retry-After`), keeps answering `/healthz` (liveness) and `/metrics`, fails `/readyz` (so load
 * balancers route elsewhere), and serves normally again once the pressure is gone.
 *
 * The lag is real: the app runs in this process, and `lagEventLoop` keeps its event loop busy in
 * synchronous slices, as a CPU-bound overload would. Requests go over TCP with fetch (from this
 * same process, so each one takes a few slow loop turns, which is fine). Pressure is sampled
 * every 50-1000 ms here; every state change is awaited (the first refused answer, the plugin's
 * own view of the pressure, kith's gauges), never slept for.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { SHED_RETRY_AFTER_SECONDS } from '../../src/http/load-shedding.ts';
import { createAccount, type Account } from '../support/factories.ts';
import { createTestApp, type TestApp } from '../support/harness.ts';
import { waitFor } from '../support/wait.ts';

const SAMPLE = { SHED_SAMPLE_INTERVAL_MS: '50' };
const OFF = {
  SHED_MAX_IN_FLIGHT: '0',
  SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
  SHED_MAX_EVENT_LOOP_UTILIZATION: '0',
  SHED_MAX_HEAP_MB: '0',
};

/**
 * Keeps this process's event loop busy: `sliceMs` of synchronous work per turn, other work
 * (I/O, timers) in between. Returns the function that stops it.
 */
function lagEventLoop(sliceMs: number): () => void {
  let running = true;
  const spin = () => {
    if (!running) return;
    const end = performance.now() + sliceMs;
    while (performance.now() < end) {
      // busy: this is the overload
    }
    setImmediate(spin);
  };
  setImmediate(spin);
  return () => {
    running = false;
  };
}

interface Answer {
  status: number;
  headers: Headers;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

async function call(base: string, method: string, path: string, who?: Account, body?: object) {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(who ? who.auth : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text,
    json: <T>() => JSON.parse(text) as T,
  } satisfies Answer;
}

function assertShed(res: Answer, what: string): void {
  assert.equal(res.status, 503, `${what}: ${res.body}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, what);
  assert.equal(res.headers.get('retry-after'), String(SHED_RETRY_AFTER_SECONDS), what);
  const problem = res.json<{ code: string; status: number; type: string }>();
  assert.equal(problem.code, 'overloaded', what);
  assert.equal(problem.status, 503, what);
  assert.equal(problem.type, 'urn:kith:problem:overloaded', what);
}

/** Sum of the samples of `name` with these labels in a Prometheus text page. */
function sample(page: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const [, metric, raw = '', value] of page.matchAll(/^(\w+)(?:\{(.*)\})? (\S+)$/gm)) {
    const have = Object.fromEntries([...raw.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (metric === name && Object.entries(labels).every(([k, v]) => have[k] === v))
      total += Number(value);
  }
  return total;
}

async function listening(env: Record<string, string>): Promise<TestApp & { base: string }> {
  const test = await createTestApp({ env: { ...OFF, ...SAMPLE, ...env } });
  const base = await test.app.listen({ host: '127.0.0.1', port: 0 });
  return { ...test, base };
}

/** A gauge's current value (0 before it is first set). */
async function gauge(g: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await g.get()).values[0]?.value ?? 0;
}

/**
 * Calls until one answer is refused. Shedding starts a sample or two after the lag does, and only three
 * sample intervals after start-up (so that start-up itself is not taken for an overload).
 */
async function untilShed(send: () => Promise<Answer>): Promise<Answer> {
  return waitFor(async () => {
    const res = await send();
    return res.status === 503 ? res : undefined;
  }, 'a request is shed');
}

/**
 * Calls until the answer has this status (recovery, as a client sees it; on a busy machine one
 * more sample may still be over the limit). Only for calls that change nothing when refused.
 */
async function untilStatus(status: number, send: () => Promise<Answer>): Promise<Answer> {
  return waitFor(async () => {
    const res = await send();
    return res.status === status ? res : undefined;
  }, `an answer with status ${status}`);
}

describe('load shedding on requests in flight (SHED_MAX_IN_FLIGHT=2)', () => {
  it('refuses what comes beyond the limit, not /healthz, and lets the next request in', async () => {
    const { app, ctx, base } = await listening({ SHED_MAX_IN_FLIGHT: '2' });
    const bob = await createAccount(app);
    // Logins wait for bcrypt on the thread pool, so several are in flight at once (on any
    // stack: PGlite alone answers within the same loop turn). Twenty at once: a few are served,
    // the rest refused at once rather than queued.
    const credentials = { login: bob.username, password: bob.password };
    const wave = () =>
      Promise.all(
        Array.from({ length: 20 }, () =>
          call(base, 'POST', '/api/v1/auth/login', undefined, credentials),
        ),
      );
    const answers = await waitFor(async () => {
      const all = await wave();
      return all.some((a) => a.status === 503) ? all : undefined;
    }, 'a wave with a refused request');
    for (const a of answers.filter((x) => x.status !== 200)) assertShed(a, 'beyond the limit');
    assert.ok(
      answers.some((a) => a.status === 200),
      'those within the limit are served',
    );
    const metrics = await call(base, 'GET', '/metrics');
    assert.ok(sample(metrics.body, 'kith_http_shed_total', { reason: 'inFlight' }) > 0);
    // Liveness and metrics are not counted: twenty at once all answer.
    const probes = await Promise.all(
      Array.from({ length: 20 }, () => call(base, 'GET', '/healthz')),
    );
    assert.deepEqual(
      probes.map((p) => p.status),
      probes.map(() => 200),
    );
    // Every answered request left the count: nothing leaks, one at a time always passes.
    assert.equal(await gauge(ctx.metrics.httpInFlight), 0);
    for (let i = 0; i < 5; i++)
      assert.equal(
        (await call(base, 'POST', '/api/v1/auth/login', undefined, credentials)).status,
        200,
      );
  });
});

describe('load shedding on event-loop delay (SHED_MAX_EVENT_LOOP_DELAY_MS=200)', () => {
  let t: TestApp & { base: string };
  let alice: Account;
  let stopLag: (() => void) | undefined;
  /** The delay load shedding measured over its last sample, in ms. */
  const measured = async () => 1000 * (await gauge(t.ctx.metrics.shedEventLoopDelay));

  before(async () => {
    t = await listening({ SHED_MAX_EVENT_LOOP_DELAY_MS: '200', SHED_SAMPLE_INTERVAL_MS: '500' });
    alice = await createAccount(t.app);
    // Set-up work (and a busy test machine) can lag the loop for a sample: start calm.
    await waitFor(() => !t.app.isUnderPressure(), 'a calm sample after set-up');
  });
  after(() => stopLag?.());

  it('serves normally while the loop keeps up', async () => {
    assert.equal((await call(t.base, 'GET', '/api/v1/me', alice)).status, 200);
    assert.equal((await call(t.base, 'GET', '/readyz')).status, 200);
  });

  it('refuses with 503 overloaded while the loop lags, keeps /healthz and /metrics, fails /readyz, then recovers', async () => {
    const { base, app } = t;
    const posts = async () =>
      (await call(base, 'GET', `/api/v1/users/${alice.username}/posts`)).json<{
        items: unknown[];
      }>().items.length;
    const postsBefore = await posts();

    // Turns of 800 ms: work waits about 400 ms on average.
    stopLag = lagEventLoop(800);
    assertShed(await untilShed(() => call(base, 'GET', '/api/v1/me', alice)), 'GET /me');
    assertShed(await call(base, 'GET', '/api/v1/feed', alice), 'GET /feed');
    assertShed(
      await call(base, 'POST', '/api/v1/posts', alice, { text: 'written under pressure' }),
      'POST /posts',
    );
    assertShed(await call(base, 'GET', '/readyz'), 'GET /readyz');
    const health = await call(base, 'GET', '/healthz');
    assert.equal(health.status, 200, health.body);
    assert.deepEqual(health.json(), { status: 'ok' });
    const metrics = await call(base, 'GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.ok(
      sample(metrics.body, 'kith_http_shed_total', { reason: 'eventLoopDelay' }) >= 4,
      'every refused request is counted',
    );
    assert.ok(
      sample(metrics.body, 'kith_http_shed_event_loop_delay_seconds', {}) > 0.2,
      'the measured delay is exported',
    );
    assert.ok(app.isUnderPressure(), 'the lag lasted through the checks');

    stopLag();
    await waitFor(() => !app.isUnderPressure(), 'shedding stops once the loop keeps up');
    await untilStatus(200, () => call(base, 'GET', '/api/v1/me', alice));
    await untilStatus(200, () => call(base, 'GET', '/readyz'));
    // The refused write never reached the database; a new one does.
    assert.equal(await posts(), postsBefore);
    const text = 'written after';
    await untilStatus(201, () => call(base, 'POST', '/api/v1/posts', alice, { text }));
    assert.equal(await posts(), postsBefore + 1);
  });

  it('lets a milder lag (turns of 40 ms, some 15 ms of delay) through', async () => {
    // Shedding is armed (the test above saw it); the lag is measured, under the limit.
    stopLag = lagEventLoop(40);
    try {
      await waitFor(async () => (await measured()) > 5, 'the milder lag is measured');
      for (let i = 0; i < 3; i++) {
        const res = await call(t.base, 'GET', '/api/v1/me', alice);
        assert.equal(res.status, 200, res.body);
      }
    } finally {
      stopLag();
    }
  });
});

describe('load shedding on event-loop utilization (SHED_MAX_EVENT_LOOP_UTILIZATION=0.9)', () => {
  let t: TestApp & { base: string };
  let stopLag: (() => void) | undefined;
  after(() => stopLag?.());

  before(async () => {
    t = await listening({ SHED_MAX_EVENT_LOOP_UTILIZATION: '0.9', SHED_SAMPLE_INTERVAL_MS: '200' });
  });

  it('sheds while the loop is saturated, even in short turns, and recovers', async () => {
    const { base, app } = t;
    // 20 ms turns: little delay, but the loop is never idle.
    stopLag = lagEventLoop(20);
    assertShed(await untilShed(() => call(base, 'GET', '/api/v1/users?q=a')), 'GET /users?q=a');
    assert.equal((await call(base, 'GET', '/healthz')).status, 200);
    const metrics = await call(base, 'GET', '/metrics');
    assert.ok(sample(metrics.body, 'kith_http_shed_total', { reason: 'eventLoopUtilization' }) > 0);
    stopLag();
    // Utilization is measured per sample, not since start-up, so it falls back at once.
    await waitFor(() => !app.isUnderPressure(), 'shedding stops');
    await untilStatus(200, () => call(base, 'GET', '/readyz'));
    await untilStatus(200, () => call(base, 'GET', '/api/v1/users?q=a'));
  });
});

describe('load shedding on heap size (SHED_MAX_HEAP_MB)', () => {
  it('sheds while the heap in use is above the limit', async () => {
    // Any running process uses more than 1 MiB of heap: always under pressure.
    const { base } = await listening({ SHED_MAX_HEAP_MB: '1' });
    assertShed(await untilShed(() => call(base, 'GET', '/api/v1/users?q=a')), 'GET /users?q=a');
    assert.equal((await call(base, 'GET', '/healthz')).status, 200);
    const metrics = await call(base, 'GET', '/metrics');
    assert.ok(sample(metrics.body, 'kith_http_shed_total', { reason: 'heapUsedBytes' }) > 0);
  });
});

describe('load shedding at start-up', () => {
  it('does not take a slow start-up for an overload', async () => {
    const { app } = await createTestApp({
      env: { ...OFF, SHED_MAX_EVENT_LOOP_DELAY_MS: '200', SHED_SAMPLE_INTERVAL_MS: '1000' },
    });
    // A start-up that keeps the loop busy for 2.5 s after load shedding began to measure.
    const end = performance.now() + 2_500;
    while (performance.now() < end) {
      // busy
    }
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    await waitFor(() => app.isUnderPressure(), 'the first sample saw the start-up');
    const res = await call(base, 'GET', '/api/v1/users?q=a');
    assert.equal(res.status, 200, res.body);
    assert.ok(app.isUnderPressure(), 'the call was made while the start-up sample held');
  });
});

describe('load shedding switched off (every SHED_MAX_* = 0)', () => {
  it('serves through a lag and a crowd that would otherwise be shed', async () => {
    const { app, base } = await listening({});
    const stop = lagEventLoop(400);
    try {
      // The plugin's own measure runs even when nothing is checked against it.
      await waitFor(() => app.memoryUsage().eventLoopDelay > 200, 'the lag is measured');
      // Each wave takes a few 400 ms turns: the later ones come long after shedding would have
      // been armed (150 ms after start-up at this sample interval).
      for (let i = 0; i < 3; i++) {
        const wave = await Promise.all(
          Array.from({ length: 20 }, () => call(base, 'GET', '/api/v1/users?q=a')),
        );
        assert.deepEqual(
          wave.map((r) => r.status),
          wave.map(() => 200),
        );
      }
      assert.equal((await call(base, 'GET', '/readyz')).status, 200);
    } finally {
      stop();
    }
  });
});

describe('load shedding settings', () => {
  it('defaults: shed beyond 200 ms of event-loop delay, sampled every second; the rest off', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      DATA_DIR: '/nonexistent',
      JWT_SECRET: 'x'.repeat(32),
    });
    assert.equal(config.shedMaxInFlight, 0);
    assert.equal(config.shedMaxEventLoopDelayMs, 200);
    assert.equal(config.shedSampleIntervalMs, 1000);
    assert.equal(config.shedMaxEventLoopUtilization, 0);
    assert.equal(config.shedMaxHeapMb, 0);
  });

  it('takes a utilization from 0 to 1 and refuses anything else', () => {
    const env = { NODE_ENV: 'test', DATA_DIR: '/nonexistent', JWT_SECRET: 'x'.repeat(32) };
    for (const [raw, want] of [
      ['0.98', 0.98],
      ['1', 1],
      ['.5', 0.5],
      ['0', 0],
    ] as const) {
      const config = loadConfig({ ...env, SHED_MAX_EVENT_LOOP_UTILIZATION: raw });
      assert.equal(config.shedMaxEventLoopUtilization, want);
    }
    for (const raw of ['1.5', '-0.1', 'abc', '98%']) {
      assert.throws(
        () => loadConfig({ ...env, SHED_MAX_EVENT_LOOP_UTILIZATION: raw }),
        (err: unknown) =>
          err instanceof ConfigError && /SHED_MAX_EVENT_LOOP_UTILIZATION/.test(err.message),
      );
    }
  });
});
