import { AppError } from '../errors.ts';
import type { App } from './types.ts';

/** JSON bodies nest at most this deep; deeper ones are refused before they are parsed. */
export const JSON_MAX_DEPTH = 64;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether `text` nests arrays/objects deeper than `max`: one pass, no recursion, strings skipped. */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * kith takes JSON only. Bodies must be UTF-8 (RFC 8259; invalid bytes are refused rather than
 * silently replaced), nest at most JSON_MAX_DEPTH levels, and carry no `__proto__` or
 * `constructor.prototype` keys (Fastify's secure-json-parse). An empty text/plain body (what some
 * clients send with a bodiless POST) passes; any other type is 415.
 */
export function registerBodyParsers(app: App): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      return done(new AppError(400, 'invalid_json', 'The body is not valid UTF-8.'), undefined);
    }
    if (nestsDeeperThan(text, JSON_MAX_DEPTH)) {
      const message = `The body nests deeper than ${JSON_MAX_DEPTH} levels.`;
      return done(new AppError(400, 'json_too_deep', message), undefined);
    }
    void parseJson(request, text, done);
  });
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') return done(null, undefined);
    const message = 'Send the body as application/json.';
    done(new AppError(415, 'unsupported_media_type', message), undefined);
  });
}
