import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';

/**
 * An RFC 6749 error: `code` is the OAuth error (`invalid_grant`, `invalid_client`, …), sent as
 * `{"error", "error_description"}`.
 */
export class OAuthError extends AppError {
  constructor(status: number, code: string, description: string) {
    super(
      status,
      code,
      description,
      status === 401 ? { headers: { 'www-authenticate': 'Basic realm="kith"' } } : {},
    );
  }
}

export const invalidRequest = (description: string) =>
  new OAuthError(400, 'invalid_request', description);
export const invalidClient = () =>
  new OAuthError(401, 'invalid_client', 'Client authentication failed.');
export const invalidGrant = (description: string) =>
  new OAuthError(400, 'invalid_grant', description);
export const invalidScope = (description: string) =>
  new OAuthError(400, 'invalid_scope', description);

/**
 * Errors of these routes as Mastodon clients read them: JSON (never problem+json, which masto
 * cannot parse), `error` + `error_description` (RFC 6749 on /oauth/*, Mastodon's sentence on
 * /api/v1/apps), plus kith's stable `code`.
 */
export function useOAuthErrors(app: FastifyInstance, style: 'oauth' | 'mastodon'): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let status: number;
    let code: string;
    let message: string;
    if (err instanceof AppError) {
      ({ status, code, message } = err);
      for (const [name, value] of Object.entries(err.headers ?? {})) void reply.header(name, value);
    } else if (err.validation) {
      status = style === 'oauth' ? 400 : 422;
      code = style === 'oauth' ? 'invalid_request' : 'validation_failed';
      message = `${err.validationContext ?? 'body'}${err.validation[0]?.instancePath ?? ''} ${err.validation[0]?.message ?? 'is not valid'}`;
    } else if (typeof err.statusCode === 'number' && err.statusCode < 500) {
      status = err.statusCode;
      code = style === 'oauth' ? 'invalid_request' : (err.code ?? 'bad_request').toLowerCase();
      message = err.message;
    } else {
      request.log.error({ err }, 'request failed');
      status = 500;
      code = 'server_error';
      message = 'The server could not complete the request.';
    }
    const body =
      style === 'oauth'
        ? { error: code, error_description: message }
        : { error: status === 422 ? `Validation failed: ${message}` : message, code };
    return reply.status(status).type('application/json; charset=utf-8').send(body);
  });
}
