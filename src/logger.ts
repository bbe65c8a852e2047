import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Fields that must never reach a log line, wherever they appear in a logged object. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'password',
  '*.password',
  '*.current_password',
  '*.new_password',
  '*.password_hash',
  '*.refresh_token',
  '*.access_token',
  '*.token',
  '*.jwtSecret',
  'config.jwtSecret',
  'config.databaseUrl',
];

/** Query parameters that carry credentials (stream clients send the access token so). */
const SECRET_PARAMS = /([?&](?:access_token|token)=)[^&#]*/gi;

/** A URL fit for a log line: credentials in its query string are replaced. */
export const redactUrl = (url: string): string => url.replace(SECRET_PARAMS, '$1[redacted]');

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Human-readable lines for a developer at a terminal; JSON lines everywhere else. */
export const wantsPretty = (
  nodeEnv: string,
  isTTY: boolean = process.stdout.isTTY === true,
): boolean => isTTY && nodeEnv !== 'production';

type PrettyFactory = (options: Record<string, unknown>) => pino.DestinationStream;
const require = createRequire(import.meta.url);

/**
 * A pino-pretty stream to `destination` (stdout by default), or undefined when pino-pretty is
 * not installed: it is a devDependency, so a production install (npm ci --omit=dev) lacks it
 * and logs stay JSON. Loaded only when pretty output is wanted.
 */
export function prettyStream(
  destination?: pino.DestinationStream,
  load: () => PrettyFactory = () => require('pino-pretty') as PrettyFactory,
): pino.DestinationStream | undefined {
  let build: PrettyFactory;
  try {
    build = load();
  } catch {
    return undefined;
  }
  return build({
    destination: destination ?? 1,
    colorize: destination === undefined && process.stdout.hasColors?.() === true,
    // Written at once, so nothing is lost when the process exits right after a line.
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
}

export interface LoggerOptions {
  /** Pretty lines (pino-pretty) instead of JSON, if pino-pretty is installed. */
  pretty?: boolean;
}

/**
 * Logs (pino) with secrets redacted: JSON lines, or pretty ones when asked (see wantsPretty).
 * `destination` lets tests capture the lines.
 */
export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
  options: LoggerOptions = {},
): Logger {
  const stream = (options.pretty && prettyStream(destination)) || destination;
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // Fastify's request serializer, with the URL redacted.
      serializers: {
        req: (req: LoggedRequest) =>
          // A request object (Fastify's); anything else logged as `req` is left as it is.
          typeof req.url === 'string' && typeof req.method === 'string'
            ? {
                method: req.method,
                url: redactUrl(req.url),
                host: req.host,
                remoteAddress: req.ip,
                remotePort: req.socket?.remotePort,
              }
            : req,
      },
    },
    stream,
  );
}
