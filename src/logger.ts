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

/** JSON logs (pino) with secrets redacted; `destination` lets tests capture the lines. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
