/** A rendered mail: subject, plain text and HTML of the same content. */
export interface Rendered {
  subject: string;
  text: string;
  html: string;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

interface Parts {
  subject: string;
  greeting: string;
  paragraphs: string[];
  action?: { label: string; url: string };
  /** Text shown verbatim (a token to paste), after the action. */
  code?: { label: string; value: string };
  footer: string;
}

/** Both bodies from one description, so they never say different things. */
function render(p: Parts): Rendered {
  const text = [
    p.greeting,
    ...p.paragraphs,
    ...(p.action ? [`${p.action.label}: ${p.action.url}`] : []),
    ...(p.code ? [`${p.code.label}:\n${p.code.value}`] : []),
    p.footer,
    '-- kith',
  ].join('\n\n');
  const html = `<!doctype html>
<html><body style="font-family: sans-serif; line-height: 1.5; max-width: 36em">
<p>${escape(p.greeting)}</p>
${p.paragraphs.map((t) => `<p>${escape(t)}</p>`).join('\n')}
${p.action ? `<p><a href="${escape(p.action.url)}">${escape(p.action.label)}</a></p>` : ''}
${p.code ? `<p>${escape(p.code.label)}:</p><pre>${escape(p.code.value)}</pre>` : ''}
<p style="color: #666">${escape(p.footer)}</p>
<p>— kith</p>
</body></html>\n`;
  return { subject: p.subject, text: `${text}\n`, html };
}

export function welcomeMail(name: string, verifyUrl: string): Rendered {
  return render({
    subject: 'Welcome to kith - please confirm your e-mail address',
    greeting: `Hi ${name},`,
    paragraphs: [
      'Welcome to kith! Your account is ready.',
      'Please confirm that this is your e-mail address. The link works once and for 24 hours.',
    ],
    action: { label: 'Confirm your address', url: verifyUrl },
    footer: 'If you did not create this account, ignore this mail.',
  });
}

export function verifyMail(name: string, email: string, verifyUrl: string): Rendered {
  return render({
    subject: 'Confirm your e-mail address for kith',
    greeting: `Hi ${name},`,
    paragraphs: [
      `Please confirm that ${email} is your address. The link works once and for 24 hours.`,
    ],
    action: { label: 'Confirm your address', url: verifyUrl },
    footer: 'If you did not ask for this, ignore this mail; nothing changes.',
  });
}

export function resetMail(
  name: string,
  reset: { url: string | undefined; token: string; confirmEndpoint: string },
): Rendered {
  return render({
    subject: 'Reset your kith password',
    greeting: `Hi ${name},`,
    paragraphs: [
      'Someone (we hope you) asked to reset the password of your kith account. The link works once and for one hour; using it ends every session of your account.',
      ...(reset.url
        ? []
        : [
            `To choose a new password, send POST ${reset.confirmEndpoint} with {"token": "<the token below>", "password": "<new password>"}.`,
          ]),
    ],
    ...(reset.url ? { action: { label: 'Choose a new password', url: reset.url } } : {}),
    code: { label: 'Reset token', value: reset.token },
    footer: 'If you did not ask for this, ignore this mail; your password stays as it is.',
  });
}
