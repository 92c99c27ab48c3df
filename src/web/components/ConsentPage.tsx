/**
 * The OAuth consent page (issue 16), a route of the web app: who asks (client name, the host the
 * answer goes to), as which agent, and what it may do — chosen with the Agents page's editor, the
 * grant wraps made and signed in this page. Nothing new is allowed unless the person picks it.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { agentName as agentNameSchema } from '../../http/schemas.ts';
import { type AccessDraft, draftFrom, isEmptyPlan, planChanges, summarize } from '../lib/access.ts';
import { agentsData, applyPlan, loadAgents } from '../lib/agents.ts';
import { type ConsentRequest, decide, describeRequest, requestOf } from '../lib/consent.ts';
import { currentUser } from '../lib/session.ts';
import { useStore } from '../lib/store.ts';
import { AccessEditor } from './AccessEditor.tsx';
import { GatewayKey } from './AgentsPage.tsx';
import { ErrorBox, useAction } from './common.tsx';

export function ConsentPage({ params }: { params: URLSearchParams }) {
  const request = useMemo(() => requestOf(params), [params]);
  const [info, setInfo] = useState<ConsentRequest | undefined>(undefined);
  const data = useStore(agentsData);
  const [agent, setAgent] = useState('');
  // What the person chose, for the agent name it was chosen for.
  const [edited, setEdited] = useState<{ agent: string; draft: AccessDraft } | undefined>(
    undefined,
  );
  const load = useAction(async () => {
    const [i] = await Promise.all([describeRequest(request), loadAgents()]);
    setInfo(i);
    setAgent(i.suggestedAgent);
  });
  useEffect(() => {
    void load.run();
  }, [request]);
  const validName = agentNameSchema.safeParse(agent).success;
  // The chosen agent's access as it is now: empty for a new name, so nothing is pre-allowed.
  const current = useMemo(
    () => (data && validName ? draftFrom(agent, data.permissions, data.grants) : undefined),
    [data, agent, validName],
  );
  // Derived in render, not reset by an effect: an effect ran after the next paint, so a choice
  // made right after renaming the agent (or after the data reloaded) was overwritten by the
  // stale reset. A new agent name starts from that agent's current access.
  const draft = edited && edited.agent === agent ? edited.draft : current;
  const existing = current ? summarize(current) : [];
  const approve = useAction(async () => {
    if (!validName)
      throw new Error('An agent name is 1–100 lowercase letters, digits, ".", "_" or "-".');
    if (data && draft) {
      const plan = planChanges(agent, draft, data.permissions, data.grants);
      if (!isEmptyPlan(plan, data.permissions, agent)) await applyPlan(agent, plan);
    }
    location.assign(await decide(request, 'approve', agent));
  });
  const deny = useAction(async () => {
    location.assign(await decide(request, 'deny'));
  });
  const busy = approve.busy || deny.busy;
  const me = currentUser();
  return (
    <main class="consent-page">
      <section class="consent card" aria-labelledby="consent-title">
        <p class="brand">Vutler</p>
        {!info ? (
          <>
            <h1 id="consent-title">Connect an MCP client</h1>
            <ErrorBox error={load.error} />
            {load.error ? (
              <p>Nothing was granted. Return to the application and try again.</p>
            ) : (
              <p class="muted">Checking the request…</p>
            )}
          </>
        ) : (
          <>
            <h1 id="consent-title">Connect {info.clientName} to Vutler</h1>
            <dl class="consent-facts">
              <dt>Who asks</dt>
              <dd data-testid="client-name">{info.clientName}</dd>
              <dt>Your answer goes to</dt>
              <dd data-testid="redirect-host">{info.redirectHost}</dd>
              <dt>Signed in as</dt>
              <dd>{me.displayName ?? me.email}</dd>
              <dt>Client id</dt>
              <dd class="small">
                <code>{info.clientId}</code>
              </dd>
            </dl>
            <p>
              It will act as an <strong>agent</strong> of yours, through the gateway: it reads only
              what you allow below, each access is decrypted for that one call and written to your
              audit log. You can disconnect it any time on the Agents page.
            </p>
            <div class="field">
              <label for="consent-agent">Agent name it acts as</label>
              <input
                id="consent-agent"
                value={agent}
                maxLength={100}
                aria-describedby="consent-agent-hint"
                onInput={(e) => setAgent((e.target as HTMLInputElement).value.trim())}
              />
              <p id="consent-agent-hint" class="hint">
                Lowercase letters, digits, ".", "_" or "-". Mention it in a chat as @{agent || '…'}.
              </p>
            </div>
            {existing.length > 0 && (
              <div class="notice" role="note">
                <p>
                  <strong>{agent}</strong> already has access, which this client will share:
                </p>
                <ul>
                  {existing.map((l) => (
                    <li key={l}>{l}</li>
                  ))}
                </ul>
              </div>
            )}
            {data && <GatewayKey gateway={data.gateway} />}
            {data && draft && validName && (
              <AccessEditor
                idPrefix="consent"
                agentName={agent}
                draft={draft}
                items={data.items}
                grants={data.grants}
                onChange={(d) => setEdited({ agent, draft: d })}
              />
            )}
            <div class="consent-summary" aria-live="polite">
              <h2>It may</h2>
              {draft && summarize(draft).length > 0 ? (
                <ul>
                  {summarize(draft).map((l) => (
                    <li key={l}>{l}</li>
                  ))}
                </ul>
              ) : (
                <p class="muted">Nothing yet: it can only say who it is until you allow more.</p>
              )}
            </div>
            <ErrorBox error={approve.error ?? deny.error} />
            <div class="row">
              <button type="button" onClick={() => void deny.run()} disabled={busy}>
                Deny
              </button>
              <button
                type="button"
                class="primary"
                onClick={() => void approve.run()}
                disabled={busy || !validName || data?.gateway.fingerprint === undefined}
              >
                {approve.busy ? 'Allowing…' : 'Allow'}
              </button>
            </div>
          </>
        )}
      </section>
    </main>
  );
}
