/** One field-level problem in a request, addressed by JSON pointer (`/username`). */
export interface FieldError {
  path: string;
  message: string;
  code?: string;
  /** Where the field is: body (default), query, params or headers. */
  in?: string;
}

/**
 * An error the client can act on. `code` is stable and documented; `message` is for humans.
 * Anything that is not an AppError becomes a 500 with no internals in the body.
 */
export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  readonly code: string;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    opts: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.errors = opts.errors;
    this.headers = opts.headers;
  }
}

export class ValidationError extends AppError {
  constructor(errors: FieldError[], message = 'The request is not valid.') {
    super(400, 'validation_failed', message, { errors });
  }
}

export class UnauthorizedError extends AppError {
  constructor(code = 'unauthorized', message = 'Authentication is required.') {
    super(401, code, message, { headers: { 'www-authenticate': 'Bearer' } });
  }
}

export class ForbiddenError extends AppError {
  constructor(code = 'forbidden', message = 'You may not do this.') {
    super(403, code, message);
  }
}

export class NotFoundError extends AppError {
  constructor(code = 'not_found', message = 'Not found.') {
    super(404, code, message);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, message: string) {
    super(409, code, message);
  }
}
