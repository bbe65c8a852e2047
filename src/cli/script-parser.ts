/**
 * The command-script format of `kith script FILE`: one command per line, fields separated by
 * commas, an optional `[n]` sequence number first. The whole file is checked before anything is
 * sent, so a typo on line 90 never leaves a half-replayed script behind.
 *
 *   [1] ADD, ana, 02-04-1997, ana@example.com, correct-horse-1
 *   [3] CREATE_POST, ana, "Hello, world"
 *   [4] EDIT_POST, ana, 1, "Hello again, world"
 */

/**
 * Every command with its fields, in order. A trailing `?` marks an optional field. The first
 * field of every command but SLEEP names the user the command acts as.
 */
export const COMMANDS = {
  ADD: ['username', 'dob', 'email', 'password'],
  LOGIN: ['username', 'password'],
  CREATE_POST: ['username', 'text', 'visibility?'],
  EDIT_POST: ['username', 'post', 'text'],
  DELETE_POST: ['username', 'post'],
  COMMENT: ['username', 'post', 'text'],
  LIKE: ['username', 'post'],
  UNLIKE: ['username', 'post'],
  FRIEND_REQUEST: ['from', 'to'],
  ACCEPT_FRIEND: ['username', 'from'],
  DECLINE_FRIEND: ['username', 'from'],
  FOLLOW: ['username', 'target'],
  UNFOLLOW: ['username', 'target'],
  MESSAGE: ['from', 'to', 'text'],
  FEED: ['username'],
  NOTIFICATIONS: ['username'],
  SLEEP: ['milliseconds'],
} as const;

type Spec = typeof COMMANDS;
export type CommandName = keyof Spec;
type Field = Spec[CommandName][number];
type NameOf<F> = F extends `${infer N}?` ? N : F;
type ValueOf<F> = F extends 'post' | 'milliseconds'
  ? number
  : F extends `${string}?`
    ? string | undefined
    : string;
export type ArgsOf<C extends CommandName> = {
  readonly [F in Spec[C][number] as NameOf<F>]: ValueOf<F>;
};

/** One parsed line. `post` and `milliseconds` are numbers; `dob` is always ISO `YYYY-MM-DD`. */
export type ScriptCommand = {
  [C in CommandName]: {
    readonly name: C;
    /** 1-based line in the file. */
    readonly line: number;
    /** The `[n]` the line starts with, if any. */
    readonly seq: number | undefined;
    readonly args: ArgsOf<C>;
  } & (C extends 'CREATE_POST'
    ? { /** This is post N of the script. */ readonly creates: number }
    : unknown);
}[CommandName];

export interface ScriptError {
  readonly line: number;
  readonly message: string;
}

export interface ParsedScript {
  readonly commands: readonly ScriptCommand[];
  /** Every problem in the file, by line; nothing may run unless this is empty. */
  readonly errors: readonly ScriptError[];
}

export const VISIBILITIES = ['public', 'followers', 'friends'] as const;
const USERNAME = /^[A-Za-z0-9_]{3,30}$/;
const USER_FIELDS: readonly Field[] = ['username', 'from', 'to', 'target'];

const isCommand = (name: string): name is CommandName => Object.hasOwn(COMMANDS, name);

/** The user a command acts as (its first field), or undefined for SLEEP. */
export function actorOf(cmd: ScriptCommand): string | undefined {
  if (cmd.name === 'SLEEP') return undefined;
  return (cmd.args as Readonly<Record<string, string>>)[COMMANDS[cmd.name][0]];
}

/** The expected form of a command, as shown in errors: `CREATE_POST username, text[, visibility]`. */
export function usage(name: CommandName): string {
  const fields: readonly string[] = COMMANDS[name];
  const required = fields.filter((f) => !f.endsWith('?'));
  const optional = fields.filter((f) => f.endsWith('?')).map((f) => `[, ${f.slice(0, -1)}]`);
  return `${name} ${required.join(', ')}${optional.join('')}`;
}

class LineError extends Error {}

/**
 * Splits a line's fields on commas. Fields are trimmed; a field in double quotes may hold
 * commas and keeps its inner spaces, and `""` inside it is one literal quote.
 */
export function splitFields(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) {
          throw new LineError(`field ${fields.length + 1} opens a quote that is never closed`);
        }
        if (text[i] === '"') {
          if (text[i + 1] !== '"') break;
          value += '"';
          i += 2;
        } else {
          value += text[i++];
        }
      }
      i++;
      while (text[i] === ' ' || text[i] === '\t') i++;
      if (i < text.length && text[i] !== ',') {
        throw new LineError(
          `field ${fields.length + 1} has text after its closing quote (write "" for a quote inside quotes)`,
        );
      }
      fields.push(value);
    } else {
      const end = text.indexOf(',', i);
      fields.push(text.slice(i, end < 0 ? text.length : end).trim());
      i = end < 0 ? text.length : end;
    }
    if (i >= text.length) return fields;
    i++; // the comma
  }
}

/** `DD-MM-YYYY` (as in seed A's scripts) or ISO `YYYY-MM-DD` → ISO, or undefined if not a date. */
export function parseDate(text: string): string | undefined {
  const dmy = /^(\d{1,2})-(\d{1,2})-(\d{4})$/.exec(text);
  const ymd = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text);
  const [year, month, day] = dmy
    ? [dmy[3], dmy[2], dmy[1]].map(Number)
    : ymd
      ? [ymd[1], ymd[2], ymd[3]].map(Number)
      : [];
  if (year === undefined || month === undefined || day === undefined) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1) return undefined;
  return date.toISOString().slice(0, 10);
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        row[j]! + 1,
        next[j - 1]! + 1,
        row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length]!;
}

function unknownCommand(word: string): string {
  const names = Object.keys(COMMANDS) as CommandName[];
  const close = names.find((n) => editDistance(n, word.toUpperCase()) <= 2);
  return (
    `unknown command "${word}"` +
    (close ? ` (did you mean ${close}?)` : `; expected one of ${names.join(', ')}`)
  );
}

/** What the parser knows at a given line: the users it can act as and the posts created so far. */
interface State {
  users: Set<string>;
  posts: number;
}

function parseValue(field: Field, raw: string, state: State): string | number {
  const name = field.replace(/\?$/, '');
  if (USER_FIELDS.includes(field)) {
    if (!USERNAME.test(raw)) {
      throw new LineError(`${name} "${raw}" is not a valid username (3-30 letters, digits or _)`);
    }
    return raw;
  }
  switch (field) {
    case 'dob': {
      const iso = parseDate(raw);
      if (!iso) throw new LineError(`dob "${raw}" is not a date (DD-MM-YYYY or YYYY-MM-DD)`);
      return iso;
    }
    case 'post': {
      if (!/^\d+$/.test(raw) || Number(raw) < 1) {
        throw new LineError(`post "${raw}" is not a post number (N names the Nth CREATE_POST)`);
      }
      const n = Number(raw);
      if (n > state.posts) {
        throw new LineError(
          `post ${n} does not exist yet: ${state.posts === 0 ? 'no' : `only ${state.posts}`} CREATE_POST line${state.posts === 1 ? '' : 's'} before this one`,
        );
      }
      return n;
    }
    case 'milliseconds':
      if (!/^\d+$/.test(raw)) throw new LineError(`"${raw}" is not a number of milliseconds`);
      return Number(raw);
    case 'visibility?': {
      const value = raw.toLowerCase();
      if (!(VISIBILITIES as readonly string[]).includes(value)) {
        throw new LineError(`visibility "${raw}" must be one of ${VISIBILITIES.join(', ')}`);
      }
      return value;
    }
    default:
      return raw;
  }
}

function parseLine(text: string, line: number, state: State): ScriptCommand {
  let rest = text;
  let seq: number | undefined;
  if (rest.startsWith('[')) {
    const m = /^\[\s*(\d+)\s*\]/.exec(rest);
    if (!m) {
      throw new LineError(
        `bad sequence number "${/^\[[^\]]*\]?/.exec(rest)![0]}" (expected [n], n a whole number)`,
      );
    }
    seq = Number(m[1]);
    rest = rest.slice(m[0].length).trim();
    if (!rest) throw new LineError(`missing command after [${seq}]`);
  }
  // The command may be followed by a comma (seed A's form) or by a space: "ADD, ana" / "ADD ana".
  const head = /^([^\s,"]+)\s*,?/.exec(rest);
  if (!head) throw new LineError(`missing command; expected for example ${usage('ADD')}`);
  const word = head[1]!;
  const name = word.toUpperCase();
  if (!isCommand(name)) throw new LineError(unknownCommand(word));
  if (name === 'CREATE_POST') state.posts += 1; // counted even if the line is wrong: keeps numbering
  const spec: readonly Field[] = COMMANDS[name];
  const body = rest.slice(head[0].length);
  const values = body.trim() === '' ? [] : splitFields(body);
  const min = spec.filter((f) => !f.endsWith('?')).length;
  if (values.length < min || values.length > spec.length) {
    const count = min === spec.length ? `${min}` : `${min} or ${spec.length}`;
    throw new LineError(
      `${name} takes ${count} field${count === '1' ? '' : 's'} after the command, got ${values.length}: ${usage(name)}`,
    );
  }
  // The user the line acts as is known from here on, even if the rest of the line is wrong.
  const actor = name === 'SLEEP' ? undefined : values[0]!;
  if ((name === 'ADD' || name === 'LOGIN') && actor) state.users.add(actor.toLowerCase());
  const args: Record<string, string | number> = {};
  values.forEach((raw, i) => {
    const field = spec[i]!;
    if (raw === '') {
      throw new LineError(`${field.replace(/\?$/, '')} (field ${i + 1}) is empty: ${usage(name)}`);
    }
    args[field.replace(/\?$/, '')] = parseValue(field, raw, state);
  });
  if (actor && !state.users.has(actor.toLowerCase())) {
    throw new LineError(
      `the script cannot act as "${actor}": no ADD or LOGIN line for that user before this one`,
    );
  }
  const creates = name === 'CREATE_POST' ? { creates: state.posts } : {};
  return { name, line, seq, args, ...creates } as ScriptCommand;
}

/**
 * Parses a whole script. Blank lines and lines starting with `#` are skipped; every other line
 * must be a well-formed command. Post N is the Nth CREATE_POST line of the file.
 */
export function parseScript(source: string): ParsedScript {
  const commands: ScriptCommand[] = [];
  const errors: ScriptError[] = [];
  const state: State = { users: new Set(), posts: 0 };
  source
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const text = raw.trim();
      if (text === '' || text.startsWith('#')) return;
      try {
        commands.push(parseLine(text, index + 1, state));
      } catch (err) {
        if (!(err instanceof LineError)) throw err;
        errors.push({ line: index + 1, message: err.message });
      }
    });
  return { commands, errors };
}
