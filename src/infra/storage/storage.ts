import { randomBytes } from 'node:crypto';

/**
 * The media storage port: where uploaded pictures live. Local disk under `MEDIA_DIR` by
 * default (served by kith or nginx), or any S3-compatible store. Keys are chosen by kith and
 * unguessable (see `newMediaKey`); every operation is idempotent.
 */
export interface MediaStorage {
  /** Stores `bytes` under `key` (replacing what was there) with its content type. */
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  /** The bytes under `key`, or undefined when there are none. */
  get(key: string): Promise<Buffer | undefined>;
  /** Removes the keys; keys that do not exist are not an error. */
  delete(keys: readonly string[]): Promise<void>;
  /** The public URL of `key`. */
  url(key: string): string;
}

/** Content types of the files kith writes, by extension (the serving side uses the same map). */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
};

/**
 * A fresh key prefix: 128 random bits, so a file's URL cannot be guessed from another's. Two
 * hex characters first spread files over 256 folders on disk.
 */
export function newMediaKey(): string {
  const id = randomBytes(16).toString('hex');
  return `${id.slice(0, 2)}/${id}`;
}

/** What a key may look like: kith's own keys only, so a key never escapes the media folder. */
export const MEDIA_KEY = /^[0-9a-f]{2}\/[0-9a-f]{32}(?:-[a-z]+)?\.(?:jpg|png|webp|gif|avif)$/;

export const joinUrl = (base: string, key: string) => `${base.replace(/\/+$/, '')}/${key}`;
