import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createTestApp, testConfig } from '../../test/support/harness.ts';
import { createContext } from './context.ts';
import { buildApp } from './http-app.ts';
import { createAccount } from '../../test/support/factories.ts';
import { createLogger } from '../logger.ts';
import { Writable } from 'node:stream';

const { app, ctx } = await createTestApp();

interface OpenApiOperation {
  requestBody?: { content: Record<string, { schema: unknown }> };
  parameters?: { in: string; name: string }[];
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
  security?: Record<string, string[]>[];
}

describe('HTTP plumbing', () => {
  it('serves liveness and readiness', async () => {
    const health = await app.inject('/healthz');
    assert.equal(health.statusCode, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
    const ready = await app.inject('/readyz');
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().database, ctx.database.kind);
  });

  it('answers unknown routes with problem+json', async () => {
    const res = await app.inject('/api/v1/nope');
    assert.equal(res.statusCode, 404);
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    const body = res.json();
    assert.equal(body.code, 'not_found');
    assert.equal(body.status, 404);
    assert.equal(body.type, 'urn:kith:problem:not_found');
    assert.equal(body.request_id, res.headers['x-request-id']);
  });

  it('refuses malformed JSON and unsupported media types with stable codes', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"login": ',
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'invalid_json');
    const xml = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/xml' },
      payload: '<login/>',
    });
    assert.equal(xml.statusCode, 415);
    assert.equal(xml.json().code, 'unsupported_media_type');
    const huge = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ login: 'x'.repeat(2 * 1024 * 1024), password: 'y' }),
    });
    assert.equal(huge.statusCode, 413);
    assert.equal(huge.json().code, 'payload_too_large');
  });

  it('echoes a sane request id and replaces an unsafe one', async () => {
    const given = await app.inject({
      url: '/healthz',
      headers: { 'x-request-id': 'edge-123.abc' },
    });
    assert.equal(given.headers['x-request-id'], 'edge-123.abc');
    const unsafe = await app.inject({
      url: '/healthz',
      headers: { 'x-request-id': 'bad id\twith spaces' },
    });
    assert.match(String(unsafe.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  it('sets security headers', async () => {
    const res = await app.inject('/healthz');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  });

  it('documents every route in OpenAPI 3.1 with request and response schemas', async () => {
    const res = await app.inject('/openapi.json');
    assert.equal(res.statusCode, 200);
    const doc = res.json<{
      openapi: string;
      paths: Record<string, Record<string, OpenApiOperation>>;
    }>();
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(app.routeTable.length >= 35, 'route table is populated');
    for (const route of app.routeTable) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      const name = `${route.method} ${route.url}`;
      assert.ok(op, `${name} is documented`);
      const success = Object.keys(op.responses).filter((code) => /^[12]/.test(code));
      assert.ok(success.length >= 1, `${name} documents its success response`);
      assert.ok(op.responses.default?.content, `${name} documents its error body`);
      if (route.body) {
        assert.ok(
          op.requestBody?.content['application/json']?.schema,
          `${name} documents its body`,
        );
      }
      if (route.url.includes(':')) {
        assert.ok(
          op.parameters?.some((p) => p.in === 'path'),
          `${name} documents its path parameters`,
        );
      }
      assert.equal(
        op.security?.some((s) => 'bearerAuth' in s) ?? false,
        route.auth !== 'none',
        `${name} declares its authentication`,
      );
    }
  });

  it('serves the interactive documentation', async () => {
    const res = await app.inject('/docs/');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] ?? '', /text\/html/);
  });
});

describe('failures', () => {
  it('a 500 never leaks internals', async () => {
    const { app: other } = await createTestApp();
    other.get('/boom', async () => {
      throw new Error('secret internals at /etc/passwd');
    });
    const res = await other.inject('/boom');
    assert.equal(res.statusCode, 500);
    assert.equal(res.json().code, 'internal_error');
    assert.doesNotMatch(res.body, /secret internals|passwd|stack/);
  });

  it('answers 503 quickly when Postgres is unreachable, and readiness fails', async () => {
    // Port 1 on loopback refuses connections: the database is "down" without touching the shared one.
    const down = await createContext(
      testConfig({ DATABASE_URL: 'postgres://kith@127.0.0.1:1/kith', DATABASE_POOL_SIZE: '2' }),
      { migrate: false },
    );
    const downApp = await buildApp(down);
    after(async () => {
      await downApp.close();
      await down.close();
    });
    const ready = await downApp.inject('/readyz');
    assert.equal(ready.statusCode, 503);
    assert.equal(ready.json().code, 'not_ready');
    const profile = await downApp.inject('/api/v1/users/ana');
    assert.equal(profile.statusCode, 503);
    assert.equal(profile.json().code, 'service_unavailable');
    assert.ok(profile.headers['retry-after']);
    assert.equal((await downApp.inject('/healthz')).statusCode, 200, 'still alive');
  });
});

describe('logs', () => {
  it('never contain passwords or tokens', async () => {
    const { app: logged, logs } = await createTestApp({ captureLogs: true });
    const account = await createAccount(logged, { password: 'super-secret-password-42' });
    await logged.inject({ url: '/api/v1/me', headers: account.auth });
    await logged.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: account.refreshToken },
    });
    await logged.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: account.username, password: 'wrong-password-99' },
    });
    const text = logs.join('\n');
    assert.ok(logs.length > 5, 'requests were logged');
    for (const secret of [
      account.password,
      'wrong-password-99',
      account.accessToken,
      account.refreshToken,
    ]) {
      assert.ok(!text.includes(secret), 'a secret reached the logs');
    }
  });

  it('redacts secret fields wherever they are logged', () => {
    const lines: string[] = [];
    const log = createLogger(
      'info',
      new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }),
    );
    log.info(
      {
        body: { password: 'p4ss', refresh_token: 'r3fresh' },
        req: { headers: { authorization: 'Bearer abc' } },
      },
      'x',
    );
    assert.doesNotMatch(lines.join(''), /p4ss|r3fresh|Bearer abc/);
    assert.match(lines.join(''), /\[redacted\]/);
  });
});
