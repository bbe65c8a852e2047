/**
 * The deployment's shape without containers: two API processes (`ROLES=api`) and a worker
 * (`ROLES=worker`) on the real Postgres, Redis and RabbitMQ, behind Debian's nginx running the
 * configuration of deploy/nginx (scripts/cluster.ts, as `npm run cluster`).
 * Split roles need the real services, so the embedded run skips this file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import {
  findNginx,
  startCluster,
  type Cluster,
  type ClusterProcess,
} from '../../scripts/cluster.ts';
import { signUpOn, type ServerUser } from '../support/api.ts';
import { TEST_JWT_SECRET } from '../support/harness.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';
import { createTestDatabase, postgresUrl, type TestDatabase } from '../support/test-databases.ts';
import { waitFor } from '../support/wait.ts';

const real = Boolean(postgresUrl() && redisUrl() && amqpUrl());
const skip = real
  ? false
  : 'needs DATABASE_URL, REDIS_URL and AMQP_URL: API nodes and the worker are separate processes';
// Keys under the file's prefix are removed after the file.
if (real) await testRedis();

/** The worker's consumer groups, whose queues the bus declared under the file's prefix. */
const GROUPS = ['feed', 'mail', 'notifications'];

type Ev = { seq: number; type: string; data: { text?: string; sender?: { id: string } } };
type Res = { status: number; node: string | null; headers: Headers; body: Body };
type Body = Record<string, string | undefined>;
type Account = ServerUser;

let cluster: Cluster;
let database: TestDatabase | undefined;
let dataDir = '';
const sockets = new Set<WebSocket>();
const streams = new Set<AbortController>();

/** A JSON request through nginx (or straight to `base`). */
async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; base?: string } = {},
): Promise<Res> {
  const res = await fetch((opts.base ?? cluster.url) + path, {
    method,
    headers: {
      ...(opts.body !== undefined && { 'content-type': 'application/json' }),
      ...(opts.token && { authorization: `Bearer ${opts.token}` }),
      ...opts.headers,
    },
    ...(opts.body !== undefined && {
      body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
    }),
  });
  const text = await res.text();
  const json = res.headers.get('content-type')?.includes('json');
  return {
    status: res.status,
    node: res.headers.get('x-kith-node'),
    headers: res.headers,
    body: json && text ? JSON.parse(text) : text,
  };
}

const account = () => signUpOn(cluster.url, 'cl');

/** Sends `from` → `to` a direct message through nginx; returns the response. */
async function message(from: Account, to: Account, text: string): Promise<Res> {
  const conv = await call('POST', '/api/v1/conversations', {
    token: from.token,
    body: { username: to.username },
  });
  assert.ok([200, 201].includes(conv.status), JSON.stringify(conv.body));
  return call('POST', `/api/v1/conversations/${conv.body.id}/messages`, {
    token: from.token,
    body: { text },
  });
}

/** The API node whose log has the request with this id. */
const nodeOf = (requestId: string): Promise<ClusterProcess> =>
  waitFor(
    () => cluster.api.find((p) => p.lines.some((l) => l.includes(`"reqId":"${requestId}"`))),
    `the node that logged request ${requestId}`,
  );
/** The client address the node that served `requestId` saw (Fastify's request.ip). */
async function clientIpOf(requestId: string): Promise<string> {
  const node = await nodeOf(requestId);
  const line = node.lines.find((l) => l.includes(`"reqId":"${requestId}"`))!;
  return (JSON.parse(line) as { req: { remoteAddress: string } }).req.remoteAddress;
}

/** A GET from a chosen loopback address, with chosen headers. */
function getFrom(localAddress: string, url: string, headers: Record<string, string>) {
  return new Promise<number>((resolve, reject) => {
    get(url, { headers, localAddress, agent: false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });
}

/** B's WebSocket through nginx; `requestId` lets the test find the node that holds it. */
async function openSocket(user: Account, requestId: string, since?: number) {
  const query = since === undefined ? '' : `?since=${since}`;
  const socket = new WebSocket(`${cluster.url.replace('http', 'ws')}/api/v1/stream${query}`, {
    headers: { authorization: `Bearer ${user.token}`, 'x-request-id': requestId },
  });
  sockets.add(socket);
  const events: Ev[] = [];
  socket.on('message', (raw: Buffer) => events.push(JSON.parse(raw.toString()) as Ev));
  const closed = new Promise<number>((resolve) => socket.once('close', resolve));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return { socket, events, closed, node: await nodeOf(requestId) };
}

/** An SSE stream through nginx, parsed into events. */
async function openSse(user: Account, requestId: string) {
  const abort = new AbortController();
  streams.add(abort);
  const res = await fetch(`${cluster.url}/api/v1/stream/sse`, {
    headers: { authorization: `Bearer ${user.token}`, 'x-request-id': requestId },
    signal: abort.signal,
  });
  assert.equal(res.status, 200);
  const events: Ev[] = [];
  void (async () => {
    let buffer = '';
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      for (let end; (end = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(end + 2)) {
        const data = /^data: (.*)$/m.exec(buffer.slice(0, end));
        if (data) events.push(JSON.parse(data[1]!) as Ev);
      }
    }
  })().catch(() => undefined); // ends with the abort
  return { events, node: await nodeOf(requestId) };
}

const received = (events: Ev[], text: string) =>
  waitFor(
    () => events.find((e) => e.type === 'message' && e.data.text === text),
    `message "${text}" on the stream`,
    // Node-to-node delivery is the RabbitMQ broadcast; the log check runs only every 600 s.
    10_000,
  );
const other = (node: ClusterProcess) => cluster.api.find((p) => p !== node)!;

describe('two API nodes and a worker behind nginx', { skip }, () => {
  before(async () => {
    assert.ok(findNginx(), 'nginx is not installed: .ci/run installs it (apt-get install nginx)');
    database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'kith-cluster-data-'));
    cluster = await startCluster({
      apiNodes: 2,
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: database.databaseUrl,
        REDIS_URL: redisUrl(),
        REDIS_PREFIX: `${testPrefix}:cluster:`,
        AMQP_URL: amqpUrl(),
        AMQP_PREFIX: `${testPrefix}.cluster`,
        JWT_SECRET: TEST_JWT_SECRET,
        DATA_DIR: dataDir,
        BCRYPT_COST: '4',
        OUTBOX_POLL_MS: '10',
        RATE_LIMIT_AUTH_PER_IP: '10000',
        STREAM_HEARTBEAT_SECONDS: '600',
      },
    });
  });
  after(async () => {
    for (const socket of sockets) socket.terminate();
    for (const stream of streams) stream.abort();
    await cluster?.stop(5_000);
    await database?.drop();
    await deleteAmqpTopology(amqpUrl()!, `${testPrefix}.cluster`, GROUPS);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('spreads requests over both nodes, passes request ids and the client address, limits bodies', async () => {
    const served: Record<string, number> = {};
    for (let i = 0; i < 20; i++) {
      const res = await call('GET', '/healthz');
      assert.equal(res.status, 200);
      served[res.node!] = (served[res.node!] ?? 0) + 1;
    }
    assert.deepEqual(Object.keys(served).sort(), ['api-1', 'api-2']);
    assert.ok(served['api-1']! >= 5 && served['api-2']! >= 5, JSON.stringify(served));

    // nginx makes a request id unless the caller sent one; the node answers with it.
    assert.match((await call('GET', '/healthz')).headers.get('x-request-id')!, /^[0-9a-f]{32}$/);
    const given = await call('GET', '/healthz', { headers: { 'x-request-id': 'trace-42.a' } });
    assert.equal(given.headers.get('x-request-id'), 'trace-42.a');

    // A client at 127.0.0.2 claiming to be 203.0.113.7: through nginx (a trusted proxy) the
    // node sees the real client; straight from an untrusted address the claim is ignored;
    // from the proxy's own address it is believed.
    const spoof = { 'x-forwarded-for': '203.0.113.7' };
    const ids = ['through-nginx', 'direct-untrusted', 'direct-trusted'].map(
      (n) => `${n}-${randomBytes(3).toString('hex')}`,
    );
    const node = cluster.api[0]!;
    assert.equal(
      await getFrom('127.0.0.2', `${cluster.url}/healthz`, { ...spoof, 'x-request-id': ids[0]! }),
      200,
    );
    assert.equal(
      await getFrom('127.0.0.2', `${node.url}/healthz`, { ...spoof, 'x-request-id': ids[1]! }),
      200,
    );
    assert.equal(
      await getFrom('127.0.0.1', `${node.url}/healthz`, { ...spoof, 'x-request-id': ids[2]! }),
      200,
    );
    assert.deepEqual(await Promise.all(ids.map(clientIpOf)), [
      '127.0.0.2',
      '127.0.0.2',
      '203.0.113.7',
    ]);

    // Bodies over the app's 1 MiB stop at nginx.
    const big = await call('POST', '/api/v1/auth/login', { body: 'x'.repeat(1_100_000) });
    assert.deepEqual([big.status, big.node], [413, null]);

    // Metrics are not published through nginx; each node still serves them to a scraper.
    assert.equal((await call('GET', '/metrics')).status, 404);
    assert.equal((await call('GET', '/metrics', { base: node.url })).status, 200);

    // The worker answers its liveness probe on METRICS_PORT.
    const probe = await call('GET', '/healthz', {
      base: cluster.worker.url.replace(/\/metrics$/, ''),
    });
    assert.deepEqual([probe.status, probe.body], [200, { status: 'ok' }]);
  });

  it('delivers a message written through one node to streams held through the other', async () => {
    const [a, b] = [await account(), await account()];
    const ws = await openSocket(b, `ws-${randomBytes(4).toString('hex')}`);
    // least_conn: the node holding B's socket is busy, so the next request goes to the other.
    const first = await message(a, b, 'hello across nodes');
    assert.deepEqual([first.status, first.node], [201, other(ws.node).name]);
    assert.equal((await received(ws.events, 'hello across nodes')).data.sender?.id, a.id);

    // An SSE stream also goes to the less busy node, and is not buffered by nginx.
    const sse = await openSse(b, `sse-${randomBytes(4).toString('hex')}`);
    assert.equal(sse.node, other(ws.node));
    const second = await message(a, b, 'to both streams');
    assert.equal(second.status, 201);
    await received(ws.events, 'to both streams');
    await received(sse.events, 'to both streams');
  });

  it('keeps every request succeeding when a node is killed mid-run; a stream resumes on the survivor', async () => {
    const [a, b] = [await account(), await account()];
    const ws = await openSocket(b, `ws-${randomBytes(4).toString('hex')}`);
    await message(a, b, 'before the crash');
    const lastSeq = (await received(ws.events, 'before the crash')).seq;
    const [victim, survivor] = [ws.node, other(ws.node)];

    // Three clients read in a loop; the node holding B's socket is killed (SIGKILL) mid-run.
    const results: { status: number; node: string | null; afterKill: boolean }[] = [];
    let killedAt = 0;
    const reader = async () => {
      for (let i = 0; i < 40; i++) {
        const sent = Date.now();
        const res = await call('GET', '/api/v1/me', { token: a.token });
        results.push({
          status: res.status,
          node: res.node,
          afterKill: killedAt > 0 && sent > killedAt,
        });
        if (results.length === 30) {
          victim.child.kill('SIGKILL');
          killedAt = Date.now();
        }
      }
    };
    await Promise.all([reader(), reader(), reader()]);
    assert.equal(await victim.exited, null, 'the node was killed by the signal');
    assert.deepEqual(
      results.filter((r) => r.status !== 200),
      [],
      'no request failed',
    );
    assert.ok(
      results.some((r) => !r.afterKill && r.node === victim.name),
      'the victim served before',
    );
    const later = results.filter((r) => r.afterKill);
    assert.ok(later.length >= 60, `${later.length} requests after the kill`);
    assert.deepEqual(new Set(later.map((r) => r.node)), new Set([survivor.name]));
    // nginx's log shows the failover: a read tried on the dead node, then answered by the other.
    const host = (p: ClusterProcess) => new URL(p.url).host;
    const log = readFileSync(join(cluster.dir, 'access.log'), 'utf8');
    assert.match(
      log,
      new RegExp(`upstream=${host(victim)}, ${host(survivor)} upstream_status=50\\d, 200 `),
    );

    // B's socket went down with its node; a write now lands on the survivor, and B, reconnecting
    // through nginx from its last seq, gets what it missed.
    await ws.closed;
    const missed = await message(a, b, 'while you were away');
    assert.deepEqual([missed.status, missed.node], [201, survivor.name]);
    const again = await openSocket(b, `ws-${randomBytes(4).toString('hex')}`, lastSeq);
    assert.equal(again.node, survivor);
    await received(again.events, 'while you were away');
    assert.deepEqual(
      again.events.map((e) => e.seq),
      [lastSeq + 1],
      'resumed right after the last event seen',
    );
  });
});
