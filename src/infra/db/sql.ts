import { sql, type RawBuilder } from 'kysely';

/**
 * `column = any($1::uuid[])`: one parameter however many ids, so the statement text (and its
 * prepared plan) is the same for every list, where `in ($1, $2, …)` makes one per length.
 */
export const idIn = (column: string, ids: readonly string[]): RawBuilder<boolean> =>
  sql<boolean>`${sql.ref(column)} = any(${[...ids]}::uuid[])`;
