/** The line `kith serve` logs when it is ready names its backends, and no credentials. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const SECRET = 'smtp-Passw0rd-never-logged';

describe('kith serve start-up line', { timeout: 240_000 }, () => {
  it('names database, cache, bus and mailer without passwords; JSON when stdout is no terminal', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kith-startup-'));
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: '0',
        DATA_DIR: dataDir,
        LOG_LEVEL: 'info',
        // Not contacted before the first mail: its password must still stay out of the logs.
        SMTP_URL: `smtp://kith:${SECRET}@127.0.0.1:2525`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const killer = setTimeout(() => child.kill('SIGKILL'), 200_000);
    try {
      const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          output.push(line);
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.msg === 'kith is serving') resolve(entry);
        });
        void exited.then((code) => reject(new Error(`exited ${code}: ${output.join('\n')}`)));
      });
      assert.equal(ready.database, `PGlite (${join(dataDir, 'pglite')})`);
      assert.equal(ready.cache, 'memory');
      assert.equal(ready.bus, 'in-process');
      assert.equal(ready.mailer, 'smtp://127.0.0.1:2525');
      assert.match(String(ready.url), /^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      child.kill('SIGTERM');
      await exited;
      clearTimeout(killer);
    }
    assert.equal(await exited, 0, output.join('\n'));
    assert.ok(!output.join('\n').includes(SECRET), 'the SMTP password is in the output');
  });
});
