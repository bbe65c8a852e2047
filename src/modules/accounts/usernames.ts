import type { FastifyRequest } from 'fastify';

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

/**
 * A preValidation hook that normalises the username in body field `field` before the schema
 * checks it, so `ＡＬＩＣＥ` is validated (and stored, and found) as `alice`.
 */
export function normalizeUsernameField(field: string) {
  return async (request: FastifyRequest): Promise<void> => {
    const body = request.body as Record<string, unknown> | null | undefined;
    if (body && typeof body === 'object' && typeof body[field] === 'string') {
      body[field] = normalizeUsername(body[field]);
    }
  };
}
