import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError, type FieldError } from '../errors.ts';
import { DatabaseSaturatedError } from '../infra/db/lane.ts';
import { isUnavailable } from '../infra/db/unavailable.ts';

/** A saturated database clears in a moment (it is not down): retry soon. */
const SATURATED_RETRY_AFTER_SECONDS = 1;

/** RFC 9457 problem details, with kith's stable `code` and field errors. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable, machine-readable error code.' }),
    instance: Type.Optional(Type.String()),
    request_id: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String({ description: 'JSON pointer to the field, e.g. /username' }),
          in: Type.Optional(Type.String({ description: 'body, query, params or headers' })),
          code: Type.Optional(Type.String()),
          message: Type.String(),
        }),
      ),
    ),
  },
  { description: 'application/problem+json' },
);

/** A documented error answer: problem+json, as every error is sent. */
export function problemResponse(description: string) {
  return { description, content: { 'application/problem+json': { schema: ProblemSchema } } };
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const AJV_CODES: Record<string, string> = {
  required: 'required',
  minLength: 'too_short',
  maxLength: 'too_long',
  minItems: 'too_short',
  maxItems: 'too_long',
  pattern: 'invalid_format',
  format: 'invalid_format',
  type: 'invalid_type',
  enum: 'invalid_value',
  const: 'invalid_value',
  minimum: 'out_of_range',
  maximum: 'out_of_range',
  additionalProperties: 'unknown_field',
};

const LOCATIONS: Record<string, string> = {
  querystring: 'query',
  body: 'body',
  params: 'params',
  headers: 'headers',
};

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function fieldErrors(err: FastifyError): FieldError[] {
  const where = LOCATIONS[err.validationContext ?? 'body'] ?? 'body';
  return (err.validation as AjvError[]).map((e) => {
    const extra = e.params.missingProperty ?? e.params.additionalProperty;
    const path = `${e.instancePath}${typeof extra === 'string' ? `/${extra}` : ''}` || '/';
    return {
      path,
      in: where,
      code: AJV_CODES[e.keyword] ?? e.keyword,
      message: e.message ?? 'is not valid',
    };
  });
}

/** Maps any thrown value to an AppError; unknown errors become an opaque 500. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const err = error as FastifyError;
  if (err?.validation)
    return new AppError(400, 'validation_failed', 'The request is not valid.', {
      errors: fieldErrors(err),
    });
  if (err instanceof DatabaseSaturatedError) {
    return new AppError(503, 'overloaded', 'The server is overloaded; try again shortly.', {
      headers: { 'retry-after': String(SATURATED_RETRY_AFTER_SECONDS) },
    });
  }
  if (isUnavailable(err)) {
    return new AppError(
      503,
      'service_unavailable',
      'A backing service is unavailable; try again shortly.',
      {
        headers: { 'retry-after': '5' },
      },
    );
  }
  const status = typeof err?.statusCode === 'number' ? err.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code =
      {
        FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
        FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
        FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
        FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
        FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
      }[err.code] ?? (err instanceof SyntaxError ? 'invalid_json' : 'bad_request');
    return new AppError(status, code, err.message);
  }
  return new AppError(500, 'internal_error', 'An unexpected error occurred.');
}

export function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const e = toAppError(error);
  // Shed requests are counted (kith_http_shed_total), not logged one by one: under overload
  // a log line per refusal would add to the load it is shedding.
  if (e.status >= 500 && e.code !== 'overloaded') {
    request.log.error({ err: error }, 'request failed');
  }
  const body = {
    type: `urn:kith:problem:${e.code}`,
    title: TITLES[e.status] ?? 'Error',
    status: e.status,
    detail: e.message,
    code: e.code,
    instance: request.url.split('?')[0],
    request_id: request.id,
    ...(e.errors ? { errors: e.errors } : {}),
  };
  if (e.headers) void reply.headers(e.headers);
  return reply.status(e.status).type('application/problem+json').send(body);
}
