import nodemailer, { type Transporter } from 'nodemailer';
import type { Mailer, MailMessage } from './mailer.ts';

/** Sends through any SMTP server (`smtp://user:pass@host:587`, `smtps://…` for implicit TLS). */
export class SmtpMailer implements Mailer {
  readonly #transport: Transporter;
  readonly #from: string;

  constructor(url: string, from: string) {
    // Bounded waits: an unreachable server fails the attempt quickly and the consumer retries.
    const u = new URL(url);
    const secure = u.protocol === 'smtps:';
    this.#transport = nodemailer.createTransport({
      host: u.hostname,
      port: Number(u.port || (secure ? 465 : 587)),
      secure,
      ...(u.username
        ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } }
        : {}),
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
    this.#from = from;
  }

  async send(m: MailMessage): Promise<void> {
    await this.#transport.sendMail({ from: this.#from, ...m });
  }

  async close(): Promise<void> {
    this.#transport.close();
  }
}
