import type { FastifyRequest } from 'fastify';
import { normalizeUsername } from '../text.ts';

/**
 * A preValidation hook that normalises the username in body field `field` before the schema
 * checks it, so `ＡＬＩＣＥ` is validated (and stored, and found) as `alice`.
 */
export function normalizeUsernameField(field: string) {
  return async (request: FastifyRequest): Promise<void> => {
    const body = request.body as Record<string, unknown> | null | undefined;
    if (body && typeof body === 'object' && typeof body[field] === 'string') {
      body[field] = normalizeUsername(body[field]);
    }
  };
}
