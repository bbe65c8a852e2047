/** What each action tells the user it was done to. */
const WHAT: Record<string, string> = {
  suspend:
    'Your kith account has been suspended: you cannot sign in, and your profile and everything you posted are hidden.',
  unsuspend: 'The suspension of your kith account has been lifted: everything is back.',
  limit: 'Your kith account has been limited: your posts now reach only your followers.',
  unlimit: 'The limit on your kith account has been lifted.',
  delete_content: 'A moderator removed some of your posts or comments on kith.',
};

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The notification mail of a moderator action (text and HTML say the same). */
export function moderationMail(name: string, action: string, reason: string) {
  const lines = [
    `Hello ${name},`,
    WHAT[action] ?? 'A moderator acted on your kith account.',
    reason ? `The reason given: ${reason}` : 'No reason was given.',
    'If you think this is a mistake, reply to this mail.',
    '-- kith',
  ];
  return {
    subject: `kith: a moderator acted on your account (${action.replace('_', ' ')})`,
    text: lines.join('\n\n'),
    html: `<!doctype html><html><body>${lines.map((l) => `<p>${escape(l)}</p>`).join('')}</body></html>`,
  };
}

export const MAILED_ACTIONS = new Set(Object.keys(WHAT));
