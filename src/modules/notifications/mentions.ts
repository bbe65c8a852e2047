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
