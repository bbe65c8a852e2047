/** Plain text as Mastodon's HTML `content`: escaped, paragraphs, links and mentions linked. */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** A URL or an `@mention`; the mention rule is kith's (`mentionedUsernames`). */
const TOKEN = /(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]])|(?<![\w@])@([a-z0-9_]{3,30})(?!\w)/gi;

function linkLine(line: string, accountUrl: (username: string) => string | undefined): string {
  let html = '';
  let last = 0;
  for (const match of line.matchAll(TOKEN)) {
    const [whole, url, name] = match;
    html += escapeHtml(line.slice(last, match.index));
    last = match.index + whole.length;
    if (url) {
      html += `<a href="${escapeHtml(url)}" rel="nofollow noopener" target="_blank">${escapeHtml(url)}</a>`;
      continue;
    }
    const href = accountUrl(name!.toLowerCase());
    html += href
      ? `<span class="h-card"><a href="${escapeHtml(href)}" class="u-url mention">@<span>${escapeHtml(name!)}</span></a></span>`
      : escapeHtml(whole);
  }
  return html + escapeHtml(line.slice(last));
}

/**
 * `<p>` per paragraph (blank line), `<br>` per line break; only mentions of accounts that
 * `accountUrl` knows are linked (an unknown name stays text).
 */
export function toHtml(
  text: string,
  accountUrl: (username: string) => string | undefined = () => undefined,
): string {
  const paragraphs = text
    .replace(/\r\n?/g, '\n')
    .split(/\n{2,}/)
    .filter((p) => p.trim() !== '');
  return paragraphs
    .map(
      (p) =>
        `<p>${p
          .split('\n')
          .map((line) => linkLine(line, accountUrl))
          .join('<br>')}</p>`,
    )
    .join('');
}
