import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/** One file of an archive. */
export interface TarEntry {
  /** Path inside the archive: ASCII, at most 100 bytes (kith's own names only). */
  name: string;
  data: Buffer;
  mtime: Date;
}

const BLOCK = 512;

/** A ustar header (POSIX.1-1988), the format every `tar` reads. */
function header(entry: TarEntry): Buffer {
  const name = Buffer.from(entry.name, 'ascii');
  if (name.length > 100 || !/^[\x21-\x7e]+$/.test(entry.name)) {
    throw new Error(`not an archive entry name: ${entry.name}`);
  }
  const h = Buffer.alloc(BLOCK);
  const octal = (value: number, at: number, width: number) =>
    h.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'ascii');
  name.copy(h, 0);
  octal(0o644, 100, 8); // mode
  octal(0, 108, 8); // uid
  octal(0, 116, 8); // gid
  octal(entry.data.length, 124, 12);
  octal(Math.floor(entry.mtime.getTime() / 1000), 136, 12);
  h.write('        ', 148, 'ascii'); // the checksum counts itself as spaces
  h.write('0', 156, 'ascii'); // a regular file
  h.write('ustar\0' + '00', 257, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

async function* blocks(entries: AsyncIterable<TarEntry>): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    yield header(entry);
    yield entry.data;
    const pad = (BLOCK - (entry.data.length % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(BLOCK * 2); // the end of the archive
}

/**
 * Writes `entries` as a gzipped tar file at `path`, one entry in memory at a time (an export
 * with many pictures never sits whole in memory).
 */
export async function writeTarGz(path: string, entries: AsyncIterable<TarEntry>): Promise<void> {
  await pipeline(
    Readable.from(blocks(entries)),
    createGzip(),
    createWriteStream(path, { mode: 0o600 }),
  );
}
