/**
 * The Mailer contract, run against both implementations: FileMailer (an `.eml` file read back
 * from a temp folder) and SmtpMailer (a real SMTP server started here). Whatever the transport,
 * the message that arrives has the configured sender, the recipient, the subject (non-ASCII
 * included), both bodies and the Message-ID it was given.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import PostalMime, { type Email } from 'postal-mime';
import { SMTPServer } from 'smtp-server';
import { createLogger } from '../../logger.ts';
import { FileMailer } from './file-mailer.ts';
import type { Mailer, MailMessage } from './mailer.ts';
import { SmtpMailer } from './smtp-mailer.ts';

const FROM = { name: 'Kïth — Équipe', address: 'no-reply@kith.test' };
const MAIL_FROM = `"${FROM.name}" <${FROM.address}>`;

/** A received message: parsed, with the SMTP envelope when it came over SMTP. */
type Received = Email & { envelope?: { from: string; to: string[] } };

interface Subject {
  mailer: Mailer;
  /** Every message delivered so far, oldest first. */
  received: () => Promise<Received[]>;
}

interface SmtpOptions {
  /** Reject every message with this SMTP reply instead of accepting it. */
  reject?: string;
  /** Require `AUTH` with these credentials. */
  auth?: { user: string; pass: string };
}

/** A real SMTP server on a free loopback port that keeps what it receives. */
async function smtpServer(opts: SmtpOptions = {}) {
  const messages: Received[] = [];
  const server = new SMTPServer({
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, done) {
      const ok = auth.username === opts.auth?.user && auth.password === opts.auth?.pass;
      done(ok ? null : new Error('bad credentials'), ok ? { user: auth.username } : undefined);
    },
    onData(stream, session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (opts.reject) return done(Object.assign(new Error(opts.reject), { responseCode: 550 }));
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        PostalMime.parse(Buffer.concat(chunks)).then(
          (mail) => (messages.push({ ...mail, envelope }), done()),
          (err: Error) => done(err),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as net.AddressInfo;
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port, messages };
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const implementations: [string, () => Promise<Subject>][] = [
  [
    'FileMailer',
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'kith-mailer-'));
      after(() => rmSync(root, { recursive: true, force: true }));
      const dir = join(root, 'not', 'yet', 'there'); // created on the first send
      const mailer = new FileMailer(dir, MAIL_FROM, createLogger('silent'), false);
      after(() => mailer.close());
      return {
        mailer,
        received: async () => {
          const files = readdirSync(dir).filter((f) => f.endsWith('.eml'));
          assert.equal(files.length, readdirSync(dir).length, 'only .eml files');
          // Names start with an ISO timestamp; same-millisecond files are parsed in any order.
          const raw = files.sort().map((f) => readFileSync(join(dir, f)));
          return Promise.all(raw.map((r) => PostalMime.parse(r)));
        },
      };
    },
  ],
  [
    'SmtpMailer',
    async () => {
      const server = await smtpServer();
      const mailer = new SmtpMailer(`smtp://127.0.0.1:${server.port}`, MAIL_FROM);
      after(() => mailer.close());
      return { mailer, received: async () => server.messages };
    },
  ],
];

/** A body as parsed: MIME parsers may keep the line break that precedes a part boundary. */
const body = (s: string | undefined) => s?.replace(/\r\n/g, '\n').replace(/\n+$/, '');

const message = (n: number, overrides: Partial<MailMessage> = {}): MailMessage => ({
  to: `reader${n}@example.org`,
  subject: `Bienvenue ${n} — café, naïve, 日本語 ✓`,
  text: `Hello ${n},\n\nConfirm: https://kith.test/api/v1/auth/verify-email?token=abc.def\n\nÜber — ${'long line '.repeat(120)}end\n`,
  html: `<p>Hello ${n} — <a href="https://kith.test/x?a=1&amp;b=2">confirm</a> ✓</p>\n`,
  messageId: `<0190f0c2-0000-7000-8000-00000000000${n}@kith.mail>`,
  ...overrides,
});

for (const [name, create] of implementations) {
  describe(`Mailer contract: ${name}`, { timeout: 20_000 }, () => {
    it('delivers from MAIL_FROM, to, subject, both bodies and the Message-ID as given', async () => {
      const { mailer, received } = await create();
      const sent = message(1);
      await mailer.send(sent);
      const [mail, ...more] = await received();
      assert.equal(more.length, 0, 'exactly one message');
      assert.deepEqual(mail!.from, FROM);
      assert.deepEqual(mail!.to, [{ name: '', address: sent.to }]);
      assert.equal(mail!.subject, sent.subject);
      assert.equal(body(mail!.text), body(sent.text));
      assert.equal(body(mail!.html), body(sent.html));
      assert.equal(mail!.messageId, sent.messageId);
      if (mail!.envelope) assert.deepEqual(mail!.envelope, { from: FROM.address, to: [sent.to] });
    });

    it('sends one message per call, each with its own recipient and Message-ID', async () => {
      const { mailer, received } = await create();
      const sent = [message(2), message(3), message(4)];
      for (const m of sent) await mailer.send(m);
      const got = await received();
      const key = (to: string, id: string | undefined) => `${to} ${id}`;
      assert.deepEqual(
        got.map((m) => key((m.to![0] as { address: string }).address, m.messageId)).sort(),
        sent.map((m) => key(m.to, m.messageId)).sort(),
      );
    });

    it('gives a message sent without a Message-ID one of its own', async () => {
      const { mailer, received } = await create();
      const { to, subject, text, html } = message(5);
      await mailer.send({ to, subject, text, html });
      const [mail] = await received();
      assert.match(mail!.messageId ?? '', /^<[^<>@\s]+@[^<>@\s]+>$/);
    });
  });
}

describe('SmtpMailer against failing servers', { timeout: 20_000 }, () => {
  it('rejects within a bounded time when nothing listens (connection refused)', async () => {
    const mailer = new SmtpMailer(`smtp://127.0.0.1:${await closedPort()}`, MAIL_FROM);
    after(() => mailer.close());
    const started = Date.now();
    await assert.rejects(mailer.send(message(6)), (err: NodeJS.ErrnoException) => {
      assert.match(`${err.code} ${err.message}`, /ECONNREFUSED|ESOCKET|ECONNECTION/);
      return true;
    });
    assert.ok(Date.now() - started < 3_000, `rejected after ${Date.now() - started} ms`);
  });

  it('rejects when the server refuses the message', async () => {
    const server = await smtpServer({ reject: 'mailbox unavailable' });
    const mailer = new SmtpMailer(`smtp://127.0.0.1:${server.port}`, MAIL_FROM);
    after(() => mailer.close());
    await assert.rejects(mailer.send(message(7)), /mailbox unavailable/);
    assert.equal(server.messages.length, 0);
  });

  it('authenticates with the (percent-decoded) credentials of the URL', async () => {
    const auth = { user: 'kith@example.org', pass: 'p@ss:w/rd' };
    const server = await smtpServer({ auth });
    const userinfo = `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}`;
    const good = new SmtpMailer(`smtp://${userinfo}@127.0.0.1:${server.port}`, MAIL_FROM);
    const bad = new SmtpMailer(`smtp://kith:wrong@127.0.0.1:${server.port}`, MAIL_FROM);
    after(() => Promise.all([good.close(), bad.close()]));
    await assert.rejects(bad.send(message(8)), /bad credentials|Invalid login|535/);
    await good.send(message(9));
    assert.deepEqual(
      server.messages.map((m) => m.messageId),
      [message(9).messageId],
    );
  });
});
