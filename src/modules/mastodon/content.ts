import { hashtagMatches } from '../../text.ts';

/**
 * Plain text as Mastodon's HTML `content`: escaped, paragraphs, links, mentions and hashtags
 * linked.
 */

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

/** Where a tag links to; undefined (or no function): the tag stays text. */
export type TagLink = ((name: string) => string | undefined) | undefined;

/**
 * The line's text from `start` to `end`, escaped, with the hashtags found in the whole line (as
 * kith finds a post's tags) that lie inside it linked as Mastodon links them.
 */
function textWithTags(line: string, start: number, end: number, tagUrl: TagLink): string {
  if (!tagUrl) return escapeHtml(line.slice(start, end));
  let html = '';
  let last = start;
  for (const tag of hashtagMatches(line)) {
    const tagEnd = tag.index + tag.written.length;
    const href = tagUrl(tag.name);
    if (tag.index < start || tagEnd > end || href === undefined) continue;
    html += escapeHtml(line.slice(last, tag.index));
    html += `<a href="${escapeHtml(href)}" class="mention hashtag" rel="tag">#<span>${escapeHtml(tag.written.slice(1))}</span></a>`;
    last = tagEnd;
  }
  return html + escapeHtml(line.slice(last, end));
}

function linkLine(
  line: string,
  accountUrl: (username: string) => string | undefined,
  tagUrl: TagLink,
): string {
  let html = '';
  let last = 0;
  for (const match of line.matchAll(TOKEN)) {
    const [whole, url, name] = match;
    html += textWithTags(line, last, match.index, tagUrl);
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
  return html + textWithTags(line, last, line.length, tagUrl);
}

/**
 * `<p>` per paragraph (blank line), `<br>` per line break; only mentions of accounts that
 * `accountUrl` knows are linked (an unknown name stays text).
 */
export function toHtml(
  text: string,
  accountUrl: (username: string) => string | undefined = () => undefined,
  tagUrl: TagLink = undefined,
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
          .map((line) => linkLine(line, accountUrl, tagUrl))
          .join('<br>')}</p>`,
    )
    .join('');
}
