import type { OAuthError } from './errors.ts';

/**
 * What /oauth/authorize serves itself: only the page for a request it cannot send back to the
 * client (unknown client, bad redirect URI) — no script at all. A valid request goes on to the
 * web app's consent route (src/web/components/ConsentPage.tsx), where the person signs in and the
 * page makes and signs the grant wraps.
 */
export const AUTHORIZE_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string,
  );
}

/** A suggested agent name from the client's name: lowercase, safe characters, never empty. */
export function suggestAgentName(clientName: string): string {
  const slug = clientName
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug || 'mcp-client';
}

function shell(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${esc(title)}</title><link rel="stylesheet" href="/oauth/consent.css"></head>
<body><main>${body}</main></body></html>`;
}

export function errorPage(err: OAuthError): string {
  return shell(
    'Cannot connect',
    `<h1>This connection request is invalid</h1><p><code>${esc(err.code)}</code>: ${esc(err.description)}</p>
<p>Nothing was granted. Return to the application and try again.</p>`,
  );
}

export const CONSENT_CSS = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.4}`;
