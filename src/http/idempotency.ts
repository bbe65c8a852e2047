import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../errors.ts';
import type { IdempotencyKey } from '../infra/db/idempotency.ts';

const KEY = /^[\x21-\x7e]{1,255}$/;

/** Header schema for routes that accept `Idempotency-Key` (documented in OpenAPI). */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description:
        'Retry-safe key (1-255 visible ASCII characters): a retry returns the first response.',
    }),
  ),
});

/** JSON with sorted keys, so `{a,b}` and `{b,a}` are the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : 1,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Reads and checks the request's `Idempotency-Key`; undefined when none was sent. */
export function idempotencyKeyOf(request: FastifyRequest): IdempotencyKey | undefined {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new AppError(
      400,
      'invalid_idempotency_key',
      'Idempotency-Key must be 1-255 visible ASCII characters.',
      {
        errors: [
          {
            path: '/idempotency-key',
            code: 'invalid_format',
            message: 'must be 1-255 visible ASCII characters',
          },
        ],
      },
    );
  }
  return { key, requestHash: createHash('sha256').update(canonical(request.body)).digest('hex') };
}

/** Marks a replayed response so clients can tell it from a fresh one. */
export function markReplay(reply: FastifyReply, replayed: boolean): void {
  if (replayed) void reply.header('idempotent-replayed', 'true');
}
