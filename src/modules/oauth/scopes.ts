/** The scopes Mastodon defines (docs `api/oauth-scopes.md`); kith accepts exactly these. */
const TOP = ['read', 'write', 'follow', 'push', 'profile', 'admin:read', 'admin:write'];
const READ = [
  'accounts',
  'blocks',
  'bookmarks',
  'favourites',
  'filters',
  'follows',
  'lists',
  'mutes',
  'notifications',
  'search',
  'statuses',
];
const WRITE = [...READ.filter((s) => s !== 'search'), 'conversations', 'media', 'reports'];
const ADMIN = ['accounts', 'reports', 'domain_allows', 'domain_blocks', 'ip_blocks'];

export const SUPPORTED_SCOPES: readonly string[] = [
  ...TOP,
  ...READ.map((s) => `read:${s}`),
  ...WRITE.map((s) => `write:${s}`),
  ...ADMIN.flatMap((s) => [`admin:read:${s}`, `admin:write:${s}`]),
];
const KNOWN = new Set(SUPPORTED_SCOPES);

/** What an app or authorization request gets when it names no scope (Mastodon's default). */
export const DEFAULT_SCOPES: readonly string[] = ['read'];

/**
 * Splits a scope parameter (space- or plus-separated, as clients send it) into distinct
 * scopes; an empty parameter means the default.
 */
export function parseScopes(raw: string | undefined | null): string[] {
  const scopes = [...new Set((raw ?? '').split(/[\s+]+/).filter(Boolean))];
  return scopes.length > 0 ? scopes : [...DEFAULT_SCOPES];
}

/** The scopes of the list that kith does not know. */
export const unknownScopes = (scopes: readonly string[]) => scopes.filter((s) => !KNOWN.has(s));

/**
 * Whether every requested scope is one the app registered or a child of one (an app with
 * `read` may ask for `read:statuses`, not the reverse).
 */
export function withinScopes(requested: readonly string[], allowed: readonly string[]): boolean {
  return requested.every((scope) =>
    allowed.some((granted) => granted === scope || scope.startsWith(`${granted}:`)),
  );
}
