import { ValidationError } from './errors.ts';

// Control characters other than tab and newline, plus zero-width/bidi marks that hide text.
const FORBIDDEN =
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]/u;
const NEWLINES = /[\r\n]/;

export interface TextRule {
  min: number;
  max: number;
  multiline?: boolean;
}

/**
 * Normalises user-written text (NFC, trimmed, CRLF to LF) and checks its length in characters
 * after trimming. Throws a 400 naming `path` when the text breaks the rule.
 */
export function cleanText(value: string, path: string, rule: TextRule): string {
  const text = value.normalize('NFC').replace(/\r\n?/g, '\n').trim();
  const length = [...text].length;
  const fail = (code: string, message: string) => {
    throw new ValidationError([{ path, code, message }]);
  };
  if (FORBIDDEN.test(text)) fail('invalid_characters', 'must not contain control characters');
  if (!rule.multiline && NEWLINES.test(text)) fail('invalid_characters', 'must be a single line');
  if (length < rule.min) {
    fail(
      rule.min === 1 ? 'required' : 'too_short',
      `must be at least ${rule.min} characters after trimming`,
    );
  }
  if (length > rule.max) fail('too_long', `must be at most ${rule.max} characters`);
  return text;
}
