import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import { NotFoundError } from '../../errors.ts';
import type { App } from '../../http/types.ts';
import { DiskStorage } from '../../infra/storage/disk-storage.ts';
import { CONTENT_TYPES } from '../../infra/storage/storage.ts';

/** A file's bytes never change under its key: caches may keep it for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * The one byte range asked for (`bytes=a-b`, `a-` or `-n`), clamped to the file; undefined when
 * the header is absent or asks for several ranges (then the whole file is sent), null when it
 * cannot be satisfied.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  let start: number;
  let end: number;
  if (a === '') {
    start = Math.max(0, size - Number(b));
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  if (start >= size || start > end) return null;
  return { start, end };
}

const notFound = () => new NotFoundError('file_not_found', 'No such file.');

/**
 * Media files from disk at `/media/<key>` (nginx serves the same folder in the compose and
 * cluster set-ups): content type from the extension kith chose, immutable caching, ranges.
 */
export function mediaFilesRoutes(ctx: Context) {
  return async (app: App) => {
    const storage = ctx.mediaStorage;
    if (!(storage instanceof DiskStorage)) return;
    app.get(
      '/:dir/:file',
      {
        schema: {
          hide: true,
          params: Type.Object({ dir: Type.String(), file: Type.String() }),
        },
      },
      async (request, reply) => {
        const key = `${request.params.dir}/${request.params.file}`;
        const path = storage.pathOf(key);
        if (!path) throw notFound();
        const info = await stat(path).catch(() => undefined);
        if (!info?.isFile()) throw notFound();
        const range = parseRange(request.headers.range, info.size);
        reply
          .header(
            'content-type',
            CONTENT_TYPES[extname(path).slice(1)] ?? 'application/octet-stream',
          )
          .header('cache-control', IMMUTABLE)
          .header('accept-ranges', 'bytes')
          .header('last-modified', info.mtime.toUTCString());
        if (range === null) {
          return reply.status(416).header('content-range', `bytes */${info.size}`).send();
        }
        const { start, end } = range ?? { start: 0, end: info.size - 1 };
        if (range) reply.status(206).header('content-range', `bytes ${start}-${end}/${info.size}`);
        reply.header('content-length', end - start + 1);
        return reply.send(createReadStream(path, { start, end }));
      },
    );
  };
}
