import type { OAuthError } from './errors.ts';
import { type AuthorizationRequest, redirectHost } from './oauth.service.ts';

/**
 * The consent screen: a static page whose only script is /oauth/consent.js (no inline script,
 * no inline style). The person's session cookie is SameSite=Strict, so the top-level navigation
 * from the client does not carry it; the page's own same-origin fetches do.
 */
export const CONSENT_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
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

export function consentPage(
  req: AuthorizationRequest,
  query: Record<string, string | undefined>,
): string {
  // JSON in a non-executed script element; "<" escaped so no "</script>" can close it.
  const data = JSON.stringify({
    request: Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined)),
    clientName: req.clientName,
    suggestedAgent: suggestAgentName(req.clientName),
  }).replace(/</g, '\\u003c');
  return shell(
    `Connect ${req.clientName} to Vutler`,
    `<h1>Connect an MCP client</h1>
<p><strong id="client-name">${esc(req.clientName)}</strong> wants to use Vutler as an agent.</p>
<p>After you decide, you are sent to <strong id="redirect-host">${esc(redirectHost(req.redirectUri))}</strong>.</p>
<p class="small">Client: <code>${esc(req.clientId)}</code></p>
<div id="signin" hidden><p>Sign in to Vutler in this browser first, then reload this page.</p>
<p><a id="signin-link" href="/">Sign in</a></p></div>
<form id="consent" hidden>
<p>Signed in as <strong id="who"></strong>.</p>
<label>Agent name <input id="agent-name" name="agentName" required pattern="[a-z0-9][a-z0-9_.\\-]{0,99}" maxlength="100"></label>
<fieldset><legend>What this agent may do (nothing unless you tick it)</legend>
<label><input type="checkbox" id="perm-chat-read"> Read chats you grant it, decrypted per call</label>
<label><input type="checkbox" id="perm-chat-write"> Post to those chats</label>
</fieldset>
<p class="small">Which chats it may read is chosen per chat on the Agents page (the grant is made and signed on your device).</p>
<p><button type="submit" id="approve">Allow</button> <button type="button" id="deny">Deny</button></p>
<p id="error" role="alert"></p>
</form>
<script type="application/json" id="oauth-request">${data}</script>
<script src="/oauth/consent.js" defer></script>`,
  );
}

export function errorPage(err: OAuthError): string {
  return shell(
    'Cannot connect',
    `<h1>This connection request is invalid</h1><p><code>${esc(err.code)}</code>: ${esc(err.description)}</p>
<p>Nothing was granted. Return to the application and try again.</p>`,
  );
}

export const CONSENT_CSS = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.4}
label{display:block;margin:.5rem 0}fieldset{margin:1rem 0}.small{font-size:.85em;color:#555}
#error{color:#b00}button{font-size:1rem;padding:.4rem 1rem}`;

// Plain browser JavaScript, served as a file so the page's CSP can forbid inline script.
export const CONSENT_SCRIPT = `'use strict';
(async () => {
  const data = JSON.parse(document.getElementById('oauth-request').textContent);
  const $ = (id) => document.getElementById(id);
  const me = await fetch('/api/me', { credentials: 'same-origin' });
  if (me.status === 401) {
    $('signin-link').href = '/?next=' + encodeURIComponent(location.pathname + location.search);
    $('signin').hidden = false;
    return;
  }
  const { user, csrfToken } = await me.json();
  $('who').textContent = user.displayName || user.email || user.id;
  $('agent-name').value = data.suggestedAgent;
  $('consent').hidden = false;
  const call = async (method, path, body) => {
    const res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken },
      body: JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(json.error_description || json.detail || 'HTTP ' + res.status);
    return json;
  };
  const decide = async (decision) => {
    $('error').textContent = '';
    for (const b of document.querySelectorAll('button')) b.disabled = true;
    try {
      const agentName = $('agent-name').value.trim();
      if (decision === 'approve' && $('perm-chat-read').checked) {
        await call('PUT', '/api/agents/permissions', {
          agentName,
          resourceType: 'chat',
          accessLevel: 'decrypt_ephemeral',
          conditions: { allow_write: $('perm-chat-write').checked },
        });
      }
      const { redirectTo } = await call('POST', '/api/oauth/consent', {
        request: data.request,
        decision,
        ...(decision === 'approve' ? { agentName } : {}),
      });
      location.assign(redirectTo);
    } catch (err) {
      $('error').textContent = err.message;
      for (const b of document.querySelectorAll('button')) b.disabled = false;
    }
  };
  $('consent').addEventListener('submit', (e) => { e.preventDefault(); decide('approve'); });
  $('deny').addEventListener('click', () => decide('deny'));
})();
`;
