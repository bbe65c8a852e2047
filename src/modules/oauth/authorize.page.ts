import type { AuthorizationRequest } from './oauth.service.ts';

/** HTML-escapes text for element content and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"'`]/g,
    (c) =>
      ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c]!,
  );
}

/** The authorization request as the parameters the forms post back. */
export function requestFields(request: AuthorizationRequest): Record<string, string> {
  return {
    client_id: request.app.client_id,
    redirect_uri: request.redirectUri,
    response_type: 'code',
    scope: request.scopes.join(' '),
    ...(request.state === undefined ? {} : { state: request.state }),
    ...(request.codeChallenge === undefined
      ? {}
      : {
          code_challenge: request.codeChallenge,
          code_challenge_method: request.codeChallengeMethod!,
        }),
  };
}

const hidden = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(
      ([name, value]) =>
        `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`,
    )
    .join('\n      ');

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>${escapeHtml(title)} · kith</title>
  <style>body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}
  input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}
  button{padding:.4rem 1rem;margin:.5rem .5rem 0 0}.error{color:#b00020}code{word-break:break-all}</style>
</head>
<body>
  <h1>${escapeHtml(title)}</h1>
  ${body}
</body>
</html>
`;
}

function appLine(request: AuthorizationRequest): string {
  const website = request.app.website
    ? ` (<a href="${escapeHtml(request.app.website)}" rel="noopener noreferrer">${escapeHtml(request.app.website)}</a>)`
    : '';
  return `<p><strong>${escapeHtml(request.app.name)}</strong>${website} asks for access to your kith account.</p>
  <p>It asks for these permissions:</p>
  <ul id="scopes">${request.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')}</ul>`;
}

/** Sign in first (no sign-in on this browser, or the app asked `force_login`). */
export function loginPage(request: AuthorizationRequest, csrf: string, error?: string): string {
  return page(
    'Sign in to kith',
    `${appLine(request)}
  ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
  <form method="post" action="/oauth/authorize">
      ${hidden({ ...requestFields(request), csrf_token: csrf })}
      <label>Username or e-mail <input type="text" name="login" autocomplete="username" required></label>
      <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
      <button type="submit">Sign in</button>
  </form>`,
  );
}

/** The consent page: Authorize or Deny. */
export function consentPage(request: AuthorizationRequest, csrf: string, username: string): string {
  return page(
    'Authorize application',
    `<p>Signed in as <strong>@${escapeHtml(username)}</strong>.</p>
  ${appLine(request)}
  <form method="post" action="/oauth/authorize">
      ${hidden({ ...requestFields(request), csrf_token: csrf })}
      <button type="submit" name="decision" value="authorize">Authorize</button>
      <button type="submit" name="decision" value="deny">Deny</button>
  </form>`,
  );
}

/** For `urn:ietf:wg:oauth:2.0:oob`: the code to copy into the app. */
export function codePage(code: string): string {
  return page(
    'Authorization code',
    `<p>Copy this code and paste it into the application:</p>
  <p><code id="authorization-code">${escapeHtml(code)}</code></p>`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, `<p class="error" role="alert">${escapeHtml(message)}</p>`);
}
