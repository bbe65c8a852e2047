import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { createTestApp } from '../../../test/support/harness.ts';
import { postgresUrl } from '../../../test/support/test-databases.ts';
import { newId } from '../../ids.ts';
import { SessionsRepository } from '../../modules/accounts/sessions.repository.ts';
import { UsersRepository } from '../../modules/accounts/users.repository.ts';
import {
  DatabaseInUseError,
  isUniqueViolation,
  migrateToLatest,
  openDatabase,
  type Database,
} from './database.ts';
import type { DB } from './schema.ts';

const expectedKind = postgresUrl() ? 'postgres' : 'pglite';

function userRow(username: string) {
  return {
    id: newId(),
    username,
    email: `${username}@Example.com`,
    password_hash: 'x',
    display_name: username,
    dob: '2000-02-29',
  };
}

describe(`database and repositories on ${expectedKind}`, () => {
  let database: Database;
  let db: Kysely<DB>;
  before(async () => {
    ({ database } = (await createTestApp()).ctx);
    db = database.db;
  });

  it('runs on the backend the environment selects', async () => {
    assert.equal(database.kind, expectedKind);
    await database.ping();
  });

  it('migrations are idempotent', async () => {
    assert.deepEqual(await migrateToLatest(db), []);
  });

  it('stores and finds users; dates stay ISO strings, counts are numbers', async () => {
    const users = new UsersRepository(db);
    const row = await users.insert(userRow('leap_day'));
    assert.equal(row.dob, '2000-02-29');
    assert.ok(row.created_at instanceof Date);
    assert.equal((await users.findByUsername('LEAP_DAY'))?.id, row.id);
    assert.equal((await users.findByLogin('leap_day@example.COM'))?.id, row.id);
    assert.equal(await users.findByLogin('nobody@example.com'), undefined);
    const { rows } = await sql<{ n: number }>`select count(*) as n from users`.execute(db);
    assert.equal(typeof rows[0]?.n, 'number');
  });

  it('reports unique violations by constraint name', async () => {
    const users = new UsersRepository(db);
    await users.insert(userRow('unique_one'));
    await assert.rejects(users.insert({ ...userRow('unique_one') }), (err) =>
      isUniqueViolation(err, 'users_username_key'),
    );
    await assert.rejects(
      users.insert({ ...userRow('unique_two'), email: 'UNIQUE_ONE@example.com' }),
      (err) =>
        isUniqueViolation(err, 'users_email_key') && !isUniqueViolation(err, 'users_username_key'),
    );
  });

  it('prefix search treats LIKE wildcards literally and pages by username', async () => {
    const users = new UsersRepository(db);
    for (const name of ['pfx_a', 'pfxa', 'pfx_b', 'pfx%c']) {
      if (/^[a-z0-9_]+$/.test(name)) await users.insert(userRow(name));
    }
    assert.deepEqual(
      (await users.searchByPrefix('pfx_', undefined, 10)).map((u) => u.username),
      ['pfx_a', 'pfx_b'],
    );
    assert.deepEqual(
      (await users.searchByPrefix('pfx', 'pfx_a', 10)).map((u) => u.username),
      ['pfx_b', 'pfxa'],
    );
    assert.deepEqual(await users.searchByPrefix('pfx%', undefined, 10), []);
  });

  it('a failed transaction leaves nothing behind', async () => {
    await assert.rejects(
      db.transaction().execute(async (trx) => {
        await new UsersRepository(trx).insert(userRow('rolled_back'));
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await new UsersRepository(db).findByUsername('rolled_back'), undefined);
  });

  it('concurrent transactions never interleave (row locks on Postgres, one connection on PGlite)', async () => {
    const users = new UsersRepository(db);
    const user = await users.insert(userRow('counter_user'));
    await Promise.all(
      Array.from({ length: 25 }, () =>
        db.transaction().execute(async (trx) => {
          const row = await trx
            .selectFrom('users')
            .select('bio')
            .where('id', '=', user.id)
            .forUpdate()
            .executeTakeFirstOrThrow();
          await trx
            .updateTable('users')
            .set({ bio: String(Number(row.bio || '0') + 1) })
            .where('id', '=', user.id)
            .execute();
        }),
      ),
    );
    assert.equal((await users.findById(user.id))?.bio, '25');
  });

  it('revokes all sessions of a user except the one kept', async () => {
    const user = await new UsersRepository(db).insert(userRow('sessions_user'));
    const sessions = new SessionsRepository(db);
    const families = [newId(), newId(), newId()];
    for (const [i, family_id] of families.entries()) {
      await sessions.insert({
        id: newId(),
        user_id: user.id,
        family_id,
        token_hash: `hash-${user.id}-${i}`,
        expires_at: new Date(Date.now() + 60_000),
      });
    }
    await sessions.revokeAllForUser(user.id, families[0]);
    const rows = await db
      .selectFrom('refresh_tokens')
      .select(['family_id', 'revoked_at'])
      .where('user_id', '=', user.id)
      .execute();
    for (const row of rows) assert.equal(row.revoked_at === null, row.family_id === families[0]);
  });
});

describe('embedded database lock', { timeout: 60_000 }, () => {
  it('lets one process at a time open a data folder, and takes over a lock left by a dead one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kith-lock-'));
    after(() => rmSync(dataDir, { recursive: true, force: true }));
    const lock = join(dataDir, 'pglite.lock');
    const opts = { dataDir, poolSize: 1 };
    const first = await openDatabase(opts);
    assert.equal(readFileSync(lock, 'utf8'), String(process.pid));
    await assert.rejects(openDatabase(opts), (err: Error) => {
      assert.ok(err instanceof DatabaseInUseError);
      assert.match(
        err.message,
        new RegExp(`in use by another kith process \\(pid ${process.pid}\\)`),
      );
      return true;
    });
    await first.close();
    assert.equal(existsSync(lock), false, 'released on close');

    const gone = spawnSync(process.execPath, ['-e', '0']).pid; // a process that has ended
    writeFileSync(lock, String(gone));
    const again = await openDatabase(opts);
    assert.equal(readFileSync(lock, 'utf8'), String(process.pid), 'stale lock taken over');
    await again.close();
  });
});
