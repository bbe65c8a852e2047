import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createTestApp } from '../test/support/harness.ts';
import { createLogger, prettyStream, redactUrl, wantsPretty } from './logger.ts';

describe('logs never carry credentials from URLs', () => {
  it('redacts token query parameters, and nothing else', () => {
    assert.equal(
      redactUrl('/api/v1/stream?since=3&access_token=abc.def&x=1'),
      '/api/v1/stream?since=3&access_token=[redacted]&x=1',
    );
    assert.equal(redactUrl('/verify?token=t1#frag'), '/verify?token=[redacted]#frag');
    assert.equal(redactUrl('/posts?limit=5'), '/posts?limit=5');
  });

  it('request logs show the stream and mail-link URLs without their tokens', async () => {
    const { app, logs } = await createTestApp({ captureLogs: true });
    await app.inject({ method: 'GET', url: '/api/v1/stream/sse?access_token=SECRET-ACCESS-1' });
    await app.inject({ method: 'GET', url: '/api/v1/auth/verify-email?token=SECRET-LINK-2' });
    const lines = logs.join('\n');
    assert.doesNotMatch(lines, /SECRET-/);
    assert.match(lines, /access_token=\[redacted\]/);
  });
});

describe('log format', () => {
  const capture = () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    return { lines, destination };
  };

  it('is pretty only on a terminal outside production', () => {
    assert.equal(wantsPretty('development', true), true);
    assert.equal(wantsPretty('test', true), true);
    assert.equal(wantsPretty('production', true), false);
    assert.equal(wantsPretty('development', false), false);
  });

  it('pretty lines are readable and still redacted', () => {
    const { lines, destination } = capture();
    const log = createLogger('info', destination, { pretty: true });
    log.info({ password: 'hunter2-secret', database: 'PGlite (./data/pglite)' }, 'kith is serving');
    const text = lines.join('');
    assert.match(text, /INFO.*kith is serving/);
    assert.match(text, /database: "PGlite \(\.\/data\/pglite\)"/);
    assert.ok(!text.includes('hunter2-secret'));
    assert.throws(() => JSON.parse(lines[0]!), 'not JSON');
  });

  it('falls back to JSON when pino-pretty is not installed', () => {
    const missing = () => {
      throw Object.assign(new Error("Cannot find module 'pino-pretty'"), {
        code: 'MODULE_NOT_FOUND',
      });
    };
    assert.equal(prettyStream(undefined, missing), undefined);
    const { lines, destination } = capture();
    createLogger('info', destination, { pretty: false }).info('plain');
    assert.equal((JSON.parse(lines[0]!) as { msg: string }).msg, 'plain');
  });
});
