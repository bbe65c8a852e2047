/** One e-mail: plain-text and HTML bodies of the same content. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Stable per cause (e.g. `<event id@kith>`), so a rare resend is recognisable as a duplicate. */
  messageId?: string;
}

/** The mail port: SMTP (nodemailer) when SMTP_URL is set, else `.eml` files under the data folder. */
export interface Mailer {
  /** Resolves once the message is accepted (by the SMTP server, or written); rejects otherwise. */
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}
