/**
 * The README and docs/*.md link to each other and into the repository: every relative link
 * must reach an existing file, and every #anchor a heading of its target (GitHub's slugs).
 * The README stays a page a newcomer reads to the end.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('..', import.meta.url).pathname;
const README_MAX_LINES = 220;

const pages = [
  join(ROOT, 'README.md'),
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(ROOT, 'docs', name)),
];

/** The text with fenced code blocks and inline code spans blanked out (links there are not links). */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/(`+)[^`\n]*?\1/g, '');
}

/** GitHub's heading slug: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/<[^>]*>/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[*_`]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a Markdown file offers: its headings' slugs (-1, -2 … for repeats). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const withoutCode = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const match of withoutCode.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(match[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** Inline links and images `[text](target)` and `<a href>`; reference definitions `[x]: target`. */
function links(markdown: string): string[] {
  const text = prose(markdown);
  const found: string[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) found.push(m[1]!);
  for (const m of text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/gm)) found.push(m[1]!);
  for (const m of text.matchAll(/href="([^"]+)"/g)) found.push(m[1]!);
  return found;
}

const isExternal = (target: string) =>
  /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');

describe('documentation links', () => {
  it('finds the README and the docs', () => {
    assert.ok(pages.length > 2, 'README.md and docs/*.md');
  });

  it('slugs headings the way GitHub does', () => {
    assert.equal(slug('Roles: API nodes and workers'), 'roles-api-nodes-and-workers');
    assert.equal(slug('Replaying a script: `kith script`'), 'replaying-a-script-kith-script');
    assert.equal(slug('E-mail'), 'e-mail');
    assert.equal(
      slug('Real time: notifications, messages, streams'),
      'real-time-notifications-messages-streams',
    );
    assert.equal(slug('Shutdown (SIGTERM, SIGINT)'), 'shutdown-sigterm-sigint');
  });

  for (const page of pages) {
    const name = relative(ROOT, page);
    it(`every relative link and anchor in ${name} resolves`, () => {
      const source = readFileSync(page, 'utf8');
      const broken: string[] = [];
      for (const target of links(source)) {
        if (isExternal(target)) continue;
        const [pathPart = '', anchor] = target.split('#', 2);
        const file = pathPart === '' ? page : join(dirname(page), decodeURIComponent(pathPart));
        if (!file.startsWith(ROOT)) {
          broken.push(`${target}: outside the repository`);
          continue;
        }
        if (!existsSync(file)) {
          broken.push(`${target}: no such file`);
          continue;
        }
        if (anchor === undefined || anchor === '') continue;
        if (statSync(file).isDirectory() || !file.endsWith('.md')) {
          broken.push(`${target}: an anchor into a file that is not Markdown`);
          continue;
        }
        if (!anchors(readFileSync(file, 'utf8')).has(anchor.toLowerCase())) {
          broken.push(`${target}: no heading with that anchor in ${relative(ROOT, file)}`);
        }
      }
      assert.deepEqual(broken, [], `broken links in ${name}`);
    });
  }

  it(`README.md is at most ${README_MAX_LINES} lines`, () => {
    const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').trimEnd().split('\n').length;
    assert.ok(
      lines <= README_MAX_LINES,
      `README.md has ${lines} lines; move detail into docs/ (limit ${README_MAX_LINES})`,
    );
  });
});
