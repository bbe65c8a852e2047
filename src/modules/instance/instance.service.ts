import { readFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { DB } from '../../infra/db/database.ts';
import { InstanceRepository, type InstanceCounts } from './instance.repository.ts';

/** kith's own version, from package.json. */
export const KITH_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/**
 * The Mastodon version kith reports. Clients gate features on the leading semver (Phanpy's
 * `supports.js`), so kith claims 4.2: nothing it lacks (grouped notifications) is switched
 * on; PKCE is found through the OAuth metadata instead.
 */
export const MASTODON_VERSION = `4.2.0 (compatible; kith ${KITH_VERSION})`;

/** Discovery counts are this old at most: every page view of every client asks for them. */
const COUNTS_TTL_MS = 60_000;

/** What the instance and NodeInfo documents say about this server. */
export class InstanceService {
  readonly #repo: InstanceRepository;
  #cached: { at: number; counts: Promise<InstanceCounts> } | undefined;

  constructor(db: Kysely<DB>) {
    this.#repo = new InstanceRepository(db);
  }

  /** The counts, computed at most once a minute per node (concurrent askers share one query). */
  counts(): Promise<InstanceCounts> {
    const now = Date.now();
    if (!this.#cached || now - this.#cached.at > COUNTS_TTL_MS) {
      const counts = this.#repo.counts(new Date(now));
      this.#cached = { at: now, counts };
      // A failed count is not remembered.
      counts.catch(() => {
        if (this.#cached?.counts === counts) this.#cached = undefined;
      });
    }
    return this.#cached.counts;
  }
}
