const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The mail carrying a data export's download link. */
export function exportReadyMail(name: string, url: string, expiresAt: Date) {
  const until = expiresAt.toISOString().replace('T', ' ').slice(0, 16);
  const lines = [
    `Hello ${name},`,
    'The export of your kith data you asked for is ready: one JSON document, compressed with gzip.',
    `Download it here (the link works until ${until} UTC): ${url}`,
    'If you did not ask for it, change your password: someone signed in as you.',
  ];
  return {
    subject: 'Your kith data export is ready',
    text: `${lines.join('\n\n')}\n\n-- kith\n`,
    html: `<!doctype html>\n<html><body>${lines
      .map((l) => `<p>${escape(l)}</p>`)
      .join('\n')}\n<p><a href="${escape(url)}">Download your data</a></p></body></html>\n`,
  };
}
