/**
 * `npm run bench:http [-- --real] [--quick]`: the HTTP API under load (issue 10).
 *
 * Seeds a graph with kith's own seeder (`kith seed`, fixed seed: every run gets the same graph),
 * mints an access token per user it acts as, builds home timelines by one read each, then loads
 * each scenario with autocannon in a separate process, all with the same settings:
 * home feed, profile feed, create post (authors with ~50 followers, fan-out checked), like
 * (distinct user × post pairs: real writes), comment, login (bcrypt at the production cost) and
 * a mixed workload. The baseline, a bare node:http server with a fixed JSON body, is loaded the
 * same way before the first scenario and after the last; ratios compare with their mean. After
 * each write scenario the run waits until the worker has handled every event (outbox relayed,
 * consumers done), so the next scenario starts on an idle server; that wait is reported.
 *
 * Options: --duration <s> --warmup <s> --connections <n> --users <n> --viewers <n> --quick
 * (a short smoke-sized run). kith runs in this process, embedded or with --real / BENCH_REAL=1.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { seedDatabase, type SeedSummary } from '../src/cli/seed.ts';
import { prng } from '../src/cli/seed-data.ts';
import { homeTimeline } from '../src/modules/feed/feed.service.ts';
import { drain } from '../test/support/drain.ts';
import type { RequestTemplate } from './autocannon-runner.ts';
import {
  cleanUp,
  apiCall,
  busyWarning,
  fmt,
  loadFigure,
  machineInfo,
  machineLine,
  numberOption,
  onInterrupt,
  okPerSec,
  pct,
  runLoad,
  startBaseline,
  table,
  writeResults,
  type Figure,
  type LoadResult,
} from './lib.ts';
import { startKith, wantsReal, type KithUnderTest } from './stack.ts';

const text = { type: 'string' } as const;
const { values } = parseArgs({
  options: {
    real: { type: 'boolean' },
    quick: { type: 'boolean' },
    duration: text,
    warmup: text,
    connections: text,
    users: text,
    viewers: text,
  },
});
const quick = values.quick === true;
const P = {
  duration: numberOption(values, 'duration', quick ? 2 : 10),
  warmup: numberOption(values, 'warmup', quick ? 1 : 3),
  connections: numberOption(values, 'connections', quick ? 10 : 50),
  /** `kith seed --users`, `--posts-per-user`, `--seed`. */
  users: numberOption(values, 'users', quick ? 1_000 : 10_000),
  postsPerUser: 10,
  seed: 20_261_121,
  /** Home-feed readers (each with 20 posts on their first page); they also like and comment. */
  viewers: numberOption(values, 'viewers', quick ? 100 : 1_000),
  /** Profiles read, among users with at least 20 posts. */
  profiles: quick ? 50 : 200,
  /** Authors of new posts: those with the follower counts closest to `followersPerAuthor`. */
  postAuthors: quick ? 5 : 50,
  followersPerAuthor: 50,
  /** Public posts liked and commented on (with the viewers: the user × post pairs). */
  targetPosts: quick ? 1_000 : 5_000,
  pageSize: 20,
  /** Requests per second no scenario reaches here: sizes the lists of distinct writes. */
  maxRate: 6_000,
  /** The mixed workload, in percent. */
  mix: { home: 70, profile: 15, like: 8, comment: 5, post: 2 },
};
const PASSWORD = 'bench-password-123';
/** Login is measured, so its rate limits must not answer first; tokens outlive the run. */
const KITH_ENV = {
  RATE_LIMIT_AUTH_PER_IP: '1000000',
  RATE_LIMIT_LOGIN_PER_ACCOUNT: '1000000',
  ACCESS_TOKEN_TTL: '86400',
};
const API = '/api/v1';
const log = (line: string) => console.log(line);

interface Graph {
  summary: SeedSummary;
  viewers: { id: string; username: string }[];
  profiles: string[];
  authors: { id: string; username: string; followers: number }[];
  /** Followers of the authors (each once). */
  authorFollowers: string[];
  targetPosts: string[];
}

const api = <T>(kith: KithUnderTest, path: string, init?: RequestInit) =>
  apiCall<T>(kith.url, path, init);

/** Runs `fn` over `items`, `width` at a time. */
async function inBatches<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += width)
    await Promise.all(items.slice(i, i + width).map(fn));
}

async function seedGraph(kith: KithUnderTest, tokenOf: (id: string) => Promise<string>) {
  const { ctx } = kith;
  const { db } = ctx.database;
  const summary = await seedDatabase(db, {
    users: P.users,
    postsPerUser: P.postsPerUser,
    seed: P.seed,
    prefix: '',
    days: 28,
    password: PASSWORD,
    bcryptCost: ctx.config.bcryptCost,
    fanoutMaxFollowers: ctx.config.feedFanoutMaxFollowers,
  });
  const candidates = await sql<{ id: string; username: string }>`
    select id, username from users where following_count >= 10
    order by username limit ${P.viewers * 3}`.execute(db);
  // One read each builds the timelines; viewers are the first whose page is full.
  const viewers: Graph['viewers'] = [];
  const feedPath = `/feed?limit=${P.pageSize}`;
  for (let i = 0; i < candidates.rows.length && viewers.length < P.viewers; i += 20) {
    await inBatches(candidates.rows.slice(i, i + 20), 20, async (u) => {
      const headers = { authorization: `Bearer ${await tokenOf(u.id)}` };
      const page = await api<{ items: unknown[] }>(kith, feedPath, { headers });
      if (page.items.length === P.pageSize) viewers.push(u);
    });
  }
  viewers.sort((a, b) => a.username.localeCompare(b.username)).splice(P.viewers);
  if (viewers.length < Math.min(P.viewers, 10))
    throw new Error(`only ${viewers.length} users have a full home page`);
  const profiles = await sql<{ username: string }>`
    select username from users where post_count >= ${P.pageSize}
    order by username limit ${P.profiles}`.execute(db);
  const authors = await sql<{ id: string; username: string; followers: number }>`
    select id, username, follower_count as followers from users
    where follower_count between ${P.followersPerAuthor * 0.8} and ${P.followersPerAuthor * 1.2}
    order by abs(follower_count - ${P.followersPerAuthor}), username
    limit ${P.postAuthors}`.execute(db);
  if (authors.rows.length === 0) throw new Error('no author with about 50 followers');
  const followers = await sql<{ id: string }>`
    select distinct follower_id as id from follows
    where followee_id in (${sql.join(authors.rows.map((a) => a.id))})`.execute(db);
  // Their followers have home timelines, as active users do: fan-out only pushes into those.
  await inBatches(followers.rows, 20, async ({ id }) => {
    const headers = { authorization: `Bearer ${await tokenOf(id)}` };
    await api(kith, feedPath, { headers });
  });
  const posts = await sql<{ id: string }>`
    select id from posts where visibility = 'public'
    order by id desc limit ${P.targetPosts}`.execute(db);
  return {
    summary,
    viewers,
    profiles: profiles.rows.map((r) => r.username),
    authors: authors.rows.map((a) => ({ ...a, followers: Number(a.followers) })),
    authorFollowers: followers.rows.map((r) => r.id),
    targetPosts: posts.rows.map((r) => r.id),
  } satisfies Graph;
}

/** Request lists of each scenario; writes never repeat a user × post pair across lists. */
function requestLists(g: Graph, tokenIndex: Map<string, number>) {
  const V = g.viewers.length;
  const T = g.targetPosts.length;
  const viewerToken = (i: number) => tokenIndex.get(g.viewers[i % V]!.id)!;
  /** The k-th user × post pair: distinct for k < V × T, spread over posts (no hot row). */
  let nextPair = 0;
  const pair = () => {
    const k = nextPair++;
    if (k >= V * T) throw new Error('out of distinct user × post pairs');
    const u = k % V;
    return { token: viewerToken(u), post: g.targetPosts[(Math.floor(k / V) + u * 7) % T]! };
  };
  let posted = 0;
  const make = {
    home: (i: number): RequestTemplate => ({
      path: `${API}/feed?limit=${P.pageSize}`,
      token: viewerToken(i),
    }),
    profile: (i: number): RequestTemplate => ({
      path: `${API}/users/${g.profiles[i % g.profiles.length]}/posts?limit=${P.pageSize}`,
      token: viewerToken(i * 31),
    }),
    like: (): RequestTemplate => {
      const { token, post } = pair();
      return { method: 'POST', path: `${API}/posts/${post}/like`, token };
    },
    comment: (): RequestTemplate => {
      const { token, post } = pair();
      return {
        method: 'POST',
        path: `${API}/posts/${post}/comments`,
        body: '{"text":"Nice one, thanks for sharing!"}',
        token,
      };
    },
    post: (i: number): RequestTemplate => ({
      method: 'POST',
      path: `${API}/posts`,
      body: JSON.stringify({ text: `Benchmark post ${posted++}: hello to my fifty followers.` }),
      token: tokenIndex.get(g.authors[i % g.authors.length]!.id)!,
    }),
    login: (i: number): RequestTemplate => ({
      method: 'POST',
      path: `${API}/auth/login`,
      body: JSON.stringify({ login: g.viewers[i % V]!.username, password: PASSWORD }),
    }),
  };
  /** Enough requests that no connection wraps around within `seconds`. */
  const size = (seconds: number) => Math.ceil(seconds * P.maxRate);
  const list = (n: number, f: (i: number) => RequestTemplate) =>
    Array.from({ length: n }, (_, i) => f(i));
  const random = prng(P.seed);
  const kinds = Object.entries(P.mix) as [keyof typeof P.mix, number][];
  const mixed = (n: number) =>
    list(n, (i) => {
      let x = random() * 100;
      const kind = kinds.find(([, w]) => (x -= w) < 0)?.[0] ?? 'home';
      return make[kind](i);
    });
  const reads = (f: (i: number) => RequestTemplate) => {
    const l = list(Math.max(V, g.profiles.length) * 4, f);
    return { warm: l, run: l };
  };
  const writes = (f: (i: number) => RequestTemplate) => ({
    warm: list(size(P.warmup), f),
    run: list(size(P.duration), f),
  });
  return {
    home: reads(make.home),
    profile: reads(make.profile),
    post: writes(make.post),
    like: writes(make.like),
    comment: writes(make.comment),
    login: reads(make.login),
    mixed: { warm: mixed(size(P.warmup)), run: mixed(size(P.duration)) },
  };
}

type Lists = ReturnType<typeof requestLists>;
type Scenario = keyof Lists;

interface ScenarioResult {
  load: LoadResult;
  /** From the end of the load until the worker had handled every event it raised (s). */
  drainSeconds: number;
  /** What was checked after the run, in words. */
  check?: string;
}

const LABELS: Record<Scenario, string> = {
  home: `Home feed: GET /feed?limit=20 (20 hydrated posts; viewers in turn)`,
  profile: 'Profile feed: GET /users/{username}/posts?limit=20',
  post: 'Create post: POST /posts (authors with ~50 followers; fan-out)',
  like: 'Like: POST /posts/{id}/like (distinct user × post pairs)',
  comment: 'Comment: POST /posts/{id}/comments',
  login: 'Login: POST /auth/login (bcrypt)',
  mixed: 'Mixed workload',
};

async function countRows(kith: KithUnderTest, table: 'likes' | 'comments' | 'posts') {
  const { rows } = await sql<{
    n: string;
  }>`select count(*) as n from ${sql.table(table)}`.execute(kith.ctx.database.db);
  return Number(rows[0]!.n);
}

/** Each author's newest post is in every follower's timeline: the fan-out completed. */
async function checkFanout(kith: KithUnderTest, g: Graph): Promise<string> {
  const { ctx } = kith;
  const { db } = ctx.database;
  let checked = 0;
  let authors = 0;
  for (const author of g.authors) {
    const newest = await sql<{ id: string }>`
      select id from posts where author_id = ${author.id} order by id desc limit 1`.execute(db);
    const followers = await sql<{ id: string }>`
      select follower_id as id from follows where followee_id = ${author.id}`.execute(db);
    const postId = newest.rows[0]!.id;
    authors++;
    for (const { id } of followers.rows) {
      const entries = await ctx.timelines.range(homeTimeline(id), {
        limit: ctx.config.feedTimelineCap,
      });
      if (!(entries ?? []).some((e) => e.id === postId))
        throw new Error(`fan-out incomplete: ${id} lacks post ${postId} of ${author.username}`);
      checked++;
    }
  }
  return `fan-out complete: the newest post of each of the ${authors} authors is in every one of their followers' timelines (${fmt(checked)} checked)`;
}

async function runScenario(
  kith: KithUnderTest,
  name: Scenario,
  lists: Lists,
  tokens: string[],
  g: Graph,
): Promise<ScenarioResult> {
  const table = { like: 'likes', comment: 'comments', post: 'posts' } as const;
  const counted = name in table ? table[name as keyof typeof table] : undefined;
  const base = { url: kith.url, connections: P.connections, tokens };
  if (P.warmup > 0) {
    await runLoad({ ...base, duration: P.warmup, requests: lists[name].warm });
    await drain(kith.ctx, 600_000);
  }
  const before = counted ? await countRows(kith, counted) : 0;
  const load = await runLoad({ ...base, duration: P.duration, requests: lists[name].run });
  const t = performance.now();
  await drain(kith.ctx, 600_000);
  const drainSeconds = (performance.now() - t) / 1000;
  let check: string | undefined;
  if (counted) {
    // Requests still in flight when autocannon stops complete too: rows ≥ 2xx counted.
    const written = (await countRows(kith, counted)) - before;
    check = `${fmt(written)} ${counted} written during the run (${fmt(load.ok)} 2xx responses counted)`;
    if (name === 'like' && written < load.ok * 0.95) check += ': some likes were repeats (no-ops)';
  }
  if (name === 'post') check += `; ${await checkFanout(kith, g)}`;
  if (load.non2xx > 0) {
    const codes = Object.entries(load.statusCodes).filter(([code]) => !code.startsWith('2'));
    const shed = load.statusCodes['503'] ? ' (503: load shedding)' : '';
    check = `${check ? `${check}; ` : ''}non-2xx: ${codes.map(([c, n]) => `${fmt(n)} × ${c}`).join(', ')}${shed}`;
  }
  const distinctWrites = name === 'like' || name === 'comment' || name === 'mixed';
  if (distinctWrites && load.totalRequests > load.distinctRequests)
    check = `${check ?? ''} (the ${fmt(load.distinctRequests)} requests of the list ran out and repeated)`;
  const r = load;
  log(
    `${LABELS[name]}: ${fmt(okPerSec(r))} req/s (2xx), p50 ${fmt(r.latencyP50, 1)} ms, p99 ${fmt(r.latencyP99, 1)} ms, ` +
      `${r.non2xx} non-2xx, ${r.errors + r.timeouts} socket errors; drained in ${fmt(drainSeconds, 1)} s${check ? `; ${check}` : ''}`,
  );
  return { load, drainSeconds, ...(check ? { check } : {}) };
}

async function baseline(): Promise<LoadResult> {
  const server = await startBaseline();
  try {
    const opts = { url: server.url, path: '/', connections: P.connections };
    if (P.warmup > 0) await runLoad({ ...opts, duration: P.warmup });
    return await runLoad({ ...opts, duration: P.duration });
  } finally {
    await server.close();
  }
}

function report(
  results: Record<Scenario, ScenarioResult>,
  base: { before: LoadResult; after: LoadResult },
  g: Graph,
  kith: KithUnderTest,
): { markdown: string; figures: Figure[] } {
  const baseRps = (base.before.requestsPerSec + base.after.requestsPerSec) / 2;
  const mix = Object.entries(P.mix)
    .map(([k, v]) => `${v} % ${k}`)
    .join(', ');
  const figures: Figure[] = (Object.keys(results) as Scenario[]).map((name) =>
    loadFigure(
      `http.${name}`,
      name === 'mixed' ? `${LABELS.mixed} (${mix})` : LABELS[name],
      results[name].load,
      baseRps,
      results[name].check,
    ),
  );
  const row = (label: string, r: LoadResult, extra: string[]) => [
    label,
    fmt(okPerSec(r)),
    fmt(r.latencyP50, 1),
    fmt(r.latencyP99, 1),
    fmt(r.non2xx),
    fmt(r.errors + r.timeouts),
    pct(okPerSec(r) / baseRps),
    ...extra,
  ];
  const s = g.summary;
  const markdown = [
    '## HTTP scenarios',
    '',
    `Graph: \`kith seed --users ${P.users} --posts-per-user ${P.postsPerUser} --seed ${P.seed}\` ` +
      `(${fmt(s.users)} users, ${fmt(s.follows)} follows, ${fmt(s.posts)} posts, ${fmt(s.likes)} likes, ${fmt(s.comments)} comments). ` +
      `autocannon in a separate process, ${P.connections} connections, ${P.duration} s per scenario after a ${P.warmup} s warm-up ` +
      `(writes: other requests than the measured run's), every request with its user's bearer token. ` +
      `Home feed: ${fmt(g.viewers.length)} viewers whose first page holds 20 posts, timelines built by one read each. ` +
      `Profile: ${fmt(g.profiles.length)} users with at least 20 posts, read by the viewers. ` +
      `Create post: ${g.authors.length} authors with ${Math.min(...g.authors.map((a) => a.followers))}-${Math.max(...g.authors.map((a) => a.followers))} followers ` +
      `(${fmt(g.authorFollowers.length)} distinct, each with a home timeline). ` +
      `Like and comment: the viewers × ${fmt(g.targetPosts.length)} public posts, no pair twice. ` +
      `Login: the viewers in turn, bcrypt cost ${kith.ctx.config.bcryptCost} (production's), rate limits raised for the run. ` +
      `Mixed: ${mix}, drawn at random per request (same requests as above). ` +
      `"Drained": after the load, seconds until the worker had handled every event raised (fan-out, notifications). ` +
      `Baseline: node:http with a fixed JSON body, same settings, before the first scenario and after the last; "Of baseline" compares with their mean (${fmt(baseRps)} req/s).`,
    '',
    table(
      [
        'Scenario',
        'Req/s (2xx)',
        'p50 (ms)',
        'p99 (ms)',
        'Non-2xx',
        'Socket errors',
        'Of baseline',
        'Drained (s)',
      ],
      [
        row('node:http, fixed JSON (baseline, before)', base.before, ['—']),
        ...(Object.keys(results) as Scenario[]).map((name) =>
          row(name === 'mixed' ? `${LABELS.mixed} (${mix})` : LABELS[name], results[name].load, [
            fmt(results[name].drainSeconds, 1),
          ]),
        ),
        row('node:http, fixed JSON (baseline, after)', base.after, ['—']),
      ],
    ),
    '',
    'Checks after each run:',
    '',
    ...(Object.keys(results) as Scenario[])
      .filter((n) => results[n].check)
      .map((n) => `- ${n}: ${results[n].check}`),
    '',
  ].join('\n');
  figures.unshift(
    loadFigure('http.baseline', 'node:http, fixed JSON (baseline, mean of before and after)', {
      ...base.before,
      requestsPerSec: baseRps,
      latencyP50: (base.before.latencyP50 + base.after.latencyP50) / 2,
      latencyP99: Math.max(base.before.latencyP99, base.after.latencyP99),
    }),
  );
  return { markdown, figures };
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const kind = wantsReal(process.argv) ? 'real' : 'embedded';
  const busy = busyWarning(machine);
  log(`# kith HTTP benchmark (${kind})\n\nMachine: ${machineLine(machine)}`);
  if (busy) log(busy);
  const kith = await startKith(kind, KITH_ENV);
  onInterrupt(() => kith.stop());
  try {
    log(`Stack: ${kith.description}\n`);
    const tokens: string[] = [];
    const tokenIndex = new Map<string, number>();
    const tokenOf = async (userId: string) => {
      let i = tokenIndex.get(userId);
      if (i === undefined) {
        tokens.push(await kith.ctx.accessTokens.sign({ userId, sessionId: randomUUID() }));
        tokenIndex.set(userId, (i = tokens.length - 1));
      }
      return tokens[i]!;
    };
    const t = performance.now();
    const graph = await seedGraph(kith, tokenOf);
    const seedSeconds = (performance.now() - t) / 1000;
    for (const a of graph.authors) await tokenOf(a.id);
    log(
      `Seeded ${fmt(graph.summary.users)} users (${fmt(graph.summary.ms.total / 1000, 1)} s) and built ` +
        `${fmt(graph.viewers.length + graph.authorFollowers.length)} timelines in ${fmt(seedSeconds, 1)} s`,
    );
    const lists = requestLists(graph, tokenIndex);
    const before = await baseline();
    log(`Baseline (before): ${fmt(before.requestsPerSec)} req/s`);
    const results = {} as Record<Scenario, ScenarioResult>;
    for (const name of Object.keys(lists) as Scenario[])
      results[name] = await runScenario(kith, name, lists, tokens, graph);
    const after = await baseline();
    log(`Baseline (after): ${fmt(after.requestsPerSec)} req/s`);
    const { markdown: body, figures } = report(results, { before, after }, graph, kith);
    const totalSeconds = (performance.now() - started) / 1000;
    const settings = Object.entries(kith.settings).map(([k, v]) => `${k}=${v}`);
    const markdown = [
      `# kith HTTP benchmark (${kind})`,
      '',
      `- Machine: ${machineLine(machine)}`,
      `- Stack: ${kith.description}`,
      `- Settings: ${settings.join(', ')}`,
      `- Date: ${new Date().toISOString()}; whole run ${fmt(totalSeconds)} s (seeding and timelines ${fmt(seedSeconds, 1)} s)`,
      ...(busy ? [`- ${busy}`] : []),
      '',
      body,
    ].join('\n');
    log('\n' + markdown);
    writeResults(`http-${kind}`, markdown, {
      name: 'http',
      date: new Date().toISOString(),
      machine,
      stack: { kind, description: kith.description, settings: kith.settings },
      parameters: P,
      seed: graph.summary,
      seedSeconds,
      totalSeconds,
      baseline: { before, after },
      scenarios: results,
      figures,
    });
  } finally {
    await cleanUp(() => kith.stop());
  }
}

await main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
// Everything is written and cleaned up: nothing left over may keep the process alive.
process.exit();
