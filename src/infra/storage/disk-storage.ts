import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MEDIA_KEY, joinUrl, type MediaStorage } from './storage.ts';

/** Media files under one folder, written atomically (temporary file, then rename). */
export class DiskStorage implements MediaStorage {
  readonly #dir: string;
  readonly #baseUrl: string;

  constructor(dir: string, baseUrl: string) {
    this.#dir = dir;
    this.#baseUrl = baseUrl;
  }

  /** The file of `key`, or undefined for anything that is not one of kith's keys. */
  pathOf(key: string): string | undefined {
    return MEDIA_KEY.test(key) ? join(this.#dir, key) : undefined;
  }

  async put(key: string, bytes: Uint8Array, _contentType: string): Promise<void> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    // A reader never sees half a file: the name appears only once every byte is written.
    const partial = `${path}.${randomBytes(6).toString('hex')}.partial`;
    try {
      await writeFile(partial, bytes);
      await rename(partial, path);
    } catch (err) {
      await rm(partial, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.#path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => rm(this.#path(key), { force: true })));
  }

  url(key: string): string {
    return joinUrl(this.#baseUrl, key);
  }

  #path(key: string): string {
    const path = this.pathOf(key);
    if (!path) throw new Error(`not a media key: ${key}`);
    return path;
  }
}
