import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifySchemaCompiler, FastifyServerOptions } from 'fastify';

/** Options shared by every part of a request. */
const AJV_OPTIONS = {
  allErrors: true,
  // Unknown fields are dropped, defaults filled in.
  removeAdditional: true,
  useDefaults: true,
} as const;

type BuildValidator = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>['buildValidator'];
type Compile = FastifySchemaCompiler<unknown>;

/**
 * Validators per part of the request. A JSON body carries its own types, so it must match its
 * schema exactly: `{"text": true}` or `{"ids": "<uuid>"}` is a 400, never stored as "true" or
 * taken as a list. The query string, path parameters and headers are text by nature, so they
 * are still read as the schema says (`?limit=20` is a number, `?ids=a` a list of one).
 */
export function partValidators(): BuildValidator {
  const pool = AjvCompiler();
  const build = (
    externalSchemas: Parameters<typeof pool>[0],
    options?: { customOptions?: object },
  ): Compile => {
    const custom = { ...options?.customOptions, ...AJV_OPTIONS };
    // The pool's compilers take the route definition, as Fastify calls them.
    const strict = pool(externalSchemas, {
      ...options,
      customOptions: { ...custom, coerceTypes: false },
    }) as unknown as Compile;
    const coercing = pool(externalSchemas, {
      ...options,
      customOptions: { ...custom, coerceTypes: 'array' },
    }) as unknown as Compile;
    return (route) => (route.httpPart === 'body' ? strict(route) : coercing(route));
  };
  return build as unknown as BuildValidator;
}
