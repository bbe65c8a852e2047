import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeTarGz, type TarEntry } from './export-tar.ts';

/**
 * Export archives on disk, under DATA_DIR/exports. Names are random (nobody can guess one
 * from an export id or a user), and only names this class made are ever read or removed.
 * Several nodes need DATA_DIR on shared storage to serve each other's archives.
 */
export class ExportFiles {
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = join(dataDir, 'exports');
  }

  /** Writes a new archive (a gzipped tar of `entries`); its name and size. */
  async write(entries: AsyncIterable<TarEntry>): Promise<{ name: string; bytes: number }> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const name = `${randomBytes(24).toString('base64url')}.tar.gz`;
    const path = join(this.dir, name);
    try {
      await writeTarGz(path, entries);
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    }
    return { name, bytes: (await stat(path)).size };
  }

  read(name: string): Promise<Buffer> {
    return readFile(this.#path(name));
  }

  async remove(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((name) => rm(this.#path(name), { force: true })));
  }

  #path(name: string): string {
    // Names come from our own rows; refuse anything that could leave the folder all the same.
    // `.json.gz`: archives of the first format, still removed when they expire.
    if (!/^[A-Za-z0-9_-]+\.(?:tar|json)\.gz$/.test(name))
      throw new Error('not an export file name');
    return join(this.dir, name);
  }
}
