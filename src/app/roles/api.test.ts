import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { drain } from '../../../test/support/drain.ts';
import { newUser } from '../../../test/support/factories.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { startApi } from './api.ts';
import { startWorker } from './worker.ts';

describe('api role', () => {
  it('without PUBLIC_URL, mail links name the port the server bound (PORT=0)', async () => {
    const { ctx } = await createTestApp({
      env: { HOST: '127.0.0.1', PORT: '0', PUBLIC_URL: '', OUTBOX_POLL_MS: '10' },
    });
    assert.equal(ctx.config.publicUrlFromPort, true);
    const worker = await startWorker(ctx);
    const api = await startApi(ctx);
    try {
      const port = new URL(api.url).port;
      assert.notEqual(port, '0');
      assert.equal(ctx.mailLinks.publicUrl, `http://localhost:${port}`);

      const res = await fetch(`${api.url}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(newUser()),
      });
      assert.equal(res.status, 201);
      await drain(ctx);
      const files = readdirSync(ctx.config.mailDir).filter((f) => f.endsWith('.eml'));
      assert.equal(files.length, 1, 'the welcome mail');
      const mail = readFileSync(join(ctx.config.mailDir, files[0]!), 'utf8');
      assert.ok(
        mail.includes(`Confirm your address: http://localhost:${port}/api/v1/auth/ver`),
        `verification link on the bound port:\n${mail}`,
      );
      assert.ok(!mail.includes('localhost:5000'));
    } finally {
      await api.stop();
      await worker.stop();
    }
  });

  it('keeps an explicit PUBLIC_URL', async () => {
    const { ctx } = await createTestApp({
      env: { HOST: '127.0.0.1', PORT: '0', PUBLIC_URL: 'https://kith.example' },
    });
    const api = await startApi(ctx);
    await api.stop();
    assert.equal(ctx.mailLinks.publicUrl, 'https://kith.example');
  });
});
