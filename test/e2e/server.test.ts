import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { createTestDatabase, postgresUrl } from '../support/test-databases.ts';
import { callServer } from '../support/http-client.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

interface Server {
  url: string;
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

/** Starts `kith serve` as a real process and resolves once it logs the URL it serves on. */
async function startServer(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', BCRYPT_COST: '4', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'kith is serving' && entry.url) resolve(entry.url);
    });
    child.stderr.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    void exited.then((code) => reject(new Error(`server exited (${code}): ${lines.join('\n')}`)));
  });
  return { url, child, lines, exited };
}

async function stop(server: Server): Promise<number | null> {
  server.child.kill('SIGTERM');
  return server.exited;
}

async function call(server: Server, method: string, path: string, body?: unknown, token?: string) {
  const res = await callServer(server.url, method, path, body, token);
  return { status: res.status, body: res.text ? res.json<Record<string, unknown>>() : {} };
}

// On Postgres runs the server uses this file's own database; otherwise PGlite in its data folder.
const database = postgresUrl() ? await createTestDatabase() : undefined;
after(() => database?.drop());
const dbEnv = (): Record<string, string> =>
  database?.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {};

describe('kith serve as a process', () => {
  it('serves the documented flow, stops cleanly on SIGTERM, and keeps data and sessions across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kith-e2e-'));
    const first = await startServer({ DATA_DIR: dataDir, ...dbEnv() });
    assert.equal((await call(first, 'GET', '/healthz')).status, 200);
    assert.equal(
      (await call(first, 'GET', '/readyz')).body.database,
      database ? 'postgres' : 'pglite',
    );

    const user = {
      username: 'e2e_ana',
      email: 'e2e_ana@example.com',
      password: 'correct-horse-1',
      dob: '1997-04-02',
    };
    assert.equal((await call(first, 'POST', '/api/v1/auth/register', user)).status, 201);
    const session = await call(first, 'POST', '/api/v1/auth/login', {
      login: user.username,
      password: user.password,
    });
    assert.equal(session.status, 200);
    const access = session.body.access_token as string;
    assert.equal(
      (await call(first, 'GET', '/api/v1/me', undefined, access)).body.username,
      'e2e_ana',
    );
    const refreshed = await call(first, 'POST', '/api/v1/auth/refresh', {
      refresh_token: session.body.refresh_token,
    });
    assert.equal(refreshed.status, 200);

    assert.equal(await stop(first), 0);
    assert.ok(
      first.lines.some((l) => l.includes('"msg":"stopped"')),
      'logged a clean stop',
    );

    // Same data folder: same development secret, same database.
    const second = await startServer({ DATA_DIR: dataDir, ...dbEnv() });
    after(() => void stop(second));
    assert.equal((await call(second, 'GET', '/api/v1/me', undefined, access)).status, 200);
    const logout = await call(second, 'POST', '/api/v1/auth/logout', {
      refresh_token: refreshed.body.refresh_token,
    });
    assert.equal(logout.status, 204);
    const afterLogout = await call(second, 'POST', '/api/v1/auth/refresh', {
      refresh_token: refreshed.body.refresh_token,
    });
    assert.equal(afterLogout.status, 401);
    assert.equal(await stop(second), 0);
  });

  it('refuses to start with a bad setting and names it', async () => {
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH, PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /configuration error: PORT/);
  });

  it('refuses to start in production without a JWT secret', async () => {
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 1);
    assert.match(stderr, /JWT_SECRET/);
  });
});
