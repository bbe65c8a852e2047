import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { App } from '../../src/http/types.ts';
import type { Account } from './factories.ts';

export interface FormPart {
  name: string;
  data: Buffer | string;
  filename?: string;
  type?: string;
}

/** A multipart/form-data body and its content type, as a browser would send it. */
export function multipartForm(parts: FormPart[]) {
  const boundary = `----kith${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const file = p.filename === undefined ? '' : `; filename="${p.filename}"`;
    const type =
      p.filename === undefined ? '' : `\r\nContent-Type: ${p.type ?? 'application/octet-stream'}`;
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${file}${type}\r\n\r\n`,
      ),
      Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

/** `who` uploads `bytes` as the `file` part (and any other fields) to POST /api/v1/media. */
export function uploadMedia(
  app: App,
  who: Account | null,
  bytes: Buffer,
  fields: Record<string, string> = {},
  filename = 'photo.jpg',
) {
  const form = multipartForm([
    ...Object.entries(fields).map(([name, data]) => ({ name, data })),
    { name: 'file', data: bytes, filename, type: 'image/jpeg' },
  ]);
  return app.inject({
    method: 'POST',
    url: '/api/v1/media',
    payload: form.payload,
    headers: { ...form.headers, ...who?.auth },
  });
}

export type TestFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif';

/** A noisy picture (noise does not compress, like a photo) of the given size and format. */
export async function testImage(format: TestFormat, width = 120, height = 80): Promise<Buffer> {
  const pixels = randomBytes(width * height * 3);
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .toFormat(format)
    .toBuffer();
}

/**
 * A decompression bomb: a real, tiny PNG whose header claims `side`×`side` pixels (the header's
 * checksum recomputed, so only the size is a lie a reader must catch before decoding).
 */
export async function pngBomb(side = 60_000): Promise<Buffer> {
  const png = await sharp({
    create: { width: 8, height: 8, channels: 3, background: { r: 0, g: 0, b: 0 } },
  })
    .png()
    .toBuffer();
  const out = Buffer.from(png);
  // Signature (8) + IHDR length (4) + "IHDR" (4): width and height follow.
  out.writeUInt32BE(side, 16);
  out.writeUInt32BE(side, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)) >>> 0, 29);
  return out;
}

/** Every file under `dir` (recursively), as paths relative to it. */
export function filesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => `${e.parentPath.slice(dir.length + 1)}/${e.name}`.replace(/^\//, ''));
  } catch {
    return [];
  }
}
