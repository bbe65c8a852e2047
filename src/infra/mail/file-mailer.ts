import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from '../../logger.ts';
import type { Mailer, MailMessage } from './mailer.ts';

/**
 * Development mail: each message is built exactly as SMTP would send it and written as an
 * `.eml` file (opens in any mail client); its path and links are logged.
 */
export class FileMailer implements Mailer {
  readonly #dir: string;
  readonly #from: string;
  readonly #log: Logger;
  readonly #compose: Transporter = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
  });

  readonly #logLinks: boolean;

  /** `logLinks`: also log the links of each mail (development only: they are credentials). */
  constructor(dir: string, from: string, log: Logger, logLinks: boolean) {
    this.#dir = dir;
    this.#from = from;
    this.#log = log;
    this.#logLinks = logLinks;
  }

  async send(m: MailMessage): Promise<void> {
    const info = (await this.#compose.sendMail({ from: this.#from, ...m })) as { message: Buffer };
    await mkdir(this.#dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = join(this.#dir, `${stamp}-${randomBytes(3).toString('hex')}.eml`);
    await writeFile(file, info.message);
    // The links too, so a developer can follow one straight from the log.
    const links = this.#logLinks ? { links: m.text.match(/https?:\/\/\S+/g) ?? [] } : {};
    this.#log.info({ file, to: m.to, subject: m.subject, ...links }, 'mail written');
  }

  async close(): Promise<void> {}
}
