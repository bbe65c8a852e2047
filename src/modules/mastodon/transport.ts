import cors from '@fastify/cors';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import qs from 'qs';
import { AppError } from '../../errors.ts';
import type { App } from '../../http/types.ts';

/** Rails-style keys (`id[]`, `notifications[last_read_id]`), bounded like Rails' own parser. */
const QS_OPTIONS = { depth: 5, arrayLimit: 100, parameterLimit: 200 } as const;
export const parseRails = (text: string): Record<string, unknown> => qs.parse(text, QS_OPTIONS);

/** Mastodon's wording for the statuses clients act on (docs entities/Error.md). */
const MESSAGES: Record<number, string> = {
  401: 'The access token is invalid',
  404: 'Record not found',
  429: 'Too many requests',
};

interface MastodonError {
  status: number;
  body: { error: string; error_description?: string; code?: string };
}

/**
 * A kith error as Mastodon clients expect it: `{"error"}` with Mastodon's status codes. kith's
 * validation failures (400) and conflicts (409) are Mastodon's 422 "Validation failed"; kith's
 * stable `code` rides along for clients that want it.
 */
export function toMastodonError(error: FastifyError | AppError): MastodonError {
  if (error instanceof AppError) {
    const status = error.status === 400 || error.status === 409 ? 422 : error.status;
    const detail = error.errors?.map((e) => `${e.path.replace(/^\//, '')} ${e.message}`).join(', ');
    const text =
      status === 422
        ? `Validation failed: ${detail || error.message}`
        : status === 403
          ? error.message
          : (MESSAGES[status] ?? error.message);
    return { status, body: { error: text, error_description: error.message, code: error.code } };
  }
  if (error.validation) {
    const message = `Validation failed: ${error.message}`;
    return { status: 422, body: { error: message, code: 'validation_failed' } };
  }
  if (error.code === 'FST_REQ_FILE_TOO_LARGE') {
    return { status: 413, body: { error: 'File is too large', code: 'media_too_large' } };
  }
  const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
  if (status === 500) return { status, body: { error: 'Internal server error' } };
  return { status, body: { error: MESSAGES[status] ?? error.message, code: error.code } };
}

export async function sendMastodonError(
  error: FastifyError | AppError,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const { status, body } = toMastodonError(error);
  if (status >= 500) request.log.error({ err: error }, 'Mastodon API request failed');
  if (error instanceof AppError && error.headers) void reply.headers(error.headers);
  await reply.code(status).type('application/json; charset=utf-8').send(body);
}

/**
 * Mastodon's transport for the routes registered in `app` (encapsulated: kith's own routes keep
 * their JSON-only parsers, problem+json errors and absence of CORS): form and multipart bodies
 * and queries with Rails bracket keys, `{"error"}` bodies, CORS for browser clients.
 */
export async function mastodonTransport(app: App, maxFileBytes: number): Promise<void> {
  await app.register(cors, {
    origin: '*',
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    // Reflects the requested headers: Authorization, Content-Type, Idempotency-Key and any other.
    exposedHeaders: ['Link', 'X-RateLimit-Reset', 'X-RateLimit-Limit', 'X-RateLimit-Remaining'],
    maxAge: 86_400,
  });
  await app.register(formbody, { parser: (text: string) => parseRails(text) });
  // Files (media, avatar, header) arrive as Buffers in the body, within kith's upload limit.
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: maxFileBytes, files: 2, fields: 100 },
  });
  app.addHook('preValidation', async (request) => {
    const search = request.url.indexOf('?');
    if (search >= 0) request.query = parseRails(request.url.slice(search + 1));
    if (request.isMultipart() && request.body && typeof request.body === 'object') {
      // Fold `fields_attributes[0][name]`-style keys the way the form parser does; files stay.
      const entries = Object.entries(request.body as Record<string, unknown>);
      const fields = entries.filter(([, value]) => typeof value === 'string');
      const files = entries.filter(([, value]) => Buffer.isBuffer(value));
      request.body = {
        ...parseRails(new URLSearchParams(fields as [string, string][]).toString()),
        ...Object.fromEntries(files),
      };
    }
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (String(reply.getHeader('content-type') ?? '').startsWith('application/json'))
      void reply.header('content-type', 'application/json; charset=utf-8');
    return payload;
  });
  // Mastodon's API is described by Mastodon's documentation (and docs/MASTODON.md), not by
  // kith's OpenAPI document, whose errors are problem+json.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });
  app.setErrorHandler((error, request, reply) =>
    sendMastodonError(error as FastifyError, request, reply),
  );
}
