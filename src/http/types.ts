import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';

/** The Fastify instance kith's routes are written against (TypeBox schemas give the types). */
export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export const API_PREFIX = '/api/v1';

/** One documented route, as registered: the basis of route-table-driven tests. */
export interface RouteEntry {
  method: string;
  url: string;
  auth: 'required' | 'optional' | 'none';
  /** Whether the route takes a JSON body. */
  body: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every documented route of the app (those with a response schema). */
    routeTable: RouteEntry[];
  }
}
