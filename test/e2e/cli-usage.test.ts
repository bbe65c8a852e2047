/** `kith` argument handling, checked on the real process: help and mistakes never start a server. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
/** A command that starts a server instead of answering is killed after this and fails the test. */
const TIMEOUT_MS = 20_000;

function kith(...args: string[]) {
  return new Promise<{ code: number | null; signal: string | null; out: string; err: string }>(
    (resolve) => {
      execFile(
        process.execPath,
        [MAIN, ...args],
        {
          // Were a server started, it would listen on an ephemeral port in a throwaway folder.
          env: {
            PATH: process.env.PATH,
            HOST: '127.0.0.1',
            PORT: '0',
            DATA_DIR: mkdtempSync(join(tmpdir(), 'kith-cli-')),
          },
          timeout: TIMEOUT_MS,
          killSignal: 'SIGKILL',
        },
        (error, out, err) =>
          resolve({
            code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
            signal: error?.signal ?? null,
            out,
            err,
          }),
      );
    },
  );
}

describe('kith command line', () => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    it(`kith ${args.join(' ')} prints the usage on stdout and exits 0`, async () => {
      const r = await kith(...args);
      assert.equal(r.signal, null, `kith ${args.join(' ')} did not exit (a server started?)`);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^Usage: kith <command>/);
      assert.match(r.out, /serve {2,}run the roles/);
      assert.equal(r.err, '');
    });
  }

  it('kith with no command prints the usage on stderr and exits 2, without serving', async () => {
    const r = await kith();
    assert.equal(r.signal, null, 'kith with no command did not exit (a server started?)');
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.match(r.err, /no command given/);
    assert.match(r.err, /Usage: kith <command>/);
  });

  it('an unknown command or option exits 2 with the usage on stderr', async () => {
    for (const args of [['serv'], ['--port', '5000']]) {
      const r = await kith(...args);
      assert.equal(r.signal, null, `kith ${args.join(' ')} did not exit`);
      assert.equal(r.code, 2, `kith ${args.join(' ')}`);
      assert.equal(r.out, '');
      assert.match(r.err, new RegExp(`unknown command "${args[0]}"`));
      assert.match(r.err, /Usage: kith <command>/);
    }
  });

  it('subcommand help still reaches the subcommand', async () => {
    const r = await kith('seed', '--help');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Usage: kith seed/);
  });
});
