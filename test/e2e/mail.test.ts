/**
 * E-mail through the public API, with a worker in process and a real SMTP server started here:
 * the welcome mail and its verification link, resend, change of address and password reset.
 * Every mail the server receives is parsed and kept; `drain` waits until the mail consumer has
 * handled every event, so the mailbox is complete when a test looks at it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Env } from '../../src/config.ts';
import { newId } from '../../src/ids.ts';
import { EmailTokensRepository } from '../../src/modules/accounts/email-tokens.repository.ts';
import { EmailTokenSigner } from '../../src/modules/accounts/email-tokens.service.ts';
import { recordEvent } from '../../src/events/outbox.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { transaction } from '../../src/infra/db/transaction.ts';
import { drain } from '../support/drain.ts';
import { createAccount, login, type Account, type NewUser } from '../support/factories.ts';
import PostalMime, { type Email } from 'postal-mime';
import { startSmtpServer } from '../support/smtp-server.ts';
import { createTestApp, TEST_JWT_SECRET } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';

const API = '/api/v1';
const PUBLIC_URL = 'https://kith.example';
const MAIL_FROM = 'kith <no-reply@kith.example>';
const TOKEN = /[0-9a-f]{8}-[0-9a-f-]{27}\.[\w-]{43}(?![\w-])/;
const HOUR_MS = 3_600_000;

/** RabbitMQ names to delete after the file: each app's prefix and its consumer groups. */
const topologies: { prefix: string; groups: string[] }[] = [];
if (redisUrl()) await testRedis(); // removes this file's Redis keys (rate limits) afterwards
after(async () => {
  for (const { prefix, groups } of topologies) await deleteAmqpTopology(amqpUrl()!, prefix, groups);
});

const smtp = await startSmtpServer((close) => after(close));

/** An app with a worker on this run's services; `stop()` ends the worker. */
async function kith(name: string, env: Env, captureLogs = false) {
  const [redis, amqp] = [redisUrl(), amqpUrl()];
  const { app, ctx, logs } = await createTestApp({
    captureLogs,
    env: {
      OUTBOX_POLL_MS: '10',
      ...(redis && { REDIS_URL: redis, REDIS_PREFIX: `${testPrefix}:${name}:` }),
      ...(amqp && { AMQP_URL: amqp, AMQP_PREFIX: `${testPrefix}.${name}` }),
      ...env,
    },
  });
  // Every group the worker declares (feed, mail, …), so none is left on the shared broker.
  if (amqp)
    topologies.push({ prefix: `${testPrefix}.${name}`, groups: ctx.consumers.map((c) => c.group) });
  const worker = await startWorker(ctx);
  const call = (m: 'GET' | 'POST', url: string, payload?: object, who?: Account) =>
    app.inject({
      method: m,
      url: `${API}${url}`,
      headers: who?.auth ?? {},
      ...(payload && { payload }),
    });
  return {
    app,
    ctx,
    logs,
    db: ctx.database.db,
    call,
    stop: () => worker.stop(),
    /** The mailed link, as a browser follows it. */
    verify: (token: string) => call('GET', `/auth/verify-email?token=${encodeURIComponent(token)}`),
    resend: (who?: Account) => call('POST', '/auth/verify-email/resend', undefined, who),
    changeEmail: (who: Account, email: string, password = who.password) =>
      call('POST', '/me/email', { email, password }, who),
    reset: (email: string) => call('POST', '/auth/password-reset', { email }),
    confirm: (token: string, password: string) =>
      call('POST', '/auth/password-reset/confirm', { token, password }),
    me: async (who: Account) =>
      (await call('GET', '/me', undefined, who)).json<{ email: string; email_verified: boolean }>(),
  };
}
type Kith = Awaited<ReturnType<typeof kith>>;

/** Mails received for `address` (by SMTP envelope), after the worker handled every event. */
async function mailbox(k: Kith, address: string) {
  await drain(k.ctx);
  return smtp.received.filter((m) => m.rcpt.includes(address));
}
/** The link to verify-email in a mail, and its token. */
function verifyLink(mail: Email): { link: string; token: string } {
  const link = /https?:\/\/\S+\/verify-email\?token=\S+/.exec(mail.text ?? '')?.[0];
  assert.ok(link, `a verification link in: ${mail.text}`);
  return { link, token: new URL(link).searchParams.get('token')! };
}
const resetToken = (mail: Email) => TOKEN.exec(mail.text ?? '')?.[0] ?? assert.fail(mail.text);
const only = <T>(list: T[], what: string): T => {
  assert.equal(list.length, 1, `exactly one ${what}`);
  return list[0]!;
};
/** The single mail for `address` since `seen` of them had arrived. */
async function nextMail(k: Kith, address: string, seen: number) {
  return only((await mailbox(k, address)).slice(seen), `new mail for ${address}`);
}
type Response = Awaited<ReturnType<Kith['call']>>;
/** Asserts the status of a response; returns it. */
async function expect(res: Promise<Response>, status: number): Promise<Response> {
  const r = await res;
  assert.equal(r.statusCode, status, r.body);
  return r;
}
/** 'ok' for a 200, else the problem code: the outcome of a concurrent call. */
const outcome = (r: Response) => (r.statusCode === 200 ? 'ok' : r.json<{ code: string }>().code);
/** The token with its character at `i` replaced by another of the same alphabet. */
const flip = (token: string, i: number) =>
  token.slice(0, i) + (token[i] === 'a' ? 'b' : 'a') + token.slice(i + 1);
const expire = (k: Kith, tokenId: string) =>
  k.db
    .updateTable('email_tokens')
    .set({ expires_at: new Date(Date.now() - 1000) })
    .where('id', '=', tokenId)
    .execute();
async function lifetimeMs(k: Kith, tokenId: string) {
  const row = await k.db
    .selectFrom('email_tokens')
    .selectAll()
    .where('id', '=', tokenId)
    .executeTakeFirstOrThrow();
  return row.expires_at.getTime() - row.created_at.getTime();
}

describe('mail over SMTP', { timeout: 60_000 }, () => {
  const k = {} as Kith;
  before(async () => {
    const env = { SMTP_URL: smtp.url, MAIL_FROM, PUBLIC_URL, RATE_LIMIT_MAIL: '2' };
    Object.assign(k, await kith('smtp', env));
  });
  after(() => k.stop());
  /** Registers (and logs in) an account and returns it with its welcome mail. */
  async function signUp(overrides: Partial<NewUser> = {}) {
    const a = await createAccount(k.app, overrides);
    return { a, welcome: only(await mailbox(k, a.email), 'welcome mail') };
  }
  async function verified() {
    const { a, welcome } = await signUp();
    await expect(k.verify(verifyLink(welcome).token), 200);
    return a;
  }
  const state = async (who: Account) => {
    const { email, email_verified } = await k.me(who);
    return { email, email_verified };
  };

  describe('welcome mail and verification link', () => {
    it('registration sends exactly one welcome mail whose link verifies the address once', async () => {
      const { a, welcome } = await signUp({ display_name: '<b>Ana & "Bo"</b>' });
      assert.deepEqual(welcome.from, { name: 'kith', address: 'no-reply@kith.example' });
      assert.deepEqual(welcome.to, [{ name: '', address: a.email }]);
      assert.match(welcome.subject!, /^Welcome to kith/);
      assert.match(welcome.text!, /^Hi <b>Ana & "Bo"<\/b>,/);
      assert.ok(welcome.html!.includes('Hi &#60;b&#62;Ana &#38; &#34;Bo&#34;&#60;/b&#62;,'));
      const { link, token } = verifyLink(welcome);
      assert.equal(link, `${PUBLIC_URL}/api/v1/auth/verify-email?token=${token}`);
      assert.ok(welcome.html!.includes(`href="${link}"`), 'the HTML part has the same link');
      // Message-ID names the event; mail_deliveries records it once.
      const eventId = /^<(.+)@kith\.mail>$/.exec(welcome.messageId!)?.[1] ?? '';
      const event = await k.db.selectFrom('outbox').selectAll().where('id', '=', eventId).execute();
      assert.deepEqual(
        event.map((e) => [e.type, e.data.user_id]),
        [['user.registered', a.id]],
      );
      const deliveries = await k.db.selectFrom('mail_deliveries').selectAll().execute();
      assert.deepEqual(
        deliveries.filter((d) => d.recipient === a.email).map((d) => [d.event_id, d.kind]),
        [[eventId, 'user.registered']],
      );

      assert.deepEqual(await state(a), { email: a.email, email_verified: false });
      const { pathname, search } = new URL(link);
      const res = await expect(k.app.inject({ method: 'GET', url: pathname + search }), 200);
      assert.deepEqual(res.json(), { username: a.username, email: a.email, email_verified: true });
      assert.deepEqual(await state(a), { email: a.email, email_verified: true });
      assertProblem(await k.verify(token), 400, 'link_used');
      assertProblem(await k.call('POST', '/auth/verify-email', { token }), 400, 'link_used');
      assert.equal((await mailbox(k, a.email)).length, 1, 'verifying sends no mail');
    });

    it('POST /auth/verify-email {token} verifies like the link', async () => {
      const { a, welcome } = await signUp();
      await expect(k.call('POST', '/auth/verify-email', { token: verifyLink(welcome).token }), 200);
      assert.equal((await k.me(a)).email_verified, true);
    });

    it('a tampered, unknown or malformed token is link_invalid and spends nothing', async () => {
      const { a, welcome } = await signUp();
      const { token } = verifyLink(welcome);
      const [id] = token.split('.') as [string];
      const forged = [
        flip(token, id.length + 1), // first character of the MAC
        flip(token, id.length - 1), // last character of the id
        new EmailTokenSigner(TEST_JWT_SECRET).sign(newId(), 'verify_email'), // signed, no row
        new EmailTokenSigner(`${TEST_JWT_SECRET}-other`).sign(id, 'verify_email'),
        id, // no MAC
        `${token}.x`,
        token.toUpperCase(),
        'not-a-token',
      ];
      for (const bad of forged) assertProblem(await k.verify(bad), 400, 'link_invalid');
      const empty = await k.call('POST', '/auth/verify-email', { token: '' });
      assertProblem(empty, 400, 'validation_failed');
      assertProblem(await k.call('GET', '/auth/verify-email'), 400, 'validation_failed');
      assert.equal((await k.me(a)).email_verified, false);
      await expect(k.verify(token), 200); // the genuine link still works
    });

    it('a verification link lasts 24 hours; an expired one is link_expired', async () => {
      const { a, welcome } = await signUp();
      const { token } = verifyLink(welcome);
      const [id] = token.split('.') as [string];
      assert.ok(Math.abs((await lifetimeMs(k, id)) - 24 * HOUR_MS) < 60_000);
      await expire(k, id);
      assertProblem(await k.verify(token), 400, 'link_expired');
      assert.equal((await k.me(a)).email_verified, false);
    });

    it('a token for the other purpose is link_invalid at either endpoint', async () => {
      const { a, welcome } = await signUp();
      const verify = verifyLink(welcome).token;
      await expect(k.reset(a.email), 202);
      const reset = resetToken(await nextMail(k, a.email, 1));
      assertProblem(await k.verify(reset), 400, 'link_invalid');
      assertProblem(await k.confirm(verify, 'another-pass-123'), 400, 'link_invalid');
      await expect(k.verify(verify), 200);
      await expect(k.confirm(reset, 'another-pass-123'), 204);
    });

    it('sends no mail for a link that expired or was used before the worker got to it', async () => {
      const { a } = await signUp();
      const sent = (await k.db.selectFrom('mail_deliveries').selectAll().execute()).length;
      for (const stale of [{ expires_at: new Date(Date.now() - 1000) }, { used_at: new Date() }]) {
        await transaction(k.db, async (trx) => {
          const id = await new EmailTokensRepository(trx).create(a.id, a.email, 'verify_email');
          await trx.updateTable('email_tokens').set(stale).where('id', '=', id).execute();
          await recordEvent(trx, 'email.verification_requested', { user_id: a.id, token_id: id });
        });
      }
      assert.equal((await mailbox(k, a.email)).length, 1, 'only the welcome mail');
      assert.equal((await k.db.selectFrom('mail_deliveries').selectAll().execute()).length, sent);
    });

    it('the same link used concurrently verifies once; the other uses are link_used', async () => {
      const { a, welcome } = await signUp();
      const { token } = verifyLink(welcome);
      const results = await Promise.all([1, 2, 3].map(() => k.verify(token)));
      assert.deepEqual(results.map(outcome).sort(), ['link_used', 'link_used', 'ok']);
      assert.equal((await k.me(a)).email_verified, true);
    });
  });

  describe('resend', () => {
    it('mails a new link; either link verifies, and using one spends the other', async () => {
      const { a, welcome } = await signUp();
      assert.deepEqual((await expect(k.resend(a), 202)).json(), { email: a.email });
      const again = await nextMail(k, a.email, 1);
      assert.match(again.subject!, /^Confirm your e-mail address/);
      const [older, newer] = [verifyLink(welcome).token, verifyLink(again).token];
      assert.notEqual(older, newer);
      // The older link stays valid until one of them is used; then both are spent (same state).
      await expect(k.verify(older), 200);
      assertProblem(await k.verify(newer), 400, 'link_used');
      assertProblem(await k.resend(a), 409, 'already_verified');
      assert.equal((await mailbox(k, a.email)).length, 2);
    });

    it(`is limited to RATE_LIMIT_MAIL (2) per window per account: then 429 rate_limited`, async () => {
      const [{ a }, { a: b }] = [await signUp(), await signUp()];
      for (let i = 0; i < 2; i++) await expect(k.resend(a), 202);
      const limited = await k.resend(a);
      assertProblem(limited, 429, 'rate_limited');
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.equal((await mailbox(k, a.email)).length, 3, 'welcome + 2 resends');
      await expect(k.resend(b), 202); // another account has its own budget
      assertProblem(await k.resend(), 401, 'unauthorized');
    });

    // On Postgres the two spends deadlock (each locks its row, then updates the other's);
    // transaction() retries the victim after deadlock_timeout, so the outcome is still right.
    it('two links of one account used concurrently: one verifies, the other is link_used', async () => {
      const { a, welcome } = await signUp();
      await expect(k.resend(a), 202);
      const tokens = [welcome, await nextMail(k, a.email, 1)].map((m) => verifyLink(m).token);
      for (let round = 0; round < 2; round++) {
        const unused = { used_at: null };
        await k.db.updateTable('email_tokens').set(unused).where('user_id', '=', a.id).execute();
        const results = await Promise.all(tokens.map((t) => k.verify(t)));
        assert.deepEqual(results.map(outcome).sort(), ['link_used', 'ok'], `round ${round}`);
      }
    });
  });

  describe('change of address', () => {
    it('needs the password; the new address replaces the old one only once its link is used', async () => {
      const a = await verified();
      const next = `new-${a.email}`;
      assertProblem(await k.changeEmail(a, next, 'not-my-password'), 403, 'wrong_password');
      assert.deepEqual((await expect(k.changeEmail(a, next), 202)).json(), { email: next });
      const mail = only(await mailbox(k, next), 'mail to the new address');
      assert.ok(mail.text!.includes(next));
      assert.equal((await mailbox(k, a.email)).length, 1, 'nothing more to the old address');
      assert.deepEqual(await state(a), { email: a.email, email_verified: true });

      const res = await expect(k.verify(verifyLink(mail).token), 200);
      assert.deepEqual(res.json(), { username: a.username, email: next, email_verified: true });
      assert.deepEqual(await state(a), { email: next, email_verified: true });
      await login(k.app, next, a.password);
      const old = await k.call('POST', '/auth/login', { login: a.email, password: a.password });
      assertProblem(old, 401, 'invalid_credentials');
    });

    it('409 email_taken for an address another account has, also when it takes it meanwhile', async () => {
      const [a, { a: b }] = [await verified(), await signUp()];
      for (const email of [b.email, b.email.toUpperCase()])
        assertProblem(await k.changeEmail(a, email), 409, 'email_taken');
      const c = await verified();
      const wanted = `wanted-${c.email}`;
      await expect(k.changeEmail(c, wanted), 202);
      const link = verifyLink(only(await mailbox(k, wanted), 'mail to the new address'));
      await createAccount(k.app, { email: wanted }); // someone registers with it first
      assertProblem(await k.verify(link.token), 409, 'email_taken');
      assert.deepEqual(await state(c), { email: c.email, email_verified: true });
    });

    it('409 same_email for your own verified address', async () => {
      const a = await verified();
      assertProblem(await k.changeEmail(a, a.email), 409, 'same_email');
      assert.equal((await mailbox(k, a.email)).length, 1);
    });

    it('verifying the current address leaves a pending change of address valid', async () => {
      const { a, welcome } = await signUp(); // not verified yet
      const next = `next-${a.email}`;
      await expect(k.changeEmail(a, next), 202);
      const pending = verifyLink(only(await mailbox(k, next), 'mail to the new address')).token;
      await expect(k.verify(verifyLink(welcome).token), 200);
      assert.deepEqual(await state(a), { email: a.email, email_verified: true });
      await expect(k.verify(pending), 200);
      assert.deepEqual(await state(a), { email: next, email_verified: true });
    });
  });

  describe('password reset', () => {
    it('202 for known and unknown addresses; one mail for the known one, none for the other', async () => {
      const { a } = await signUp();
      const unknown = `nobody-${newId()}@example.com`;
      for (const email of [a.email, unknown])
        assert.deepEqual((await expect(k.reset(email), 202)).json(), { email });
      const mail = await nextMail(k, a.email, 1);
      assert.match(mail.subject!, /^Reset your kith password/);
      assert.ok(mail.text!.includes(`POST ${PUBLIC_URL}/api/v1/auth/password-reset/confirm`));
      assert.equal((await mailbox(k, unknown)).length, 0);
    });

    it('the mailed token sets the new password once and revokes every refresh token', async () => {
      const { a } = await signUp();
      const other = await login(k.app, a.username, a.password); // a second session
      await expect(k.reset(a.email), 202);
      const token = resetToken(await nextMail(k, a.email, 1));
      assertProblem(await k.confirm(token, 'short'), 400, 'validation_failed');
      const fresh = 'a-brand-new-password';
      await expect(k.confirm(token, fresh), 204); // the weak try spent nothing
      assertProblem(await k.confirm(token, 'yet-another-password'), 400, 'link_used');

      const old = await k.call('POST', '/auth/login', { login: a.username, password: a.password });
      assertProblem(old, 401, 'invalid_credentials');
      const session = await login(k.app, a.username, fresh);
      for (const refresh_token of [a.refreshToken, other.refresh_token]) {
        const res = await k.call('POST', '/auth/refresh', { refresh_token });
        assertProblem(res, 401, 'refresh_token_revoked');
      }
      await expect(k.call('POST', '/auth/refresh', { refresh_token: session.refresh_token }), 200);
    });

    it('a reset link lasts one hour; an expired one is link_expired', async () => {
      const { a } = await signUp();
      await expect(k.reset(a.email), 202);
      const token = resetToken(await nextMail(k, a.email, 1));
      const [id] = token.split('.') as [string];
      assert.ok(Math.abs((await lifetimeMs(k, id)) - HOUR_MS) < 60_000);
      await expire(k, id);
      assertProblem(await k.confirm(token, 'a-brand-new-password'), 400, 'link_expired');
      await login(k.app, a.username, a.password); // unchanged
    });

    it('using the newest link spends older ones; RATE_LIMIT_MAIL per address, known or not', async () => {
      const { a } = await signUp();
      const unknown = `nobody-${newId()}@example.com`;
      for (const email of [a.email, unknown]) {
        for (let i = 0; i < 2; i++) await expect(k.reset(email), 202);
        assertProblem(await k.reset(email.toUpperCase()), 429, 'rate_limited');
      }
      const [older, newer] = (await mailbox(k, a.email)).slice(1).map(resetToken);
      await expect(k.confirm(newer!, 'a-brand-new-password'), 204);
      assertProblem(await k.confirm(older!, 'another-new-password'), 400, 'link_used');
    });
  });
});

describe('mail as .eml files (no SMTP_URL)', { timeout: 60_000 }, () => {
  const k = {} as Kith;
  before(async () => {
    const env = { PUBLIC_URL: 'https://social.example/kith', APP_URL: 'https://app.example/web' };
    Object.assign(k, await kith('files', env, true));
  });
  after(() => k.stop());
  const files = async () => {
    await drain(k.ctx);
    const dir = k.ctx.config.mailDir;
    return readdirSync(dir).map((f) => ({ name: f, mail: readFileSync(join(dir, f)) }));
  };

  it('registration writes exactly one .eml file holding the verification link', async () => {
    const a = await createAccount(k.app);
    const { name, mail } = only(await files(), '.eml file');
    assert.match(name, /\.eml$/);
    const parsed = await PostalMime.parse(mail);
    assert.deepEqual(parsed.to, [{ name: '', address: a.email }]);
    const { link, token } = verifyLink(parsed);
    type Line = { msg: string; file: string; to: string; links: string[] };
    const lines = k.logs.map((l) => JSON.parse(l) as Line);
    const written = lines.filter((l) => l.msg === 'mail written');
    assert.deepEqual(
      written.map((l) => [l.file, l.to, l.links]),
      [[join(k.ctx.config.mailDir, name), a.email, [link]]],
      'the file and its link are logged',
    );
    await expect(k.verify(token), 200);
    assert.equal((await k.me(a)).email_verified, true);
  });

  it('links keep the path of PUBLIC_URL and APP_URL', async () => {
    const a = await createAccount(k.app);
    await expect(k.call('POST', '/auth/password-reset', { email: a.email }), 202);
    const texts = await Promise.all(
      (await files()).map(async (f) => (await PostalMime.parse(f.mail)).text!),
    );
    const mine = texts.filter((t) => t.includes(a.username));
    assert.equal(mine.length, 2);
    const all = mine.join('\n');
    assert.match(all, /https:\/\/social\.example\/kith\/api\/v1\/auth\/verify-email\?token=/);
    assert.match(all, /https:\/\/app\.example\/web\/reset-password\?token=/);
  });
});
