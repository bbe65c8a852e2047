import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestApp } from '../test/support/harness.ts';
import { redactUrl } from './logger.ts';

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
