/**
 * `npm run bench:search [-- --real] [--quick] [--posts n]`: finding things (issue 21).
 *
 * Seeds, in SQL (INSERT … SELECT generate_series), a graph of `--posts` posts (1,000,000 on
 * Postgres, 100,000 embedded) by posts/100 authors over 30 days: 80 % public, 10 % followers,
 * 10 % friends; words from vocabularies of 97, 1,009 and 10,007 words (each word of the last in
 * about 1 post in 10,000) and one of 200 tags on every fifth post. Then measures, with
 * autocannon in another process:
 *  1. search: GET /search?type=posts for single words (1 in 1,000 and 1 in 10,000 posts) and
 *     pairs, anonymous, 20 connections: p99 (which bounds the p95 the issue names); then as
 *     100 signed-in users (each following 50 authors, blocking 3 and muting 2) for frequent
 *     words (1 in 97 posts) and 1-in-1,000 words, which must not cost much more;
 *  2. tag timeline reads (GET /tags/{tag}/posts) against profile reads (GET /users/{u}/posts),
 *     20 posts a page, anonymous, one after the other, twice;
 *  3. the write cost of tags: POST /posts with three tags against the same text without them,
 *     as 100 authors, in turn, twice.
 * Options: --duration <s> --warmup <s> --connections <n> --posts <n> --quick.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../src/infra/db/schema.ts';
import type { RequestTemplate } from './autocannon-runner.ts';
import {
  busyWarning,
  cleanUp,
  fmt,
  loadFigure,
  machineInfo,
  machineLine,
  measureLoad,
  numberOption,
  okPerSec,
  onInterrupt,
  pct,
  table,
  writeResults,
  type Figure,
  type LoadResult,
} from './lib.ts';
import * as seed from './seed.ts';
import { startKith, wantsReal } from './stack.ts';

const { values } = parseArgs({
  options: {
    real: { type: 'boolean' },
    quick: { type: 'boolean' },
    posts: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
  },
});
const kind = wantsReal(process.argv) ? 'real' : 'embedded';
const quick = values.quick === true;
const P = {
  posts: numberOption(values, 'posts', quick ? 5_000 : kind === 'real' ? 1_000_000 : 100_000),
  duration: numberOption(values, 'duration', quick ? 3 : 15),
  warmup: numberOption(values, 'warmup', quick ? 1 : 3),
  connections: numberOption(values, 'connections', 20),
};
const AUTHORS = Math.max(10, Math.floor(P.posts / 100));
const TAGS = 200;
const log = (line: string) => console.log(line);

/** Runs bulk statements past the kith's statement timeout, for this seeding only. */
const untimed = (db: Kysely<DB>, fn: (trx: Kysely<DB>) => Promise<unknown>) =>
  db.transaction().execute(async (trx) => {
    await sql`set local statement_timeout = 0`.execute(trx);
    await fn(trx);
  });

/** The posts, their tags and the tags table, in batches of 100,000 rows. */
async function seedPosts(db: Kysely<DB>, authors: readonly string[]): Promise<void> {
  // Rebuilt once at the end: one GIN build is much cheaper than a million index insertions.
  await sql`drop index posts_search`.execute(db);
  const start = Date.now() - 30 * 86_400_000;
  const step = (30 * 86_400_000) / P.posts;
  for (let from = 1; from <= P.posts; from += 100_000) {
    const to = Math.min(P.posts, from + 99_999);
    // A UUIDv7 per post from its time (12 hex digits of milliseconds), in id order.
    await untimed(db, (trx) =>
      sql`
      insert into posts (id, author_id, text, visibility, fan_out, created_at)
      select (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(g % 4096), 3, '0') || '8'
              || lpad(to_hex(g), 15, '0'))::uuid,
        (${[...authors]}::uuid[])[1 + g % ${authors.length}],
        'w' || (g * 31 % 97) || ' talk about x' || (g * 17 % 1009) || ' and y' || (g * 13 % 10007)
          || ' today' || case when g % 5 = 0 then ' #tag' || (g / 5 % ${TAGS}) else '' end,
        (case when g % 10 < 8 then 'public' when g % 10 = 8 then 'followers' else 'friends' end)::text,
        true, to_timestamp(ms / 1000.0)
      from generate_series(${from}::int, ${to}::int) g,
        lateral (select (${start}::bigint + g * ${step}::float8)::bigint as ms) t`.execute(trx),
    );
    log(`  ${fmt(to)} posts`);
  }
  await untimed(db, async (trx) => {
    await sql`insert into post_tags (tag, post_id, author_id, created_at)
      select substring(text from '#(tag[0-9]+)'), id, author_id, created_at from posts
      where text like '%#tag%'`.execute(trx);
    await sql`insert into tags (name) select distinct tag from post_tags`.execute(trx);
    await sql`create index posts_search on posts using gin (search_vector)`.execute(trx);
    await seed.recount(trx);
  });
}

/** The searchers' relations: each follows 50 authors, blocks 3 and mutes 2 (none themselves). */
async function seedRelations(
  db: Kysely<DB>,
  viewers: readonly string[],
  authors: readonly string[],
) {
  // Distinct authors other than the viewer (a small --posts run has few authors).
  const others = (v: number, start: number, k: number, step: number) =>
    [
      ...new Set(
        Array.from(
          { length: k },
          (_, j) => authors[(v * 131 + start + j * step) % authors.length]!,
        ),
      ),
    ].filter((id) => id !== viewers[v]);
  const follows = viewers.flatMap((id, v) => others(v, 7, 50, 17).map((o) => [id, o] as const));
  await seed.insertFollows(db, follows);
  for (const [v, id] of viewers.entries()) {
    const [b1, b2, b3, m1, m2] = others(v, 1_000, 6, 1);
    await sql`insert into blocks (blocker_id, blocked_id) values (${id}, ${b1}), (${id}, ${b2}),
      (${b3}, ${id}) on conflict do nothing`.execute(db);
    await sql`insert into mutes (muter_id, muted_id) values (${id}, ${m1}), (${id}, ${m2})
      on conflict do nothing`.execute(db);
  }
  await seed.recount(db);
}

async function main() {
  const machine = machineInfo();
  log(`# kith search benchmark (${kind})\n\nMachine: ${machineLine(machine)}`);
  // Seeding a million rows takes statements of minutes: no statement timeout in this kith. The
  // slow lane that searches run in holds half the pool (5) and lets twice that wait by default:
  // 20 concurrent searches would be refused in part (503), so here it may use the whole pool.
  const kith = await startKith(kind, {
    DATABASE_STATEMENT_TIMEOUT_MS: '0',
    DATABASE_SLOW_CONNECTIONS: '10',
  });
  onInterrupt(() => kith.stop());
  const started = performance.now();
  try {
    const { ctx } = kith;
    const { db } = ctx.database;
    const names = Array.from({ length: AUTHORS }, (_, i) => `bench_s${i}`);
    const authors = await seed.insertUsers(db, names);
    await seedPosts(db, authors);
    const writers = authors.slice(0, 100);
    await seedRelations(db, writers, authors);
    const seedSeconds = (performance.now() - started) / 1000;
    log(`Seeded ${fmt(P.posts)} posts by ${fmt(AUTHORS)} authors in ${fmt(seedSeconds, 1)} s`);

    const load = (requests: RequestTemplate[], tokens: string[] = []) =>
      measureLoad(
        { url: kith.url, connections: P.connections, duration: P.duration, requests, tokens },
        P.warmup,
      );
    const get = (path: string): RequestTemplate => ({ path: `/api/v1${path}` });
    const n = (k: number) => Array.from({ length: k }, (_, i) => i);

    const searches = n(200).map((i) =>
      get(
        i % 3 === 0
          ? `/search?q=x${(i * 7) % 1009}&type=posts`
          : i % 3 === 1
            ? `/search?q=y${(i * 37) % 10007}&type=posts`
            : `/search?q=w${i % 97}%20x${(i * 7) % 1009}&type=posts`,
      ),
    );
    const search = await load(searches);
    log(`Search: p50 ${fmt(search.latencyP50, 1)} ms, p99 ${fmt(search.latencyP99, 1)} ms`);

    const tokens = await Promise.all(
      writers.map((userId) => ctx.accessTokens.sign({ userId, sessionId: randomUUID() })),
    );
    // Signed in, half of the words frequent (1 post in 97): the privacy rule per viewer, and
    // the bound on ranked matches.
    const signedInSearches = n(200).map((i) => ({
      ...get(
        i % 2 === 0
          ? `/search?q=w${i % 97}&type=posts`
          : `/search?q=x${(i * 11) % 1009}&type=posts`,
      ),
      token: i % tokens.length,
    }));
    const signedIn = await load(signedInSearches, tokens);
    log(
      `Search signed in: p50 ${fmt(signedIn.latencyP50, 1)} ms, p99 ${fmt(signedIn.latencyP99, 1)} ms`,
    );

    const tagReads = n(TAGS).map((i) => get(`/tags/tag${i}/posts?limit=20`));
    const profileReads = n(Math.min(AUTHORS, 200)).map((i) =>
      get(`/users/${names[i]}/posts?limit=20`),
    );
    const reads: Record<'tag' | 'profile', LoadResult[]> = { tag: [], profile: [] };
    for (let round = 0; round < 2; round++) {
      reads.tag.push(await load(tagReads));
      reads.profile.push(await load(profileReads));
    }

    // The same length with and without tags: only the tagging differs.
    const writes = (tagged: boolean) =>
      n(writers.length * 10).map((i) => ({
        method: 'POST' as const,
        path: '/api/v1/posts',
        body: JSON.stringify({
          text: tagged
            ? `bench post ${i} #tag${i % TAGS} #news #kith`
            : `bench post ${i} _tag${i % TAGS} _news _kith`,
        }),
        token: i % writers.length,
      }));
    const wrote: Record<'plain' | 'tagged', LoadResult[]> = { plain: [], tagged: [] };
    for (let round = 0; round < 2; round++) {
      wrote.plain.push(await load(writes(false), tokens));
      wrote.tagged.push(await load(writes(true), tokens));
    }

    const mean = (runs: LoadResult[]) => runs.reduce((s, r) => s + okPerSec(r), 0) / runs.length;
    const tagVsProfile = mean(reads.tag) / mean(reads.profile);
    const taggedVsPlain = mean(wrote.tagged) / mean(wrote.plain);
    const size = `${fmt(P.posts)} posts`;
    const figures: Figure[] = [
      loadFigure('search.posts', `Search posts, ${P.connections} concurrent, ${size}`, search),
      loadFigure(
        'search.posts.signedin',
        `Search posts signed in, frequent words, ${P.connections} concurrent, ${size}`,
        signedIn,
      ),
      loadFigure('search.tag', `Tag timeline reads, ${size}`, reads.tag.at(-1)!),
      loadFigure('search.profile', `Profile reads, ${size}`, reads.profile.at(-1)!),
      {
        id: 'search.tagvsprofile',
        label: 'Tag timeline req/s over profile req/s',
        value: tagVsProfile,
      },
      loadFigure('search.write.plain', 'POST /posts without tags', wrote.plain.at(-1)!),
      loadFigure('search.write.tagged', 'POST /posts with three tags', wrote.tagged.at(-1)!),
      { id: 'search.writecost', label: 'Tagged post req/s over untagged', value: taggedVsPlain },
    ];
    const totalSeconds = (performance.now() - started) / 1000;
    const busy = busyWarning(machine);
    const row = (name: string, r: LoadResult) => [
      name,
      fmt(okPerSec(r)),
      fmt(r.latencyP50, 1),
      fmt(r.latencyP99, 1),
      r.non2xx + r.errors + r.timeouts,
    ];
    const markdown = [
      `# kith search benchmark (${kind})`,
      '',
      `- Machine: ${machineLine(machine)}`,
      `- Stack: ${kith.description}`,
      `- ${size} by ${fmt(AUTHORS)} authors, seeded in ${fmt(seedSeconds, 1)} s; ${P.connections} connections, ${P.duration} s runs after ${P.warmup} s warm-ups${quick ? ' (quick)' : ''}`,
      ...(busy ? [`- ${busy}`] : []),
      '',
      table(
        ['Run', 'Req/s (2xx)', 'p50 (ms)', 'p99 (ms)', 'Errors'],
        [
          row('search posts', search),
          row('search posts, signed in, frequent words', signedIn),
          ...reads.tag.map((r, i) => row(`tag timeline (${i + 1})`, r)),
          ...reads.profile.map((r, i) => row(`profile (${i + 1})`, r)),
          ...wrote.plain.map((r, i) => row(`post without tags (${i + 1})`, r)),
          ...wrote.tagged.map((r, i) => row(`post with tags (${i + 1})`, r)),
        ],
      ),
      '',
      `Search p99 ${fmt(search.latencyP99, 1)} ms (target: p95 under 50 ms; signed in with frequent words ${fmt(signedIn.latencyP99, 1)} ms). Tag timeline at ${pct(tagVsProfile)} of profile reads (target: at least 80 %). Tagged writes at ${pct(taggedVsPlain)} of untagged (target: at least 90 %).`,
    ].join('\n');
    log('\n' + markdown);
    writeResults(`search-${kind}`, markdown, {
      name: 'search',
      date: new Date().toISOString(),
      machine,
      stack: { kind, description: kith.description, settings: kith.settings },
      parameters: P,
      seedSeconds,
      totalSeconds,
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
process.exit();
