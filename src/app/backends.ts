import { isAbsolute, join, relative } from 'node:path';
import type { Config } from '../config.ts';

/** A service URL fit for a log line: scheme, host, port and path; no user, password or query. */
export function safeUrl(raw: string): string {
  const url = new URL(raw);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.protocol}//${url.host}${path}`;
}

/** A folder as the user would type it: relative to the working directory when inside it. */
function folder(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  if (rel === '') return '.';
  return rel.startsWith('..') || isAbsolute(rel) ? path : `./${rel}`;
}

export interface Backends {
  /** `PGlite (./data/pglite)` or `postgres://host:5432/db`. */
  database: string;
  /** `memory` or `redis://host:6379` (cache, timelines, rate limits). */
  cache: string;
  /** `in-process` or `amqp://host:5672`. */
  bus: string;
  /** `files (./data/mail)` or `smtp://host:587`. */
  mailer: string;
}

/** Which database, cache, bus and mailer this configuration uses, without credentials. */
export function describeBackends(config: Config, cwd: string = process.cwd()): Backends {
  return {
    database: config.databaseUrl
      ? safeUrl(config.databaseUrl)
      : `PGlite (${folder(join(config.dataDir, 'pglite'), cwd)})`,
    cache: config.redisUrl ? safeUrl(config.redisUrl) : 'memory',
    bus: config.amqpUrl ? safeUrl(config.amqpUrl) : 'in-process',
    mailer: config.smtpUrl ? safeUrl(config.smtpUrl) : `files (${folder(config.mailDir, cwd)})`,
  };
}
