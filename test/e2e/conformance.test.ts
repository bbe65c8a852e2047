/**
 * Conformance of the HTTP surface (issue 17, part 5), on a real server: what Node's parser
 * refuses is problem+json too; the OpenAPI document says what is sent (optional parameters with
 * defaults, the stream routes, problem+json error bodies); a client's bad WebSocket frame is not
 * logged as a server error; streams per user are capped (STREAMS_PER_USER).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { API_PREFIX as API } from '../../src/http/types.ts';
import { createAccount, type Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';

const CAP = 3;
const { app, logs } = await createTestApp({
  env: { STREAMS_PER_USER: String(CAP), SHED_MAX_EVENT_LOOP_DELAY_MS: '0' },
  captureLogs: true,
});
const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
const { port } = new URL(base);

type Op = {
  parameters?: { in: string; name: string; required?: boolean; schema: { default?: unknown } }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { description?: string; content?: Record<string, unknown> }>;
  security?: Record<string, string[]>[];
};
const doc = (await app.inject('/openapi.json')).json<{
  paths: Record<string, Record<string, Op>>;
}>();
const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })),
);

/** Sends `raw` over a fresh TCP connection; resolves with everything the server wrote. */
function rawHttp(raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(raw));
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('utf8')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('requests Node cannot parse', () => {
  it('an unknown method is 501 problem+json with a stable code', async () => {
    const answer = await rawHttp(`FOO ${API}/posts/abc HTTP/1.1\r\nHost: x\r\n\r\n`);
    const [head, body] = answer.split('\r\n\r\n');
    assert.match(head!, /^HTTP\/1\.1 501 /);
    assert.match(head!, /\r\ncontent-type: application\/problem\+json/i);
    const problem = JSON.parse(body!) as { status: number; code: string; type: string };
    assert.equal(problem.status, 501);
    assert.equal(problem.code, 'method_not_implemented');
    assert.equal(problem.type, 'urn:kith:problem:method_not_implemented');
  });

  it('a malformed request line is 400 problem+json', async () => {
    const answer = await rawHttp(`GET /a b c\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 400 /);
    const problem = JSON.parse(answer.split('\r\n\r\n')[1]!) as { code: string };
    assert.equal(problem.code, 'bad_request');
  });
});

describe('the OpenAPI document', () => {
  it('never requires a parameter that has a default', () => {
    const wrong = operations.flatMap(({ name, op }) =>
      (op.parameters ?? [])
        .filter((p) => p.required && p.schema.default !== undefined)
        .map((p) => `${name} ${p.in} ${p.name}`),
    );
    assert.deepEqual(wrong, []);
    const limit = operations.filter(({ op }) => op.parameters?.some((p) => p.name === 'limit'));
    assert.ok(limit.length >= 14, `${limit.length} operations take limit`);
    const param = (name: string, p: string) =>
      operations.find((o) => o.name === name)?.op.parameters?.find((x) => x.name === p);
    assert.equal(param(`GET ${API}/users`, 'q')?.required ?? false, false);
    assert.equal(param(`GET ${API}/friend-requests`, 'direction')?.required ?? false, false);
  });

  it('declares every error body as application/problem+json, never application/json', () => {
    const wrong: string[] = [];
    for (const { name, op } of operations) {
      assert.ok(op.responses.default, `${name} documents its errors`);
      for (const [status, response] of Object.entries(op.responses)) {
        if (status !== 'default' && Number(status) < 400) continue;
        const types = Object.keys(response.content ?? {});
        if (types.join() !== 'application/problem+json')
          wrong.push(`${name} ${status} ${types.join()}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('documents the WebSocket and SSE streams', () => {
    const ws = doc.paths[`${API}/stream`]?.get;
    const sse = doc.paths[`${API}/stream/sse`]?.get;
    assert.ok(ws, 'GET /stream is documented');
    assert.ok(sse, 'GET /stream/sse is documented');
    for (const op of [ws, sse]) {
      const query = (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      assert.deepEqual(query.sort(), ['access_token', 'since']);
      assert.ok(op.security?.some((s) => 'bearerAuth' in s));
      for (const status of ['401', '429', 'default'])
        assert.ok(op.responses[status]?.content?.['application/problem+json'], status);
    }
    assert.ok(ws.responses['101'], 'the upgrade');
    assert.ok(ws.responses['426']?.content?.['application/problem+json'], 'no upgrade');
    assert.ok(sse.responses['200']?.content?.['text/event-stream'], 'the event stream');
    assert.ok(sse.parameters?.some((p) => p.in === 'header' && p.name === 'last-event-id'));
  });
});

describe('streams', () => {
  let me: Account;
  let other: Account;
  const open: (() => void)[] = [];
  before(async () => {
    [me, other] = await Promise.all([createAccount(app), createAccount(app)]);
  });
  after(() => open.forEach((close) => close()));

  const wsUrl = `${base.replace(/^http/, 'ws')}${API}/stream`;
  const sseUrl = `${base}${API}/stream/sse`;

  function openWs(who: Account): Promise<WebSocket> {
    const socket = new WebSocket(wsUrl, { headers: who.auth });
    open.push(() => socket.terminate());
    return new Promise((resolve, reject) =>
      socket.once('open', () => resolve(socket)).once('error', reject),
    );
  }
  /** A WebSocket handshake that is refused: its status and problem+json body. */
  function refusedWs(who: Account): Promise<{ status: number; body: string; type: string }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(wsUrl, { headers: who.auth });
      socket.on('unexpected-response', (req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) });
          req.destroy();
        });
      });
      socket.on('open', () => (socket.terminate(), reject(new Error('upgraded past the cap'))));
      socket.on('error', () => {});
    });
  }
  async function openSse(who: Account): Promise<Response> {
    const abort = new AbortController();
    open.push(() => abort.abort());
    return fetch(sseUrl, { headers: who.auth, signal: abort.signal });
  }

  it(`caps the streams a user holds open at STREAMS_PER_USER (${CAP}), WebSocket and SSE together`, async () => {
    const sockets = [await openWs(me), await openWs(me)];
    const sse = await openSse(me);
    assert.equal(sse.status, 200);
    // One more of either kind: 429 with a stable code, before any upgrade or event.
    const ws = await refusedWs(me);
    assert.equal(ws.status, 429);
    assert.match(ws.type, /^application\/problem\+json/);
    assert.equal((JSON.parse(ws.body) as { code: string }).code, 'too_many_streams');
    const refused = await openSse(me);
    assert.equal(refused.status, 429);
    assert.match(String(refused.headers.get('content-type')), /^application\/problem\+json/);
    assert.equal(((await refused.json()) as { code: string }).code, 'too_many_streams');
    // Someone else is not affected.
    await openWs(other);
    // Closing one frees its place.
    const closed = new Promise((resolve) => sockets[0]!.once('close', resolve));
    sockets[0]!.close();
    await closed;
    for (let i = 0; (await refusedOrOpen()) !== 'open'; i++) {
      assert.ok(i < 50, 'a place was freed');
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  /** Opens one more SSE stream for `me` if there is room; 'refused' otherwise. */
  async function refusedOrOpen(): Promise<'open' | 'refused'> {
    const res = await openSse(me);
    return res.status === 429 ? 'refused' : 'open';
  }

  it('a bad WebSocket frame is not logged as a server error', async () => {
    const socket = await openWs(other);
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    const before = logs.length;
    // Opcode 0x3 is reserved (RFC 6455 5.2): the server must fail the connection (1002).
    (socket as unknown as { _socket: Socket })._socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]));
    assert.equal(await closed, 1002);
    await new Promise((r) => setTimeout(r, 50));
    const lines = logs.slice(before).map((l) => JSON.parse(l) as { level: number; err?: unknown });
    assert.deepEqual(
      lines.filter((l) => l.level >= 40 || l.err !== undefined),
      [],
      'no warning, error or stack for a client mistake',
    );
  });
});
