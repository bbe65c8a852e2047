import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  COMMANDS,
  parseDate,
  parseScript,
  splitFields,
  usage,
  type CommandName,
} from './script-parser.ts';

const HEADER = 'ADD, ana, 02-04-1997, ana@example.com, correct-horse-1\n';

/** The commands of a script that must parse cleanly. */
function commands(source: string) {
  const { commands, errors } = parseScript(source);
  assert.deepEqual(errors, []);
  return commands;
}

/** The errors of a script, as "line: message". */
function errors(source: string): string[] {
  return parseScript(source).errors.map((e) => `${e.line}: ${e.message}`);
}

describe('splitFields', () => {
  it('splits on commas and trims each field', () => {
    assert.deepEqual(splitFields(' ana ,  02-04-1997,ana@example.com '), [
      'ana',
      '02-04-1997',
      'ana@example.com',
    ]);
  });

  it('keeps commas and inner spaces inside double quotes, and reads "" as one quote', () => {
    assert.deepEqual(splitFields('ana, "Hello, world",  "  spaced  " '), [
      'ana',
      'Hello, world',
      '  spaced  ',
    ]);
    assert.deepEqual(splitFields('ana, "She said ""hi"", then left"'), [
      'ana',
      'She said "hi", then left',
    ]);
    assert.deepEqual(splitFields('"", """"'), ['', '"']);
  });

  it('keeps a quote that does not open a field as text', () => {
    assert.deepEqual(splitFields('ana, it is "fine"'), ['ana', 'it is "fine"']);
  });

  it('keeps empty fields, including a trailing one', () => {
    assert.deepEqual(splitFields('a,,b,'), ['a', '', 'b', '']);
  });

  it('refuses an unclosed quote and text after a closing quote', () => {
    assert.throws(() => splitFields('ana, "Hello'), /field 2 opens a quote that is never closed/);
    assert.throws(
      () => splitFields('ana, "Hello" world'),
      /field 2 has text after its closing quote/,
    );
  });
});

describe('parseDate', () => {
  it('reads DD-MM-YYYY and YYYY-MM-DD as ISO dates', () => {
    assert.equal(parseDate('02-04-1997'), '1997-04-02');
    assert.equal(parseDate('2-4-1997'), '1997-04-02');
    assert.equal(parseDate('1999-12-31'), '1999-12-31');
    assert.equal(parseDate('2000-02-29'), '2000-02-29');
  });

  it('refuses impossible dates and other forms', () => {
    for (const bad of ['31-02-1999', '1999-02-29', '00-01-2000', '1997/04/02', '04-1997', 'x'])
      assert.equal(parseDate(bad), undefined, bad);
  });
});

describe('parseScript', () => {
  it("parses seed A's sample, with [n], into typed commands with post numbers", () => {
    const parsed = commands(
      [
        '[1] ADD, ana, 02-04-1997, ana@example.com, correct-horse-1',
        '[2] ADD, ben, 1999-12-31, ben@example.com, battery-staple-2',
        '[3] CREATE_POST, ana, "Hello, world"',
        '[4] EDIT_POST, ana, 1, "Hello again, world"',
        '[5] COMMENT, ben, 1, "Welcome!"',
        '[6] FRIEND_REQUEST, ana, ben',
      ].join('\n'),
    );
    assert.deepEqual(parsed, [
      {
        name: 'ADD',
        line: 1,
        seq: 1,
        args: {
          username: 'ana',
          dob: '1997-04-02',
          email: 'ana@example.com',
          password: 'correct-horse-1',
        },
      },
      {
        name: 'ADD',
        line: 2,
        seq: 2,
        args: {
          username: 'ben',
          dob: '1999-12-31',
          email: 'ben@example.com',
          password: 'battery-staple-2',
        },
      },
      {
        name: 'CREATE_POST',
        line: 3,
        seq: 3,
        args: { username: 'ana', text: 'Hello, world' },
        creates: 1,
      },
      {
        name: 'EDIT_POST',
        line: 4,
        seq: 4,
        args: { username: 'ana', post: 1, text: 'Hello again, world' },
      },
      { name: 'COMMENT', line: 5, seq: 5, args: { username: 'ben', post: 1, text: 'Welcome!' } },
      { name: 'FRIEND_REQUEST', line: 6, seq: 6, args: { from: 'ana', to: 'ben' } },
    ]);
  });

  it('works without [n], skips blank lines and # comments, and counts lines in the file', () => {
    const parsed = commands(
      `# a comment\n\n${HEADER}   \n\t# indented comment\r\nCREATE_POST, ana, "# not a comment"\r\n`,
    );
    assert.deepEqual(
      parsed.map((c) => [c.line, c.seq, c.name]),
      [
        [3, undefined, 'ADD'],
        [6, undefined, 'CREATE_POST'],
      ],
    );
    assert.deepEqual(parsed[1]!.args, { username: 'ana', text: '# not a comment' });
  });

  it('accepts [ n ] with spaces, a byte-order mark and a command followed by a space', () => {
    const parsed = commands(`\uFEFF[ 7 ]ADD ana, 1997-04-02, a@example.com, pw-123456\nFEED ana`);
    assert.deepEqual(
      parsed.map((c) => [c.seq, c.name]),
      [
        [7, 'ADD'],
        [undefined, 'FEED'],
      ],
    );
  });

  it('reads commands case-insensitively and keeps the case of values', () => {
    const parsed = commands(`${HEADER}create_post, Ana, "MiXeD"\nLike, ANA, 1\nsleep, 25`);
    assert.deepEqual(
      parsed.slice(1).map((c) => [c.name, c.args]),
      [
        ['CREATE_POST', { username: 'Ana', text: 'MiXeD' }],
        ['LIKE', { username: 'ANA', post: 1 }],
        ['SLEEP', { milliseconds: 25 }],
      ],
    );
  });

  it('numbers posts by their CREATE_POST line, whatever happens to them later', () => {
    const parsed = commands(
      `${HEADER}CREATE_POST, ana, one\nCREATE_POST, ana, two, friends\nDELETE_POST, ana, 1\nCREATE_POST, ana, three\nLIKE, ana, 3\nUNLIKE, ana, 2`,
    );
    const posts = parsed.flatMap((c) => (c.name === 'CREATE_POST' ? [[c.creates, c.args]] : []));
    assert.deepEqual(posts, [
      [1, { username: 'ana', text: 'one' }],
      [2, { username: 'ana', text: 'two', visibility: 'friends' }],
      [3, { username: 'ana', text: 'three' }],
    ]);
    assert.deepEqual(
      parsed.filter((c) => c.name === 'LIKE' || c.name === 'UNLIKE').map((c) => c.args),
      [
        { username: 'ana', post: 3 },
        { username: 'ana', post: 2 },
      ],
    );
  });

  it('parses every command with its fields', () => {
    const script = [
      HEADER.trim(),
      'LOGIN, zed, some-password',
      'CREATE_POST, ana, hi, Followers',
      'EDIT_POST, ana, 1, hey',
      'DELETE_POST, ana, 1',
      'COMMENT, zed, 1, yo',
      'LIKE, zed, 1',
      'UNLIKE, zed, 1',
      'FRIEND_REQUEST, ana, zed',
      'ACCEPT_FRIEND, zed, ana',
      'DECLINE_FRIEND, zed, ana',
      'FOLLOW, ana, zed',
      'UNFOLLOW, ana, zed',
      'MESSAGE, ana, zed, "hi, you"',
      'FEED, ana',
      'NOTIFICATIONS, zed',
      'SLEEP, 0',
    ].join('\n');
    const parsed = commands(script);
    assert.deepEqual(
      parsed.map((c) => c.name),
      Object.keys(COMMANDS),
    );
    assert.deepEqual(parsed.find((c) => c.name === 'CREATE_POST')!.args, {
      username: 'ana',
      text: 'hi',
      visibility: 'followers',
    });
    assert.deepEqual(parsed.find((c) => c.name === 'MESSAGE')!.args, {
      from: 'ana',
      to: 'zed',
      text: 'hi, you',
    });
    assert.deepEqual(parsed.find((c) => c.name === 'ACCEPT_FRIEND')!.args, {
      username: 'zed',
      from: 'ana',
    });
  });

  it('shows the expected form of each command', () => {
    assert.equal(usage('ADD'), 'ADD username, dob, email, password');
    assert.equal(usage('CREATE_POST'), 'CREATE_POST username, text[, visibility]');
    assert.equal(usage('SLEEP'), 'SLEEP milliseconds');
  });
});

describe('parseScript errors', () => {
  it('reports every malformed line with its line number, and nothing else', () => {
    const script = [
      HEADER.trim(), // 1
      'POST, ana, hi', // 2
      'CREATE_POSTS, ana, hi', // 3
      '[x] FEED, ana', // 4
      '[3 FEED, ana', // 5
      '[4]', // 6
      'ADD, ben, 1999-12-31, ben@example.com', // 7
      'ADD, cyd, 31-02-1999, cyd@example.com, pw-123456', // 8
      'FEED, ana, extra', // 9
      'LIKE, ana, 1', // 10
      'CREATE_POST, ana, "unclosed', // 11
      'CREATE_POST, ana, "a" b', // 12
      'EDIT_POST, ana, one, text', // 13
      'EDIT_POST, ana, 0, text', // 14
      'CREATE_POST, ana, hi, secret', // 15
      'SLEEP, -5', // 16
      'SLEEP, soon', // 17
      'FEED, zoe', // 18
      'FOLLOW, ana, "no spaces"', // 19
      'COMMENT, ana, 2, ', // 20
      'FEED', // 21
      '"ADD", x', // 22
      'COMMENT, ana, 5, hi', // 23
    ].join('\n');
    assert.deepEqual(errors(script), [
      `2: unknown command "POST"; expected one of ${Object.keys(COMMANDS).join(', ')}`,
      '3: unknown command "CREATE_POSTS" (did you mean CREATE_POST?)',
      '4: bad sequence number "[x]" (expected [n], n a whole number)',
      '5: bad sequence number "[3 FEED, ana" (expected [n], n a whole number)',
      '6: missing command after [4]',
      '7: ADD takes 4 fields after the command, got 3: ADD username, dob, email, password',
      '8: dob "31-02-1999" is not a date (DD-MM-YYYY or YYYY-MM-DD)',
      '9: FEED takes 1 field after the command, got 2: FEED username',
      '10: post 1 does not exist yet: no CREATE_POST lines before this one',
      '11: field 2 opens a quote that is never closed',
      '12: field 2 has text after its closing quote (write "" for a quote inside quotes)',
      '13: post "one" is not a post number (N names the Nth CREATE_POST)',
      '14: post "0" is not a post number (N names the Nth CREATE_POST)',
      '15: visibility "secret" must be one of public, followers, friends',
      '16: "-5" is not a number of milliseconds',
      '17: "soon" is not a number of milliseconds',
      '18: the script cannot act as "zoe": no ADD or LOGIN line for that user before this one',
      '19: target "no spaces" is not a valid username (3-30 letters, digits or _)',
      '20: text (field 3) is empty: COMMENT username, post, text',
      '21: FEED takes 1 field after the command, got 0: FEED username',
      '22: missing command; expected for example ADD username, dob, email, password',
      // Lines 11, 12 and 15 are CREATE_POST lines: numbering counts them even though they failed.
      '23: post 5 does not exist yet: only 3 CREATE_POST lines before this one',
    ]);
  });

  it('names the one post that exists, and lets a user act only after their ADD or LOGIN', () => {
    assert.deepEqual(
      errors(`FEED, ana\n${HEADER}CREATE_POST, ana, x\nLIKE, ana, 2\nLOGIN, ben, pw\nFEED, BEN`),
      [
        '1: the script cannot act as "ana": no ADD or LOGIN line for that user before this one',
        '4: post 2 does not exist yet: only 1 CREATE_POST line before this one',
      ],
    );
  });

  it('shows the expected form for a wrong field count of every command', () => {
    for (const name of Object.keys(COMMANDS) as CommandName[]) {
      const source = `${HEADER}${name}, ana, 1, 2, 3, 4, 5, 6`;
      const [error] = parseScript(source).errors;
      assert.equal(error?.line, 2, name);
      assert.ok(error.message.endsWith(`: ${usage(name)}`), error.message);
    }
  });
});
