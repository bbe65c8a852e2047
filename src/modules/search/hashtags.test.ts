import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hashtagsOf, tagName } from '../../text.ts';

describe('hashtagsOf', () => {
  it('finds tags in any script, folded like usernames, each once in order', () => {
    assert.deepEqual(
      hashtagsOf('#Rust and #rust, #Café #ＲＵＳＴ #日本語 #हिन्दी #Ελλάδα #snake_case!'),
      ['rust', 'café', '日本語', 'हिन्दी', 'ελλάδα', 'snake_case'],
    );
  });

  it('needs a letter, and a boundary before the #', () => {
    assert.deepEqual(hashtagsOf('#1 #2024 a#b &#39; ##x #_ #a1'), ['a1']);
  });

  it('keeps combining marks with their letter (NFC and NFD spell one tag)', () => {
    assert.deepEqual(hashtagsOf('#cafe\u0301 #café'), ['café']);
  });

  it('ignores over-long names and stops at 20 tags', () => {
    assert.deepEqual(hashtagsOf(`#${'a'.repeat(101)} #ok`), ['ok']);
    const many = Array.from({ length: 30 }, (_, i) => `#t${i}x`).join(' ');
    assert.equal(hashtagsOf(many).length, 20);
  });

  it('tagName accepts a name with or without # and refuses what is no tag', () => {
    assert.equal(tagName('#Café'), 'café');
    assert.equal(tagName('ＲＵＳＴ'), 'rust');
    for (const bad of ['', '#', '123', 'a b', 'a-b', 'a%', `${'a'.repeat(101)}`]) {
      assert.equal(tagName(bad), undefined, bad);
    }
  });
});
