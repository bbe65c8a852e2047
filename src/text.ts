import { ValidationError } from './errors.ts';

/**
 * Characters that hide or reorder text: C0/C1 controls other than tab and newline, zero-width
 * space, LRM/RLM and the Arabic letter mark, word joiner and invisible operators, the bidi
 * embeddings, overrides and isolates ("Trojan Source"), the BOM, and Unicode tags (invisible
 * ASCII look-alikes) outside an emoji flag.
 */
const FORBIDDEN =
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u{e0000}-\u{e007f}]/u;
/** A subdivision flag (🏴 + tag letters + cancel tag), the one legitimate use of tags. */
const TAG_FLAG = /\u{1f3f4}[\u{e0020}-\u{e007e}]+\u{e007f}/gu;
/**
 * Zero-width (non-)joiners belong in emoji sequences (👩‍💻) and in Persian and Indic spelling;
 * next to ASCII (or at either end) they only hide a difference between two look-alike texts.
 */
// eslint-disable-next-line no-control-regex -- ASCII range, controls included
const BARE_JOINER = /(?:^|[\u0000-\u007f])[\u200c\u200d]|[\u200c\u200d](?:$|[\u0000-\u007f])/u;
/** More combining marks in a row than Unicode's stream-safe format allows (UAX #15): "Zalgo". */
const MARK_PILE = /\p{M}{31}/u;
const NEWLINES = /[\r\n\u2028\u2029]/;

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
  const fail = (code: string, message: string) => {
    throw new ValidationError([{ path, code, message }]);
  };
  // A lone surrogate (possible through a JSON \ud800 escape) cannot be stored as UTF-8.
  if (!value.isWellFormed()) fail('invalid_characters', 'must be valid Unicode');
  const text = value.normalize('NFC').replace(/\r\n?/g, '\n').trim();
  const length = [...text].length;
  if (FORBIDDEN.test(text.replace(TAG_FLAG, '')) || BARE_JOINER.test(text)) {
    fail('invalid_characters', 'must not contain control or invisible formatting characters');
  }
  if (MARK_PILE.test(text)) fail('invalid_characters', 'must not pile up combining marks');
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

/**
 * The one spelling of a username as typed. NFKC folds compatibility look-alikes into the plain
 * letters they stand for (fullwidth `ａｌｉｃｅ`, ligatures such as `ﬁ`, circled `Ⓐ`, the Kelvin
 * sign), then case is folded. Registration validates this form and every look-up uses it, so two
 * spellings that look alike name one account. Letters that merely resemble ASCII (Cyrillic `а`,
 * Greek `ο`) are kept, and the ASCII-only username rule refuses them.
 */
export function normalizeUsername(raw: string): string {
  return raw.normalize('NFKC').toLowerCase();
}

/** Most mentions one text can notify (a wall of @names notifies the first ones only). */
const MAX_MENTIONS = 20;

/** The usernames `@mentioned` in a text, lower-cased, each once, in order of appearance. */
export function mentionedUsernames(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(/(?<![\w@])@([a-z0-9_]{3,30})(?![\w])/gi)) {
    names.add(match[1]!.toLowerCase());
    if (names.size === MAX_MENTIONS) break;
  }
  return [...names];
}

/** Most hashtags one text files under (the rest are plain text). */
const MAX_HASHTAGS = 20;
/** Longest tag name, in characters. */
export const TAG_MAX = 100;
// Letters (with their combining marks, for Indic and other scripts), digits and underscores,
// with at least one letter, so "#1" stays a number. Not after a word character or `&`, so
// "a#b" and HTML entities (`&#39;`) are no tags.
const HASHTAG = /(?<![\p{L}\p{M}\p{N}_&#])#([\p{L}\p{M}\p{N}_]*\p{L}[\p{L}\p{M}\p{N}_]*)/gu;
const TAG_NAME = /^[\p{L}\p{M}\p{N}_]*\p{L}[\p{L}\p{M}\p{N}_]*$/u;

/** The one spelling of a tag, as for usernames: NFKC, then lower case (`#Café` is `café`). */
export function normalizeTag(raw: string): string {
  return raw.normalize('NFKC').toLowerCase();
}

/** A tag name as typed (with or without `#`), normalised; undefined when it is no tag. */
export function tagName(raw: string): string | undefined {
  const name = normalizeTag(raw.startsWith('#') ? raw.slice(1) : raw);
  return TAG_NAME.test(name) && [...name].length <= TAG_MAX ? name : undefined;
}

/** Each `#hashtag` of a text as written: where it starts, what it reads and its tag name. */
export function* hashtagMatches(
  text: string,
): Generator<{ index: number; written: string; name: string }> {
  for (const match of text.matchAll(HASHTAG)) {
    const name = normalizeTag(match[1]!);
    if (TAG_NAME.test(name) && [...name].length <= TAG_MAX)
      yield { index: match.index, written: match[0], name };
  }
}

/** The `#hashtags` of a text, normalised, each once, in order of appearance. */
export function hashtagsOf(text: string): string[] {
  const names = new Set<string>();
  for (const { name } of hashtagMatches(text)) {
    names.add(name);
    if (names.size === MAX_HASHTAGS) break;
  }
  return [...names];
}
