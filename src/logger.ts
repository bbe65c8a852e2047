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

/** JSON logs (pino) with secrets redacted; `destination` lets tests capture the lines. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
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
    destination,
  );
}
