import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, settingsMarkdown } from './config.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'kith-config-'));

describe('loadConfig', () => {
  it('applies documented defaults', () => {
    const config = loadConfig({ DATA_DIR: tempDir() });
    assert.equal(config.port, 5000);
    assert.equal(config.nodeEnv, 'development');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.migrateOnStart, true);
    assert.equal(config.accessTokenTtl, 900);
    assert.ok(config.bcryptCost >= 10);
    assert.deepEqual(config.trustProxy, []);
    assert.ok(Object.isFrozen(config));
  });

  it('derives the public URL of mail links from PORT unless PUBLIC_URL is set', () => {
    const byDefault = loadConfig({ DATA_DIR: tempDir() });
    assert.equal(byDefault.publicUrl, 'http://localhost:5000');
    assert.equal(byDefault.publicUrlFromPort, true);
    const onPort = loadConfig({ DATA_DIR: tempDir(), PORT: '8080' });
    assert.equal(onPort.publicUrl, 'http://localhost:8080');
    assert.equal(onPort.publicUrlFromPort, true);
    // PORT=0: a placeholder until the api role listens and replaces it with the bound port.
    assert.equal(loadConfig({ DATA_DIR: tempDir(), PORT: '0' }).publicUrlFromPort, true);
    const set = loadConfig({
      DATA_DIR: tempDir(),
      PORT: '8080',
      PUBLIC_URL: 'https://kith.example',
    });
    assert.equal(set.publicUrl, 'https://kith.example');
    assert.equal(set.publicUrlFromPort, false);
  });

  it('names the variable when a value is unusable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'eighty' }, /PORT/],
      [{ PORT: '70000' }, /PORT/],
      [{ NODE_ENV: 'staging' }, /NODE_ENV/],
      [{ DATABASE_URL: 'mysql://localhost/x' }, /DATABASE_URL/],
      [{ DATABASE_URL: 'not a url' }, /DATABASE_URL/],
      [{ BCRYPT_COST: '3' }, /BCRYPT_COST/],
      [{ MIGRATE_ON_START: 'maybe' }, /MIGRATE_ON_START/],
      [{ JWT_SECRET: 'short' }, /JWT_SECRET/],
      [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig({ DATA_DIR: tempDir(), ...env }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, `${JSON.stringify(env)} should be a ConfigError`);
          assert.match(err.message, message);
          return true;
        },
      );
    }
  });

  it('requires a JWT secret and real bcrypt cost in production, and skips auto-migration', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /JWT_SECRET/);
    const secret = 'p'.repeat(40);
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, BCRYPT_COST: '4' }),
      /BCRYPT_COST/,
    );
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret });
    assert.equal(config.jwtSecret, secret);
    assert.equal(config.migrateOnStart, false);
  });

  it('generates a development secret once and keeps it in the data folder', () => {
    const dir = tempDir();
    const first = loadConfig({ DATA_DIR: dir });
    const second = loadConfig({ DATA_DIR: dir });
    assert.equal(first.jwtSecret, second.jwtSecret);
    assert.ok(first.jwtSecret.length >= 32);
    const file = join(dir, 'jwt-secret');
    assert.equal(readFileSync(file, 'utf8').trim(), first.jwtSecret);
    assert.equal(statSync(file).mode & 0o077, 0, 'secret file is private to its owner');
    assert.notEqual(loadConfig({ DATA_DIR: tempDir() }).jwtSecret, first.jwtSecret);
  });

  it('parses lists and booleans', () => {
    const config = loadConfig({
      DATA_DIR: tempDir(),
      TRUST_PROXY: '10.0.0.1, 192.168.0.0/16',
      MIGRATE_ON_START: 'no',
    });
    assert.deepEqual(config.trustProxy, ['10.0.0.1', '192.168.0.0/16']);
    assert.equal(config.migrateOnStart, false);
  });

  it('docs/CONFIGURATION.md holds the table generated from SETTINGS', () => {
    // Compared cell by cell, so prettier's column padding does not matter.
    const cells = (table: string) =>
      table
        .split('\n')
        .filter((line) => line.startsWith('|') && !/^\|[\s|:-]+\|$/.test(line))
        .map((line) =>
          line
            .slice(1, -1)
            .split('|')
            .map((cell) => cell.trim()),
        );
    const doc = readFileSync(new URL('../docs/CONFIGURATION.md', import.meta.url), 'utf8');
    const section = /<!-- settings:start[^>]*-->([\s\S]*)<!-- settings:end -->/.exec(doc);
    assert.ok(section, 'docs/CONFIGURATION.md lost its settings:start / settings:end markers');
    assert.deepEqual(
      cells(section[1]!),
      cells(settingsMarkdown()),
      'docs/CONFIGURATION.md is out of date: run node scripts/config-docs.ts',
    );
  });
});
