/**
 * SIGTERM under load (issue 11), on a real `kith serve` (every role in one process): on the
 * embedded stack (PGlite, in-process bus) and, when DATABASE_URL, REDIS_URL and AMQP_URL are
 * set, on the real services. While clients keep commenting, and with two requests begun but not
 * yet finished (their bodies still uploading), the process gets SIGTERM. Every request it had begun is answered; a request it never began (it
 * reached a closing connection) wrote nothing; every accepted comment is stored; streams end
 * cleanly (WebSocket 1001, SSE closed); the process exits 0 within 5 s. The next process on the
 * same database delivers the events that were still waiting: one notification per comment.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { dataDir, startKith, type KithProcess } from '../support/processes.ts';
import { callServer } from '../support/http-client.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';
import { createTestDatabase, postgresUrl } from '../support/test-databases.ts';
import { waitFor } from '../support/wait.ts';

const API = '/api/v1';
const REAL = Boolean(postgresUrl() && redisUrl() && amqpUrl());
if (REAL) await testRedis(); // removes this file's Redis keys afterwards
/** From SIGTERM to exit. */
const EXIT_BOUND_MS = 5_000;
const CLIENTS = 4;

type User = { id: string; username: string; token: string };
type Outcome = { reqId: string; text: string; status?: number; error?: string };

async function signUp(base: string): Promise<User> {
  const username = `sd_${randomBytes(5).toString('hex')}`;
  const password = 'correct-horse-1';
  const body = { username, password, email: `${username}@example.com`, dob: '1990-01-01' };
  const reg = await callServer(base, 'POST', `${API}/auth/register`, body);
  assert.equal(reg.status, 201, reg.text);
  const login = await callServer(base, 'POST', `${API}/auth/login`, { login: username, password });
  assert.equal(login.status, 200, login.text);
  return { id: reg.json().id!, username, token: login.json().access_token! };
}

/** One request with its own request id; a network failure is recorded, not thrown. */
async function send(
  base: string,
  path: string,
  body: object,
  token: string,
  text = '',
  reqId = randomBytes(8).toString('hex'),
) {
  const outcome: Outcome = { reqId, text };
  try {
    const res = await fetch(base + path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        'x-request-id': outcome.reqId,
      },
      body: JSON.stringify(body),
    });
    await res.arrayBuffer();
    outcome.status = res.status;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    outcome.error = cause?.code ?? cause?.message ?? String(err);
  }
  return outcome;
}

/**
 * A comment whose request the server begins now (headers and the start of the body) and which
 * `finish` completes; `status` is the answer's.
 */
function slowComment(base: string, postId: string, token: string, text: string) {
  const body = JSON.stringify({ text });
  const reqId = `slow-${randomBytes(6).toString('hex')}`;
  const req = request(new URL(`${API}/posts/${postId}/comments`, base), {
    method: 'POST',
    agent: false,
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      authorization: `Bearer ${token}`,
      'x-request-id': reqId,
    },
  });
  const status = new Promise<number | undefined>((resolve, reject) => {
    req.on('response', (res) => res.resume().on('end', () => resolve(res.statusCode)));
    req.on('error', reject);
  });
  req.write(body.slice(0, 4));
  return { reqId, text, status, finish: () => void req.end(body.slice(4)) };
}

describe('SIGTERM under load', { timeout: 180_000 }, () => {
  it('finishes what it began, loses no accepted write, closes streams, exits 0', async (t) => {
    // The same data for the next process: a PGlite folder, or a Postgres database and prefixes.
    const amqpPrefix = `${testPrefix}.sigterm`;
    const database = REAL ? await createTestDatabase() : undefined;
    t.after(async () => {
      if (REAL) await deleteAmqpTopology(amqpUrl()!, amqpPrefix, ['feed', 'mail', 'notifications']);
      await database?.drop();
    });
    const env = {
      DATA_DIR: dataDir(),
      ...(REAL && {
        DATABASE_URL: database!.databaseUrl,
        REDIS_URL: redisUrl(),
        REDIS_PREFIX: `${testPrefix}:sigterm:`,
        AMQP_URL: amqpUrl(),
        AMQP_PREFIX: amqpPrefix,
      }),
    };
    let kith: KithProcess = await startKith('serve', env);
    const base = kith.url;

    const author = await signUp(base);
    const commenters = await Promise.all(Array.from({ length: CLIENTS }, () => signUp(base)));
    const post = await callServer(
      base,
      'POST',
      `${API}/posts`,
      { text: 'talk here' },
      author.token,
    );
    assert.equal(post.status, 201, post.text);
    const postId = post.json().id!;

    // The author's streams: a WebSocket and an SSE response.
    const socket = new WebSocket(new URL(`${API}/stream`, base), {
      headers: { authorization: `Bearer ${author.token}` },
    });
    t.after(() => socket.terminate());
    const socketClosed = new Promise<number>((resolve) => socket.once('close', resolve));
    const events: { seq: number; type: string }[] = [];
    socket.on('message', (raw: Buffer) => events.push(JSON.parse(raw.toString())));
    await waitFor(() => events.length > 0, 'the ready event');
    const from = events[0]!.seq;
    const sse = await fetch(`${base}${API}/stream/sse`, {
      headers: { authorization: `Bearer ${author.token}` },
    });
    assert.equal(sse.status, 200);
    const sseEnded = sse.text().then(
      () => 'ended',
      (err: unknown) => `failed: ${String(err)}`,
    );

    // The load: each commenter comments in a loop until its first refusal.
    const outcomes: Outcome[] = [];
    const commenter = async (user: User, n: number) => {
      for (let i = 0; ; i++) {
        const text = `c${n}-${i}-${randomBytes(3).toString('hex')}`;
        const path = `${API}/posts/${postId}/comments`;
        const outcome = await send(base, path, { text }, user.token, text);
        outcomes.push(outcome);
        if (outcome.status !== 201 || i > 5_000) return;
      }
    };
    const load = Promise.all(commenters.map(commenter));
    await waitFor(() => outcomes.filter((o) => o.status === 201).length >= 40, '40 comments');
    // Two requests surely in flight: begun (headers read), their bodies sent only once the
    // server is draining.
    const slow = [0, 1].map((n) => slowComment(base, postId, commenters[n]!.token, `slow ${n}`));
    await waitFor(() => {
      const begun = new Set(kith.logged('incoming request').map((l) => l.reqId));
      return slow.every((r) => begun.has(r.reqId));
    }, 'the slow requests begun');
    const sigtermAt = Date.now();
    kith.child.kill('SIGTERM');
    await waitFor(() => kith.logged('shutting down: draining').length > 0, 'draining');
    for (const r of slow) r.finish();
    const exit = await kith.exited;
    const exitMs = Date.now() - sigtermAt;
    await load;

    assert.deepEqual(exit, { code: 0, signal: null }, kith.lines.slice(-5).join('\n'));
    assert.ok(exitMs < EXIT_BOUND_MS, `exited ${exitMs} ms after SIGTERM`);
    const order = ['shutting down: draining', 'stopped'].map((msg) =>
      kith.lines.findIndex((l) => JSON.parse(l.startsWith('{') ? l : '{}').msg === msg),
    );
    assert.ok(order[0]! >= 0 && order[1]! > order[0]!, 'logged draining, then stopped');
    assert.deepEqual(
      await Promise.all(slow.map((r) => r.status)),
      [201, 201],
      'the requests in flight at SIGTERM finished',
    );
    assert.equal(await socketClosed, 1001, 'the WebSocket closed as "going away"');
    assert.equal(await sseEnded, 'ended', 'the SSE response ended cleanly');

    // Every request the server began got an answer. One that failed at the connection (refused
    // once the server stopped listening, or sent on a keep-alive connection in the instant the
    // server closed it as idle) was never begun, and wrote nothing (checked below).
    const begun = new Set(kith.logged('incoming request').map((l) => l.reqId));
    for (const o of outcomes.filter((o) => o.error !== undefined))
      assert.ok(!begun.has(o.reqId), `request ${o.reqId} was begun, then cut: ${o.error}`);
    const accepted = [...outcomes.filter((o) => o.status === 201), ...slow];
    const refused = outcomes.filter((o) => o.status !== 201);
    assert.deepEqual(
      [...new Set(refused.map((o) => o.status ?? o.error))].filter(
        (s) => ![503, 'ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(s!),
      ),
      [],
      'refused only by a closing server',
    );

    // The next process on the same data: every accepted comment stored, no refused one, and
    // each one's notification delivered once (the events still waiting are published now).
    kith = await startKith('serve', env);
    /** Every item of a list, page after page. */
    const all = async <T>(path: string): Promise<T[]> => {
      const items: T[] = [];
      for (let cursor: string | null = ''; cursor !== null;) {
        const query = `limit=100${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await callServer(kith.url, 'GET', `${path}?${query}`, undefined, author.token);
        const body = page.json<{ items: T[]; next_cursor: string | null }>();
        items.push(...body.items);
        cursor = body.next_cursor;
      }
      return items;
    };
    const stored = await all<{ text: string }>(`${API}/posts/${postId}/comments`);
    assert.deepEqual(
      stored.map((c) => c.text).sort(),
      accepted.map((o) => o.text).sort(),
      'exactly the accepted comments are stored',
    );
    const ids = await waitFor(
      async () => {
        const notes = await all<{ type: string; comment_id: string }>(`${API}/notifications`);
        const got = notes.filter((n) => n.type === 'comment').map((n) => n.comment_id);
        return got.length >= accepted.length && got;
      },
      'a notification per accepted comment',
      30_000,
    );
    assert.equal(new Set(ids).size, ids.length, 'none twice');
    assert.equal(ids.length, accepted.length);
    // The stream log kept pace: one notification event per comment after the WebSocket's start.
    const resumed = new WebSocket(new URL(`${API}/stream?since=${from}`, kith.url), {
      headers: { authorization: `Bearer ${author.token}` },
    });
    t.after(() => resumed.terminate());
    const replay: { type: string }[] = [];
    resumed.on('message', (raw: Buffer) => replay.push(JSON.parse(raw.toString())));
    await waitFor(() => replay.length >= accepted.length, 'the stream log replayed');
    assert.equal(replay.filter((e) => e.type === 'notification').length, accepted.length);
    kith.child.kill('SIGTERM');
    assert.deepEqual(await kith.exited, { code: 0, signal: null });
  });
});
