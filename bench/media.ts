/**
 * `node bench/media.ts [--real] [--quick]` (or `npm run bench -- --only media`): pictures. Uploads per second of a 2 MB photo
 * (a few at once, as clients send them) and kith's resident memory while it processes them;
 * then home-feed reads where every post carries a picture against reads of the same feed
 * without (target: within 10 %). Short runs: the machine is shared.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { cleanUp, fmt, machineInfo, machineLine, writeResults, type Figure } from './lib.ts';

const benchStarted = performance.now();
import { insertFollows, insertPosts, insertUsers, recount } from './seed.ts';
import { startKith, wantsReal } from './stack.ts';

const { values } = parseArgs({
  options: {
    real: { type: 'boolean' },
    quick: { type: 'boolean' },
    uploads: { type: 'string' },
    reads: { type: 'string' },
  },
  strict: false,
});
const quick = values.quick === true;
const uploads = Number(values.uploads ?? (quick ? 4 : 24));
const reads = Number(values.reads ?? (quick ? 30 : 300));
const mediaDir = mkdtempSync(join(tmpdir(), 'kith-bench-media-'));
const kith = await startKith(wantsReal(process.argv) ? 'real' : 'embedded', {
  MEDIA_DIR: mediaDir,
});

/** A photo-like JPEG of about 2 MB: noise does not compress, like sensor grain. */
async function photo(): Promise<Buffer> {
  const [w, h] = [1700, 1250];
  return sharp(randomBytes(w * h * 3), { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
}

const token = (userId: string) => kith.ctx.accessTokens.sign({ userId, sessionId: randomUUID() });

async function upload(auth: string, bytes: Buffer): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)]), 'photo.jpg');
  const res = await fetch(`${kith.url}/api/v1/media`, {
    method: 'POST',
    headers: { authorization: auth },
    body: form,
  });
  const body = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

/** Requests per second of `n` sequential reads of `path`. */
async function readRate(auth: string, path: string, n: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${kith.url}/api/v1${path}`, { headers: { authorization: auth } });
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    await res.arrayBuffer();
  }
  return n / ((performance.now() - started) / 1000);
}

try {
  const { db } = kith.ctx.database;
  const tag = randomBytes(3).toString('hex');
  const [uploader, withMedia, without, readsPics, readsText] = await insertUsers(
    db,
    ['up', 'pics', 'text', 'rpics', 'rtext'].map((n) => `bm${n}${tag}`),
  );
  const up = `Bearer ${await token(uploader!)}`;
  const bytes = await photo();

  // Uploads: two at a time, resident memory sampled throughout.
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const started = performance.now();
  for (let i = 0; i < uploads; i += 2) {
    await Promise.all([upload(up, bytes), ...(i + 1 < uploads ? [upload(up, bytes)] : [])]);
  }
  const uploadSeconds = (performance.now() - started) / 1000;
  clearInterval(sampler);

  // Feeds: 20 posts each, one author with a picture on every post, one without; one reader
  // follows each, so both feeds have the same shape.
  const small = await sharp(randomBytes(64 * 48 * 3), {
    raw: { width: 64, height: 48, channels: 3 },
  })
    .png()
    .toBuffer();
  const picsAuth = `Bearer ${await token(withMedia!)}`;
  for (let i = 0; i < 20; i++) {
    const id = await upload(picsAuth, small);
    const res = await fetch(`${kith.url}/api/v1/posts`, {
      method: 'POST',
      headers: { authorization: picsAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ text: `picture ${i}`, media_ids: [id] }),
    });
    if (res.status !== 201) throw new Error(`post: ${res.status}`);
  }
  await insertPosts(
    db,
    Array.from({ length: 20 }, (_, i) => ({ authorId: without!, text: `text ${i}` })),
  );
  await insertFollows(db, [
    [readsPics!, withMedia!],
    [readsText!, without!],
  ]);
  await recount(db);
  const [picsReader, textReader] = [
    `Bearer ${await token(readsPics!)}`,
    `Bearer ${await token(readsText!)}`,
  ];
  // Warm-up: builds both timelines and fills the caches.
  await readRate(picsReader, '/feed', 5);
  await readRate(textReader, '/feed', 5);
  // Interleaved halves, so a neighbour's load on the shared machine hits both alike.
  let [withRate, withoutRate] = [0, 0];
  for (let round = 0; round < 2; round++) {
    withRate += (await readRate(picsReader, '/feed', reads / 2)) / 2;
    withoutRate += (await readRate(textReader, '/feed', reads / 2)) / 2;
  }

  const figures: Figure[] = [
    {
      id: 'media.upload',
      label: 'uploads of a 2 MB photo per second (2 at a time)',
      value: uploads / uploadSeconds,
      unit: '/s',
    },
    {
      id: 'media.rss',
      label: 'peak resident memory while uploading',
      value: peakRss / 2 ** 20,
      unit: 'MiB',
    },
    {
      id: 'media.feed.with',
      label: 'home-feed reads, a picture on every post',
      reqPerSec: withRate,
    },
    { id: 'media.feed.without', label: 'home-feed reads, no pictures', reqPerSec: withoutRate },
    {
      id: 'media.feed.ratio',
      label: 'reads with pictures / without',
      value: withRate / withoutRate,
      unit: '×',
    },
  ];
  const md = [
    `# kith media benchmark (${kith.kind})`,
    '',
    machineLine(machineInfo()),
    '',
    `- photo: ${fmt(bytes.length / 1e6, 2)} MB JPEG, ${uploads} uploads in ${fmt(uploadSeconds, 1)} s: **${fmt(uploads / uploadSeconds, 2)} uploads/s**`,
    `- peak RSS while uploading: **${fmt(peakRss / 2 ** 20)} MiB**`,
    `- home feed (20 posts), ${reads} sequential reads: with pictures **${fmt(withRate)} req/s**, without **${fmt(withoutRate)} req/s** (${fmt((withRate / withoutRate) * 100)} %)`,
  ].join('\n');
  console.log(md);
  writeResults(`media-${kith.kind}`, md, {
    name: 'media',
    date: new Date().toISOString(),
    machine: machineInfo(),
    stack: { kind: kith.kind, settings: kith.settings },
    totalSeconds: (performance.now() - benchStarted) / 1000,
    figures,
  });
} finally {
  await cleanUp(() => kith.stop());
  rmSync(mediaDir, { recursive: true, force: true });
}
