import { createHash } from 'node:crypto';
import type pg from 'pg';

/** Distinct statements given a name; beyond this, new ones run unnamed as before. */
const MAX_STATEMENTS = 2_000;
/** Statements with more parameters (bulk inserts) are rarely repeated: not worth a name. */
const MAX_PARAMETERS = 256;
/** Only these can be prepared; DDL (migrations) runs unnamed. */
const PREPARABLE = /^\s*\(?\s*(select|insert|update|delete|with)\b/i;

const names = new Map<string, string | null>();

/**
 * Put first in a statement's text to keep it unnamed: Postgres then plans it for the values of
 * each run (a custom plan) instead of settling on one generic plan after five runs. For the few
 * queries whose best plan depends on the values and is far better than the generic one: full-text
 * search reads a rare word's posts from its GIN index but walks the newest posts for a frequent
 * word, and only the word's statistics tell which (see docs/SEARCH.md "Benchmark").
 */
export const PLANNED_PER_RUN = '/* planned per run */';

/** The statement name of `text`, or null when it should run unnamed. */
function nameOf(text: string, parameters: number): string | null {
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= MAX_STATEMENTS) return null;
    name =
      parameters <= MAX_PARAMETERS && PREPARABLE.test(text) && !text.startsWith(PLANNED_PER_RUN)
        ? `k${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`
        : null;
    names.set(text, name);
  }
  return name;
}

/**
 * Makes a pooled client run kith's queries as named prepared statements: each connection parses
 * a statement once, and Postgres reuses its plan (after a few runs, a generic one) instead of
 * planning every execution, which costs more than running most of kith's queries. Kysely sends
 * `query(text, values)`; that call becomes `query({ name, text, values })`, everything else is
 * passed through. (Behind a pooler in transaction mode, use one that supports protocol-level
 * prepared statements, e.g. PgBouncer 1.21+ with max_prepared_statements.)
 */
export function usePreparedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((...args: unknown[]) => {
    const [text, values] = args;
    if (args.length === 2 && typeof text === 'string' && Array.isArray(values)) {
      const name = nameOf(text, values.length);
      if (name) return query({ name, text, values });
    }
    return query(...args);
  }) as typeof client.query;
}
