import {
  DeleteObjectsCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { joinUrl, type MediaStorage } from './storage.ts';

export interface S3Options {
  bucket: string;
  region: string;
  endpoint?: string | undefined;
  forcePathStyle: boolean;
  /** Public base URL of the bucket; default: the endpoint and bucket, path-style. */
  publicUrl?: string | undefined;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/** Files immutable under their key: a changed picture always gets a new key. */
const CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** Media in any S3-compatible bucket; clients fetch files from the bucket's public URL. */
export class S3Storage implements MediaStorage {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #baseUrl: string;

  constructor(opts: S3Options) {
    this.#client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      credentials: opts.credentials,
    });
    this.#bucket = opts.bucket;
    const endpoint = opts.endpoint ?? `https://s3.${opts.region}.amazonaws.com`;
    this.#baseUrl = opts.publicUrl ?? joinUrl(endpoint, opts.bucket);
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: key,
        Body: bytes,
        ContentType: contentType,
        CacheControl: CACHE_CONTROL,
      }),
    );
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      return out.Body ? Buffer.from(await out.Body.transformToByteArray()) : undefined;
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey')
        return undefined;
      throw err;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const out = await this.#client.send(
      new DeleteObjectsCommand({
        Bucket: this.#bucket,
        // Each key once (an avatar's one file is both its original and its preview key).
        Delete: { Objects: [...new Set(keys)].map((Key) => ({ Key })), Quiet: true },
      }),
    );
    // S3 answers 200 with per-key errors; a key that was not there is not one of them.
    if (out.Errors && out.Errors.length > 0) {
      throw new Error(`S3 delete failed for ${out.Errors.map((e) => e.Key).join(', ')}`);
    }
  }

  url(key: string): string {
    return joinUrl(this.#baseUrl, key);
  }

  close(): void {
    this.#client.destroy();
  }
}
