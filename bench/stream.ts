/**
 * `npm run bench:stream [-- --real]`: real-time stream measurements (issue 6).
 *
 *  1. Delivery latency: 1,000 recipients, each with one WebSocket open on GET /api/v1/stream,
 *     all connected before measuring. Messages go through POST /api/v1/conversations/:id/messages
 *     at a steady rate (open loop), spread evenly over the recipients; each is timed from just
 *     before its POST is sent until the recipient's socket has the `message` event. Every message
 *     must arrive exactly once, on the right socket, with the recipient's seq going 1, 2, 3…
 *  2. Memory per idle connection: kith's process memory (after forced GCs) with no streams open,
 *     then with N idle WebSockets of N distinct users, for growing N (1,000, 5,000, 10,000 by
 *     default; up to the open-file limit with `--idle max`), next to a bare `ws` server measured
 *     the same way. Measured before the latency run, while the process has freed little.
 *
 * kith (api and worker roles) runs in this process, on the embedded stack or with `--real` (or
 * BENCH_REAL=1) on DATABASE_URL / REDIS_URL / AMQP_URL, in a database and under prefixes of its
 * own that are removed afterwards. The WebSockets live in one child process and the sender in
 * another (both this file, forked), so neither shares kith's event loop. Both children read one
 * clock (`performance.timeOrigin + performance.now()`, the same machine). Results are printed
 * and written to bench/results/. Options: --clients <n> --messages <n> (0: memory only)
 * --rate <msg/s> --senders <n> --idle <n,n,…> (idle steps; `max` = the open-file limit less a
 * margin, e.g. `--idle 1000,10000,max`).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket, { WebSocketServer } from 'ws';
import { SETTINGS } from '../src/config.ts';
import type { Context } from '../src/app/context.ts';
import { newId } from '../src/ids.ts';
import {
  cleanUp,
  busyWarning,
  fmt,
  machineInfo,
  machineLine,
  numberOption,
  onInterrupt,
  table,
  writeResults,
  type Figure,
} from './lib.ts';
import * as seed from './seed.ts';
import { startKith, wantsReal, type KithUnderTest } from './stack.ts';

const CHILD_ROLE = 'BENCH_STREAM_CHILD';
/** File descriptors kept free for everything but the streams (database, bus, HTTP, logs). */
const FD_MARGIN = 250;
/** The open-file limit asked for, when the current one is lower (it needs CAP_SYS_RESOURCE). */
const WANTED_FD_LIMIT = 65_536;
/** The issue's target: this many idle WebSockets in under 1 GiB. */
const IDLE_TARGET = 20_000;
const log = (line: string) => console.log(line);
/** Tries of a WebSocket upgrade refused with 503 (load shedding), 0.5 s apart. */
const SHED_ATTEMPTS = 60;
/** Epoch milliseconds with sub-millisecond resolution, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

/** The soft limit on open files of this process (Linux), or undefined. */
function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Raises this process's open-file limit (soft and hard) to WANTED_FD_LIMIT with `prlimit`, so
 * that it, and the children it forks afterwards, can hold 20,000 sockets. Raising the hard limit
 * needs CAP_SYS_RESOURCE (root, outside a container that drops it); returns why it failed, if so.
 */
function raiseOpenFileLimit(): string | undefined {
  const soft = openFileLimit();
  if (soft === undefined || soft >= WANTED_FD_LIMIT) return undefined;
  const r = spawnSync(
    'prlimit',
    ['--pid', String(process.pid), `--nofile=${WANTED_FD_LIMIT}:${WANTED_FD_LIMIT}`],
    { encoding: 'utf8' },
  );
  if (r.status === 0) return undefined;
  return (r.stderr || r.error?.message || `prlimit exited with ${r.status}`).trim();
}

/** `gc()`, exposed at run time (so `node bench/stream.ts` needs no --expose-gc). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

interface Mem {
  rss: number;
  heapUsed: number;
  /** Memory outside the JS heap that V8 knows of (Buffers, ArrayBuffers). */
  external: number;
}

async function settledMemory(gc: () => void): Promise<Mem> {
  for (let i = 0; i < 3; i++) {
    gc();
    await delay(100);
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

// ---------------------------------------------------------------------------------------------
// Children: the WebSocket clients and the sender, driven over IPC.

type Request =
  | { op: 'connect'; url: string; tokens: string[]; concurrency: number }
  | { op: 'await'; count: number; timeoutMs: number; graceMs: number }
  | { op: 'close' }
  | { op: 'memory' }
  | { op: 'send'; url: string; plan: { conversation: string; token: string }[]; rate: number };

/**
 * One `message` event as a client saw it: [socket, message number, received at, the message's
 * created_at (epoch ms: Postgres now(), the start of the sending transaction)].
 */
type Received = [number, number, number, number];

interface SendResult {
  /** When each POST was sent (epoch ms), by message number. */
  sentAt: number[];
  /** Each POST's response time (ms) and status. */
  postMs: number[];
  status: number[];
  /** How far behind its schedule the sender fell at worst (ms). */
  maxBehindMs: number;
  /** From the first POST sent to the last. */
  seconds: number;
}

async function runChild(): Promise<void> {
  const gc = collector();
  const sockets: WebSocket[] = [];
  const received: Received[] = [];
  /** Anything else a socket got, or did wrong: resyncs, gaps, errors, unexpected closes. */
  const anomalies: string[] = [];
  let waiter: (() => void) | undefined;
  let closing = false;

  function open(url: string, token: string, index: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers = token === '' ? {} : { authorization: `Bearer ${token}` };
      const ws = new WebSocket(url, { headers, handshakeTimeout: 30_000 });
      let last = 0;
      let ready = false;
      ws.on('message', (raw: Buffer) => {
        const at = now();
        const e = JSON.parse(raw.toString()) as {
          seq: number;
          type: string;
          data: { text?: string; created_at?: string };
        };
        // A stream opens with `ready`, carrying the seq the next event follows.
        if (e.type === 'ready' && !ready) {
          ready = true;
          last = e.seq;
          return;
        }
        if (e.seq !== last + 1) anomalies.push(`socket ${index}: seq ${e.seq} after ${last}`);
        last = e.seq;
        const n = /^bench (\d+) /.exec(e.data.text ?? '')?.[1];
        if (e.type !== 'message' || n === undefined)
          return void anomalies.push(`socket ${index}: ${e.type} event`);
        received.push([index, Number(n), at, Date.parse(e.data.created_at ?? '')]);
        waiter?.();
      });
      let opened = false;
      ws.once('open', () => {
        opened = true;
        sockets[index] = ws;
        resolve();
      });
      // Before it opened, a failure is the caller's (it may try again); after, an anomaly.
      ws.on('error', (err) => {
        if (opened) anomalies.push(`socket ${index}: ${err.message}`);
        else reject(err);
      });
      ws.once('close', (code) => {
        if (opened && !closing) anomalies.push(`socket ${index} closed by the server (${code})`);
      });
    });
  }

  async function handle(req: Request): Promise<unknown> {
    switch (req.op) {
      case 'connect': {
        const t0 = now();
        const start = sockets.length;
        let next = start;
        let failed = 0;
        let shed = 0;
        let firstError: string | undefined;
        const lane = async () => {
          while (next < req.tokens.length) {
            const i = next++;
            for (let attempt = 1; ; attempt++) {
              try {
                await open(req.url, req.tokens[i]!, i);
                break;
              } catch (err) {
                // Load shedding (503, Retry-After): a real client comes back; so does this one.
                if (/\b503\b/.test(String(err)) && attempt < SHED_ATTEMPTS) {
                  shed++;
                  await delay(500);
                  continue;
                }
                failed++;
                firstError ??= String(err);
                break;
              }
            }
          }
        };
        await Promise.all(Array.from({ length: req.concurrency }, lane));
        const opened = req.tokens.length - start - failed;
        return { opened, failed, shed, firstError, ms: now() - t0 };
      }
      case 'await': {
        const deadline = now() + req.timeoutMs;
        while (received.length < req.count && now() < deadline) {
          await new Promise<void>((resolve) => {
            waiter = resolve;
            setTimeout(resolve, 100).unref();
          });
        }
        waiter = undefined;
        await delay(req.graceMs); // anything after the last one is a duplicate
        return { received, anomalies };
      }
      case 'close': {
        closing = true;
        const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN);
        await Promise.all(
          open.map((ws) => new Promise((resolve) => ws.once('close', resolve).close(1000))),
        );
        sockets.length = 0;
        received.length = 0;
        closing = false;
        return { closed: open.length };
      }
      case 'memory':
        return settledMemory(gc);
      case 'send':
        return send(req.url, req.plan, req.rate);
    }
  }

  process.on('message', (req: Request) => {
    handle(req).then(
      (result) => process.send!({ result }),
      (err: unknown) => process.send!({ error: String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

/** Sends the plan's messages at `rate` per second, on schedule whatever the responses. */
async function send(
  url: string,
  plan: { conversation: string; token: string }[],
  rate: number,
): Promise<SendResult> {
  const r: SendResult = { sentAt: [], postMs: [], status: [], maxBehindMs: 0, seconds: 0 };
  const pending: Promise<void>[] = [];
  const t0 = now() + 50;
  for (let n = 0; n < plan.length; n++) {
    const due = t0 + (n * 1000) / rate;
    const wait = due - now();
    if (wait > 0) await delay(wait);
    r.maxBehindMs = Math.max(r.maxBehindMs, now() - due);
    const { conversation, token } = plan[n]!;
    r.sentAt[n] = now();
    pending.push(
      fetch(`${url}/api/v1/conversations/${conversation}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: `bench ${n} sent at ${r.sentAt[n]}` }),
        // A request kith never answers counts as failed rather than holding the run up.
        signal: AbortSignal.timeout(60_000),
      }).then(
        async (res) => {
          await res.arrayBuffer();
          r.postMs[n] = now() - r.sentAt[n]!;
          r.status[n] = res.status;
        },
        () => void (r.status[n] = 0),
      ),
    );
  }
  r.seconds = (r.sentAt.at(-1)! - r.sentAt[0]!) / 1000;
  await Promise.all(pending);
  return r;
}

class Child {
  readonly #proc: ChildProcess;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(role: string) {
    this.#proc = fork(import.meta.filename, [], {
      env: { ...process.env, [CHILD_ROLE]: role },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
  }

  /** One request at a time; resolves with the child's answer. */
  request<T>(req: Request): Promise<T> {
    const run = () =>
      new Promise<T>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`child exited (${code})`));
        this.#proc.once('exit', onExit);
        this.#proc.once('message', (msg: { result?: T; error?: string }) => {
          this.#proc.off('exit', onExit);
          if (msg.error !== undefined) reject(new Error(msg.error));
          else resolve(msg.result as T);
        });
        this.#proc.send(req);
      });
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => {});
    return p;
  }

  async stop(): Promise<void> {
    if (this.#proc.exitCode !== null || this.#proc.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#proc.once('exit', resolve));
    this.#proc.kill();
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

const text = { type: 'string' } as const;

function parameters(fdRaiseError: string | undefined) {
  const { values } = parseArgs({
    options: {
      real: { type: 'boolean' },
      quick: { type: 'boolean' },
      clients: text,
      messages: text,
      rate: text,
      senders: text,
      idle: text,
    },
  });
  const quick = values.quick === true;
  const fdLimit = openFileLimit();
  const maxIdle = fdLimit === undefined ? IDLE_TARGET : fdLimit - FD_MARGIN;
  const steps = (values.idle ?? (quick ? '100,200' : `1000,10000,${IDLE_TARGET}`))
    .split(',')
    .map((s) => s.trim());
  const idle = [
    ...new Set(steps.map((s) => Math.min(s === 'max' ? maxIdle : Number(s), maxIdle))),
  ].sort((a, b) => a - b);
  if (idle.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--idle: positive integers');
  return {
    clients: numberOption(values, 'clients', quick ? 50 : 1_000),
    messages: numberOption(values, 'messages', quick ? 100 : 2_000),
    rate: numberOption(values, 'rate', quick ? 50 : 25),
    senders: numberOption(values, 'senders', quick ? 10 : 50),
    idle,
    /** Steps of the bare `ws` baseline. */
    bareIdle: quick ? idle : [...new Set([1_000, 5_000].map((n) => Math.min(n, maxIdle)))],
    fdLimit,
    /** Why the open-file limit could not be raised to WANTED_FD_LIMIT, if it could not. */
    fdRaiseError,
    maxIdle,
    /** Asked-for steps above what the open-file limit allows (clipped to `maxIdle`). */
    clipped: steps.filter((s) => s !== 'max' && Number(s) > maxIdle).map(Number),
    connectConcurrency: 100,
  };
}
type Params = ReturnType<typeof parameters>;

interface Seeded {
  /** Users that hold streams: the clients first (the recipients), then idle-only users. */
  streamUsers: string[];
  senders: string[];
  /** Conversation of recipient i with senders[i % senders.length]. */
  conversations: string[];
}

async function seedAll(ctx: Context, p: Params): Promise<Seeded> {
  const { db } = ctx.database;
  const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => prefix + i);
  const streamUsers = await seed.insertUsers(
    db,
    names('bench_s', Math.max(p.clients, p.idle.at(-1) ?? 0)),
  );
  const senders = await seed.insertUsers(db, names('bench_sender', p.senders));
  const conversations: string[] = [];
  const rows = streamUsers.slice(0, p.clients).map((r, i) => {
    const s = senders[i % senders.length]!;
    const id = newId();
    conversations.push(id);
    return { id, user_a: r < s ? r : s, user_b: r < s ? s : r, last_message_id: null };
  });
  for (let i = 0; i < rows.length; i += 1_000) {
    const part = rows.slice(i, i + 1_000);
    await db.insertInto('conversations').values(part).execute();
    await db
      .insertInto('conversation_members')
      .values(
        part.flatMap((c) =>
          [c.user_a, c.user_b].map((user_id) => ({
            conversation_id: c.id,
            user_id,
            last_read_id: null,
          })),
        ),
      )
      .execute();
  }
  await seed.recount(db);
  return { streamUsers, senders, conversations };
}

/**
 * Streams a server kept after their clients closed them (Target.leftover), noted here: a run goes
 * on past them (counting them out) so it still reports, and ends with exit code 2.
 */
const leftoverNotes: string[] = [];

/** Waits until the server holds exactly `n` connections (besides its leftovers). */
async function holds(target: Target, n: number, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (target.held() !== n + target.leftover) {
    if (performance.now() > deadline)
      throw new Error(`${target.name} holds ${target.held() - target.leftover} streams, not ${n}`);
    await delay(20);
  }
}

/** Closes every client connection and waits until the server has let go of them. */
async function closeAll(target: Target, clients: Child): Promise<number> {
  const { closed } = await clients.request<{ closed: number }>({ op: 'close' });
  try {
    await holds(target, 0);
  } catch {
    const kept = target.held() - target.leftover;
    target.leftover += kept;
    const note = `${target.name} still held ${fmt(kept)} of ${fmt(closed)} streams 60 s after their clients closed them`;
    leftoverNotes.push(note);
    console.error(`${note}: going on without them`);
  }
  return closed;
}

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: readonly number[], q: number) =>
  sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

function summarize(values: readonly number[]) {
  const s = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p99: percentile(s, 0.99),
    max: s.at(-1) ?? NaN,
  };
}

async function measureLatency(
  kith: KithUnderTest,
  target: Target,
  clients: Child,
  sender: Child,
  s: Seeded,
  p: Params,
) {
  const { ctx } = kith;
  const sign = (userId: string) => ctx.accessTokens.sign({ userId, sessionId: randomUUID() });
  const tokens = await Promise.all(s.streamUsers.slice(0, p.clients).map(sign));
  const connected = await clients.request<Connected>({
    op: 'connect',
    url: target.url,
    tokens,
    concurrency: p.connectConcurrency,
  });
  if (connected.failed > 0)
    throw new Error(`${connected.failed} WebSockets failed to open: ${connected.firstError}`);
  await holds(target, p.clients);
  await delay(1_000); // the streams' attach work (reading each user's log bounds) is done
  log(
    `Connected ${fmt(p.clients)} WebSockets in ${fmt(connected.ms / 1000, 1)} s` +
      (connected.shed ? ` (${fmt(connected.shed)} upgrades shed with 503 and retried)` : ''),
  );

  const senderTokens = await Promise.all(s.senders.map(sign));
  const plan = Array.from({ length: p.messages }, (_, n) => ({
    conversation: s.conversations[n % p.clients]!,
    token: senderTokens[(n % p.clients) % s.senders.length]!,
  }));
  const sending = sender.request<SendResult>({ op: 'send', url: kith.url, plan, rate: p.rate });
  const arrival = clients.request<{ received: Received[]; anomalies: string[] }>({
    op: 'await',
    count: p.messages,
    timeoutMs: (p.messages / p.rate) * 1000 + 60_000,
    graceMs: 1_000,
  });
  const sent = await sending;
  const { received, anomalies } = await arrival;

  const failedPosts = sent.status.filter((st) => st !== 201).length;
  const seen = new Map<number, number>();
  const latencies: number[] = [];
  const fromCreated: number[] = [];
  let wrongSocket = 0;
  /** Messages whose event arrived before their POST's response. */
  let eventBeforeResponse = 0;
  for (const [socket, n, at, createdAt] of received) {
    seen.set(n, (seen.get(n) ?? 0) + 1);
    if (socket !== n % p.clients) wrongSocket++;
    if (seen.get(n) !== 1) continue;
    latencies.push(at - sent.sentAt[n]!);
    fromCreated.push(at - createdAt);
    if (at - sent.sentAt[n]! < (sent.postMs[n] ?? Infinity)) eventBeforeResponse++;
  }
  const duplicates = received.length - seen.size;
  const missing = p.messages - seen.size;
  const result = {
    clients: p.clients,
    sent: p.messages,
    failedPosts,
    received: received.length,
    unique: seen.size,
    missing,
    duplicates,
    wrongSocket,
    anomalies: anomalies.slice(0, 20),
    anomalyCount: anomalies.length,
    rate: p.rate,
    achievedRate: p.messages / sent.seconds,
    senderMaxBehindMs: sent.maxBehindMs,
    connectSeconds: connected.ms / 1000,
    connectShed: connected.shed,
    latencyMs: summarize(latencies),
    /** From the message's created_at (transaction start, ms) to the event. */
    fromCreatedMs: summarize(fromCreated),
    postMs: summarize(sent.postMs.filter((x) => x !== undefined)),
    eventBeforeResponse,
  };
  const l = result.latencyMs;
  log(
    `Delivered ${fmt(seen.size)} of ${fmt(p.messages)} (${duplicates} duplicates, ${anomalies.length} anomalies): ` +
      `p50 ${fmt(l.p50, 1)} ms, p99 ${fmt(l.p99, 1)} ms, max ${fmt(l.max, 1)} ms`,
  );
  log(`Closed ${fmt(await closeAll(target, clients))} WebSockets`);
  return result;
}

/** The answer to a `connect` request. */
interface Connected {
  opened: number;
  failed: number;
  /** Upgrades refused with 503 (load shedding) and tried again. */
  shed: number;
  firstError?: string;
  ms: number;
}

/** Something to hold idle WebSockets: kith's stream, or the bare `ws` baseline. */
interface Target {
  name: string;
  url: string;
  /** Tokens for the first `n` connections ('' for none). */
  tokens(n: number): Promise<string[]>;
  /** Connections the server holds now. */
  held(): number;
  /** Connections it kept after their clients closed them (see `closeAll`). */
  leftover: number;
}

interface MemoryStep {
  connections: number;
  connectSeconds: number;
  /** Upgrades refused with 503 (load shedding) on the way, and retried. */
  shed: number;
  server: Mem;
  client: Mem;
}

/** This process's memory with no connection, then with each of `counts` idle connections. */
async function measureMemory(target: Target, clients: Child, counts: number[], p: Params) {
  const gc = collector();
  // Warm-up: the code behind a connection is loaded and compiled before the empty state.
  const warmup = Math.min(100, counts[0] ?? 0);
  await clients.request({
    op: 'connect',
    url: target.url,
    tokens: await target.tokens(warmup),
    concurrency: p.connectConcurrency,
  });
  await holds(target, warmup);
  await closeAll(target, clients);
  await delay(1_000);
  const base = await settledMemory(gc);
  const clientBase = await clients.request<Mem>({ op: 'memory' });
  const steps: MemoryStep[] = [];
  for (const n of counts) {
    const c = await clients.request<Connected>({
      op: 'connect',
      url: target.url,
      tokens: await target.tokens(n),
      concurrency: p.connectConcurrency,
    });
    if (c.failed > 0) {
      log(
        `${c.failed} WebSockets failed to open on the way to ${fmt(n)} (${c.firstError}); stopping here`,
      );
      break;
    }
    await holds(target, n);
    await delay(1_000); // work started by the last connections is done: they are idle
    const server = await settledMemory(gc);
    const client = await clients.request<Mem>({ op: 'memory' });
    steps.push({ connections: n, connectSeconds: c.ms / 1000, shed: c.shed, server, client });
    log(
      `${fmt(n)} idle WebSockets (opened in ${fmt(c.ms / 1000, 1)} s${c.shed ? `, ${fmt(c.shed)} upgrades shed and retried` : ''}): ` +
        `heap +${fmt((server.heapUsed - base.heapUsed) / n / 1024, 1)} KiB, RSS +${fmt((server.rss - base.rss) / n / 1024, 1)} KiB each`,
    );
  }
  await closeAll(target, clients);
  return { base, clientBase, steps };
}

function kithTarget(kith: KithUnderTest, s: Seeded): Target {
  const tokens: string[] = [];
  return {
    name: 'kith',
    url: kith.url.replace(/^http/, 'ws') + '/api/v1/stream',
    async tokens(n) {
      for (let i = tokens.length; i < n; i++) {
        const userId = s.streamUsers[i]!;
        tokens.push(await kith.ctx.accessTokens.sign({ userId, sessionId: randomUUID() }));
      }
      return tokens.slice(0, n);
    },
    held: () => kith.ctx.hub.connections,
    leftover: 0,
  };
}

/**
 * The baseline: a bare `ws` server in this process that pings its clients like kith does and
 * does nothing else (no HTTP framework, no auth, no log).
 */
async function startBareWs(heartbeatMs: number): Promise<Target & { close(): Promise<void> }> {
  const server = createServer();
  const wss = new WebSocketServer({ server, maxPayload: 4096 });
  wss.on('connection', (ws) => {
    let alive = true;
    const ping = setInterval(() => {
      if (!alive) return void ws.terminate();
      alive = false;
      ws.ping();
    }, heartbeatMs);
    ws.on('pong', () => (alive = true));
    ws.on('close', () => clearInterval(ping));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name: 'bare ws',
    url: `ws://127.0.0.1:${port}/`,
    tokens: async (n) => Array.from({ length: n }, () => ''),
    held: () => wss.clients.size,
    leftover: 0,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Latency = Awaited<ReturnType<typeof measureLatency>>;
type Memory = Awaited<ReturnType<typeof measureMemory>>;

const ms = (x: number) => fmt(x, 1);
const kib = (bytes: number) => fmt(bytes / 1024, 1);
const mib = (bytes: number) => fmt(bytes / 2 ** 20, 1);

function latencySection(lat: Latency, p: Params): string {
  const l = lat.latencyMs;
  const c = lat.fromCreatedMs;
  return [
    '## Delivery latency',
    '',
    `${fmt(lat.clients)} recipients, one WebSocket each (\`ws\`, in a child process), all open before the first message; ` +
      `${fmt(lat.sent)} messages through \`POST /api/v1/conversations/:id/messages\` from another child process, ` +
      `${fmt(p.senders)} senders, open loop at ${fmt(lat.rate)}/s (achieved ${fmt(lat.achievedRate, 1)}/s, at worst ${ms(lat.senderMaxBehindMs)} ms behind schedule), ` +
      `${fmt(lat.sent / lat.clients, 1)} per recipient. Latency: from just before the POST is sent until the recipient's socket has the \`message\` event. ` +
      `"created_at → event": from the message's stored \`created_at\` (Postgres \`now()\`, i.e. the start of the sending transaction; millisecond resolution) to the event: the transaction, the broadcast and the socket write, without the HTTP request, authentication and the reads before the transaction. ` +
      `${fmt(lat.eventBeforeResponse)} of ${fmt(lat.unique)} events arrived before their POST's response. Anomalies: resyncs, seq gaps, events on the wrong socket, unexpected closes.`,
    '',
    table(
      ['Measure', 'p50 (ms)', 'p90 (ms)', 'p99 (ms)', 'Max (ms)'],
      [
        ['POST → event received', ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max)],
        ['created_at → event received', ms(c.p50), ms(c.p90), ms(c.p99), ms(c.max)],
        [
          'POST → response',
          ms(lat.postMs.p50),
          ms(lat.postMs.p90),
          ms(lat.postMs.p99),
          ms(lat.postMs.max),
        ],
      ],
    ),
    '',
    table(
      ['Clients', 'Sent (201)', 'Received', 'Missing', 'Duplicates', 'Anomalies'],
      [
        [
          fmt(lat.clients),
          fmt(lat.sent - lat.failedPosts),
          fmt(lat.received),
          fmt(lat.missing),
          fmt(lat.duplicates),
          fmt(lat.anomalyCount + lat.wrongSocket),
        ],
      ],
    ),
    ...(lat.anomalies.length > 0
      ? ['', 'Anomalies (first 20):', '', ...lat.anomalies.map((a) => `- ${a}`)]
      : []),
    '',
  ].join('\n');
}

function memorySection(mem: Memory, bare: Memory, p: Params): string {
  const target = idleTarget(mem);
  const limit = p.fdLimit === undefined ? 'unknown' : fmt(p.fdLimit);
  const rows = (what: string, m: Memory) =>
    m.steps.map((st, i) => {
      const per = (a: number, b: number) => kib((a - b) / st.connections);
      const prev = m.steps[i - 1];
      const stepRss = prev
        ? kib((st.server.rss - prev.server.rss) / (st.connections - prev.connections))
        : '—';
      return [
        what,
        fmt(st.connections),
        fmt(st.connectSeconds, 1),
        mib(st.server.rss),
        per(st.server.rss, m.base.rss),
        stepRss,
        per(st.server.heapUsed, m.base.heapUsed),
        per(st.server.external, m.base.external),
        per(st.client.rss, m.clientBase.rss),
      ];
    });
  return [
    '## Memory per idle connection',
    '',
    `${p.messages > 0 ? 'Measured before the latency run, in' : 'In'} the process running kith (api and worker roles; on the embedded stack also the database), after three forced GCs: ` +
      `first with no stream open, after 100 were opened and closed as a warm-up (RSS ${mib(mem.base.rss)} MiB, heap ${mib(mem.base.heapUsed)} MiB), then with N idle WebSockets of N distinct users, ` +
      `each N reached by opening more (${p.connectConcurrency} at a time) and measured 1 s after the last opened. ` +
      `Per connection: growth over the empty state divided by N. "Step": RSS growth from the previous N per added connection. ` +
      `RSS is the rougher figure (memory freed earlier is reused before the process grows); heap is the steadier one. "Client RSS" is the same for the child process holding the \`ws\` clients. ` +
      `Baseline: a bare \`ws\` server in the same process (pings like kith, nothing else), measured the same way before kith started. ` +
      `Open-file limit: ${limit} per process, so at most ${fmt(p.maxIdle)} connections` +
      (p.clipped.length > 0
        ? ` (${p.clipped.map((n) => fmt(n)).join(', ')} asked for, clipped)`
        : '') +
      (p.fdRaiseError
        ? `; raising it to ${fmt(WANTED_FD_LIMIT)} failed (${p.fdRaiseError}).`
        : '.') +
      (mem.steps.some((st) => st.shed > 0)
        ? ` kith refused some upgrades with 503 (load shedding) while connections were opened ${p.connectConcurrency} at a time; the clients tried again half a second later, like real clients (${mem.steps.map((st) => `${fmt(st.shed)} on the way to ${fmt(st.connections)}`).join(', ')}).`
        : '') +
      (target && target.measuredAt < IDLE_TARGET
        ? ` At ${fmt(IDLE_TARGET)} connections kith's RSS would be about ${mib(target.rssBytes)} MiB, extrapolated from ${fmt(target.measuredAt)} at its growth per connection.`
        : ''),
    '',
    table(
      [
        'Server',
        'Idle connections',
        'Opened in (s)',
        'Server RSS (MiB)',
        'RSS / conn (KiB)',
        'RSS / conn, step (KiB)',
        'Heap / conn (KiB)',
        'External / conn (KiB)',
        'Client RSS / conn (KiB)',
      ],
      [...rows('kith', mem), ...rows('bare `ws` (baseline)', bare)],
    ),
    '',
  ].join('\n');
}

/**
 * kith's RSS with IDLE_TARGET idle WebSockets: measured, or, when the open-file limit stopped
 * the run short of it, extrapolated from the largest step at its RSS growth per connection over
 * the empty state.
 */
function idleTarget(mem: Memory) {
  const last = mem.steps.at(-1);
  if (!last) return undefined;
  if (last.connections >= IDLE_TARGET)
    return {
      connections: last.connections,
      rssBytes: last.server.rss,
      measuredAt: last.connections,
    };
  const perConnection = Math.max(0, (last.server.rss - mem.base.rss) / last.connections);
  return {
    connections: IDLE_TARGET,
    rssBytes: last.server.rss + perConnection * (IDLE_TARGET - last.connections),
    measuredAt: last.connections,
  };
}

function figures(latency: Latency | undefined, mem: Memory, maxIdle: number): Figure[] {
  const out: Figure[] = [];
  if (latency) {
    const bad = latency.missing + latency.duplicates + latency.failedPosts + latency.wrongSocket;
    out.push({
      id: 'stream.delivery',
      label: `WebSocket delivery latency, ${fmt(latency.clients)} clients (p99, POST → event)`,
      value: latency.latencyMs.p99,
      unit: 'ms',
      p50Ms: latency.latencyMs.p50,
      p99Ms: latency.latencyMs.p99,
      errors: bad + latency.anomalyCount,
      note: `${fmt(latency.unique)} of ${fmt(latency.sent)} messages delivered once, at ${fmt(latency.achievedRate, 1)}/s`,
    });
  }
  for (const st of mem.steps) {
    out.push({
      id: `stream.idle.${st.connections}`,
      label: `Idle WebSockets: ${fmt(st.connections)}, kith process RSS`,
      value: st.server.rss / 2 ** 20,
      unit: 'MiB',
      note: `${fmt((st.server.rss - mem.base.rss) / st.connections / 1024, 1)} KiB RSS per connection`,
    });
  }
  const target = idleTarget(mem);
  if (target) {
    out.push({
      id: 'stream.idle20k',
      label: `Idle WebSockets: ${fmt(IDLE_TARGET)}, kith process RSS`,
      value: target.rssBytes / 2 ** 20,
      unit: 'MiB',
      ...(target.measuredAt < IDLE_TARGET
        ? {
            note:
              `extrapolated from ${fmt(target.measuredAt)} connections` +
              (target.measuredAt === maxIdle ? ', the open-file limit' : ''),
          }
        : {}),
    });
  }
  return out;
}

async function main(): Promise<void> {
  const started = performance.now();
  const p = parameters(raiseOpenFileLimit());
  const machine = machineInfo();
  const kind = wantsReal(process.argv) ? 'real' : 'embedded';
  const busy = busyWarning(machine);
  log(`# kith stream benchmark (${kind})\n\nMachine: ${machineLine(machine)}`);
  if (busy) log(busy);
  const clients = new Child('clients');
  const sender = new Child('sender');
  let kith: KithUnderTest | undefined;
  const stopAll = async () => {
    await Promise.allSettled([clients.stop(), sender.stop()]);
    await kith?.stop();
  };
  onInterrupt(stopAll);
  try {
    // The baseline first, while this process holds nothing else.
    log('Memory, bare ws (baseline):');
    const heartbeatMs = Number(SETTINGS.streamHeartbeatSeconds.default) * 1000;
    const bareWs = await startBareWs(heartbeatMs);
    // Clients of its own, so the clients of kith start from a fresh process too.
    const bareClients = new Child('clients');
    const bare = await measureMemory(bareWs, bareClients, p.bareIdle, p).finally(() =>
      Promise.all([bareWs.close(), bareClients.stop()]),
    );

    kith = await startKith(kind);
    log(`Stack: ${kith.description}`);
    const t = performance.now();
    const seeded = await seedAll(kith.ctx, p);
    const seedSeconds = (performance.now() - t) / 1000;
    log(
      `Seeded ${fmt(seeded.streamUsers.length + seeded.senders.length)} users and ${fmt(seeded.conversations.length)} conversations in ${fmt(seedSeconds, 1)} s`,
    );
    // Memory first, while the process has not yet served (and freed) much.
    log('Memory, kith:');
    const target = kithTarget(kith, seeded);
    const memory = await measureMemory(target, clients, p.idle, p);
    const latency =
      p.messages > 0 ? await measureLatency(kith, target, clients, sender, seeded, p) : undefined;
    const totalSeconds = (performance.now() - started) / 1000;
    const settings = Object.entries(kith.settings).map(([k, v]) => `${k}=${v}`);
    const markdown = [
      `# kith stream benchmark (${kind})`,
      '',
      `- Machine: ${machineLine(machine)}`,
      `- Stack: ${kith.description}`,
      `- Settings: ${settings.join(', ')}`,
      `- Date: ${new Date().toISOString()}; whole run ${fmt(totalSeconds)} s (seeding ${fmt(seedSeconds, 1)} s)`,
      ...(busy ? [`- ${busy}`] : []),
      '',
      ...(latency ? [latencySection(latency, p)] : []),
      memorySection(memory, bare, p),
      ...(leftoverNotes.length > 0
        ? [
            '## Streams kept after their clients closed',
            '',
            ...leftoverNotes.map((n) => `- ${n} (their sockets stayed in CLOSE-WAIT).`),
            '',
          ]
        : []),
    ].join('\n');
    log('\n' + markdown);
    writeResults(`stream-${kind}`, markdown, {
      name: 'stream',
      date: new Date().toISOString(),
      machine,
      stack: { kind, description: kith.description, settings: kith.settings },
      parameters: p,
      seedSeconds,
      totalSeconds,
      latency,
      memory: { kith: memory, bareWs: bare },
      leftoverStreams: leftoverNotes,
      idleTarget: idleTarget(memory),
      figures: figures(latency, memory, p.maxIdle),
    });
    const bad = latency
      ? latency.missing +
        latency.duplicates +
        latency.failedPosts +
        latency.wrongSocket +
        latency.anomalyCount
      : 0;
    if (bad > 0) {
      console.error('Delivery was not exactly once: see the results.');
      process.exitCode = 2;
    }
    if (leftoverNotes.length > 0) process.exitCode = 2;
  } finally {
    await cleanUp(stopAll);
  }
}

if (process.env[CHILD_ROLE]) {
  await runChild();
} else {
  await main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
  // Everything is written and cleaned up; a connection kith failed to close must not keep the
  // process alive.
  process.exit();
}
