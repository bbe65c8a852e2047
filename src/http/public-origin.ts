import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';

/**
 * The origin clients reach kith at, for absolute URLs in answers (OAuth metadata, instance
 * discovery): PUBLIC_URL when it is set, else the scheme and host the request came to (a
 * local or test server, reached at whatever address the client used).
 */
export function publicOrigin(config: Config, request: FastifyRequest): string {
  if (!config.publicUrlFromPort) return new URL(config.publicUrl).origin;
  return `${request.protocol}://${request.host}`;
}
