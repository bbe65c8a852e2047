import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAdminArgs } from './admin.ts';

describe('kith admin arguments', () => {
  it('grant takes admin or moderator; revoke takes the username alone', () => {
    assert.deepEqual(parseAdminArgs(['grant', 'ana', 'admin']), { username: 'ana', role: 'admin' });
    assert.deepEqual(parseAdminArgs(['grant', 'ana', 'moderator']), {
      username: 'ana',
      role: 'moderator',
    });
    assert.deepEqual(parseAdminArgs(['revoke', 'ana']), { username: 'ana', role: 'user' });
  });

  it('refuses anything else (the CLI prints its usage, exit 2)', () => {
    for (const args of [
      [],
      ['grant', 'ana'],
      ['grant', 'ana', 'user'],
      ['grant', 'ana', 'root'],
      ['revoke'],
      ['revoke', 'ana', 'admin'],
      ['promote', 'ana', 'admin'],
    ])
      assert.equal(parseAdminArgs(args), undefined, args.join(' '));
  });
});
