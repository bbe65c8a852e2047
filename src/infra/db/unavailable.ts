import { DatabaseDeadlineError } from './deadline.ts';
import { DatabaseSaturatedError } from './lane.ts';

// Errors that mean "the database (or another backing service) is unreachable or too slow right
// now": the request did nothing durable and may be retried. Socket errors, and Postgres codes:
// class 08 (connection exception), 57P01-57P03 (server shutting down or starting), 53300 (too
// many connections), 57014 (statement cancelled: DATABASE_STATEMENT_TIMEOUT_MS).
const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

// node-postgres' own messages: pool or connect timeout, a connection lost mid-query, a query
// with no answer within its query_timeout, a client used after its connection failed.
const UNAVAILABLE_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated|Query read timeout|not queryable/i;

export function isUnavailable(err: { code?: unknown; message?: string }): boolean {
  return (
    (typeof err.code === 'string' && UNAVAILABLE.has(err.code)) ||
    UNAVAILABLE_MESSAGE.test(err.message ?? '')
  );
}

/**
 * Whether the database cannot answer this request now (saturated, out of the request's time, or
 * unreachable): a read that has a cached answer may serve it instead of failing.
 */
export const cannotAnswerNow = (err: unknown): boolean =>
  err instanceof DatabaseSaturatedError ||
  err instanceof DatabaseDeadlineError ||
  (typeof err === 'object' && err !== null && isUnavailable(err));
