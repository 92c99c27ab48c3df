/**
 * The Agents page: the gateway key this device pinned (to compare with `vutler gateway
 * fingerprint`), what each agent may do (AccessEditor; grants are made and signed here), its
 * tokens with ready-to-paste MCP configurations, and the MCP clients connected by consent.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { AgentToken, ConnectedClientView } from '../../client/index.ts';
import { agentName as agentNameSchema } from '../../http/schemas.ts';
import { type AccessDraft, draftFrom, isEmptyPlan, planChanges } from '../lib/access.ts';
import {
  type AgentsData,
  agentNames,
  agentsData,
  applyPlan,
  disconnectClient,
  type GatewayState,
  issueToken,
  loadAgents,
  revokeGrant,
  revokeToken,
} from '../lib/agents.ts';
import { mcpConfigs, mcpUrl } from '../lib/mcp-config.ts';
import { agentsLinkTarget } from '../lib/pure.ts';
import { route } from '../lib/route.ts';
import { useStore } from '../lib/store.ts';
import { AccessEditor } from './AccessEditor.tsx';
import { ErrorBox, useAction } from './common.tsx';

export function GatewayKey({ gateway }: { gateway: GatewayState }) {
  return (
    <section class="panel" aria-labelledby="gw-title">
      <h2 id="gw-title">Gateway key</h2>
      {gateway.fingerprint ? (
        <>
          <p class="digits gw-digits" data-testid="gateway-fingerprint">
            {gateway.fingerprint.split(' ').map((g, i) => (
              <span key={`${i}-${g}`}>{g}</span>
            ))}
          </p>
          {gateway.pin === 'first-use' ? (
            <p class="notice" role="status">
              Pinned on this device just now (first use). Compare it with what{' '}
              <code>vutler gateway fingerprint</code> prints on the server.
            </p>
          ) : (
            <p class="ok" role="status">
              ✓ The same key this device pinned before.
            </p>
          )}
          <p class="hint">
            Grants are wrapped to this key, and agents' messages are checked against it.
            {gateway.pin === 'pinned' && (
              <>
                {' '}
                It should read as <code>vutler gateway fingerprint</code> prints it on the server.
              </>
            )}
          </p>
        </>
      ) : gateway.pin === 'changed' ? (
        <div class="error" role="alert">
          <p>
            The server now offers a different gateway key than the one this device pinned. Nothing
            is granted to it, and agent messages signed with it are not shown as verified. Ask
            whoever runs the server before going on.
          </p>
        </div>
      ) : (
        <ErrorBox error={gateway.error} />
      )}
    </section>
  );
}

function AccessSection({
  data,
  agent,
  linkedChat,
}: {
  data: AgentsData;
  agent: string;
  /** The chat a link (`#/agents?chat=…`) came for: shown, marked and focused. */
  linkedChat?: string;
}) {
  const initial = useMemo(
    () => draftFrom(agent, data.permissions, data.grants),
    [agent, data.permissions, data.grants],
  );
  // Edits hold for the access they were made on; another agent or reloaded data starts from that.
  // (Derived in render: a reset in an effect ran after the next paint and could undo an edit
  // made right after switching agents — see ConsentPage.)
  const [edited, setEdited] = useState<{ base: AccessDraft; draft: AccessDraft } | undefined>(
    undefined,
  );
  const draft = edited && edited.base === initial ? edited.draft : initial;
  const setDraft = (d: AccessDraft) => setEdited({ base: initial, draft: d });
  const [saved, setSaved] = useState(false);
  const save = useAction(async () => {
    setSaved(false);
    const plan = planChanges(agent, draft, data.permissions, data.grants);
    if (isEmptyPlan(plan, data.permissions, agent)) {
      setSaved(true);
      return;
    }
    await applyPlan(agent, plan);
    await loadAgents();
    setSaved(true);
  });
  const revoke = useAction(async (grantId: string) => {
    setSaved(false);
    await revokeGrant(grantId);
  });
  const blocked = data.gateway.fingerprint === undefined;
  return (
    <section class="panel" aria-labelledby="access-title">
      <h2 id="access-title">What {agent} may do</h2>
      <p class="hint">
        Nothing is allowed unless it is chosen here. Content is decrypted only inside the gateway,
        for one call at a time, and every access is in your audit log.
      </p>
      <form
        aria-label={`Access for ${agent}`}
        onSubmit={(e) => {
          e.preventDefault();
          void save.run();
        }}
        onInput={() => setSaved(false)}
      >
        <AccessEditor
          idPrefix="agent"
          agentName={agent}
          draft={draft}
          items={data.items}
          grants={data.grants}
          linkedChat={linkedChat}
          onChange={(d) => {
            setSaved(false);
            setDraft(d);
          }}
          onRevoke={(id) => void revoke.run(id)}
        />
        {revoke.busy && (
          <p class="muted" role="status">
            Revoking the key and rotating the chat key…
          </p>
        )}
        <ErrorBox error={save.error ?? revoke.error} />
        {saved && (
          <p class="ok" role="status">
            Saved.
          </p>
        )}
        <div class="row">
          <button type="button" onClick={() => setDraft(initial)} disabled={save.busy}>
            Undo changes
          </button>
          <button type="submit" class="primary" disabled={save.busy || blocked}>
            {save.busy ? 'Saving…' : `Save access for ${agent}`}
          </button>
        </div>
      </form>
    </section>
  );
}

function TokenShownOnce({ token, onDone }: { token: string; onDone: () => void }) {
  const configs = mcpConfigs(location.origin, token);
  return (
    <section class="token-once" aria-label="New agent token">
      <p class="warning">Copy the token now: it is shown only once and is stored only hashed.</p>
      <div class="field">
        <label for="new-token">Agent token</label>
        <input
          id="new-token"
          readOnly
          value={token}
          onFocus={(e) => (e.target as HTMLInputElement).select()}
        />
      </div>
      <div class="field">
        <label for="mcp-url">MCP URL</label>
        <input id="mcp-url" readOnly value={mcpUrl(location.origin)} />
      </div>
      <ul class="configs">
        {configs.map((c) => (
          <li key={c.id}>
            <details>
              <summary>
                {c.client} — {c.transport}
              </summary>
              <p class="hint">Paste into {c.where}.</p>
              <pre data-config={c.id}>{c.text}</pre>
              <button
                type="button"
                onClick={() => void navigator.clipboard?.writeText(c.text).catch(() => undefined)}
              >
                Copy
              </button>
            </details>
          </li>
        ))}
      </ul>
      <button type="button" onClick={onDone}>
        I have copied it
      </button>
    </section>
  );
}

function TokenRow({ t }: { t: AgentToken }) {
  const revoke = useAction(() => revokeToken(t.id));
  return (
    <li class="token-row" data-status={t.status}>
      <div>
        <strong>{t.label ?? 'Token'}</strong>{' '}
        <span class={`badge badge-${t.status}`}>{t.status}</span>
        <p class="muted small">
          Issued {new Date(t.createdAt).toLocaleString()} · expires{' '}
          {new Date(t.expiresAt).toLocaleDateString()}
          {t.lastUsedAt
            ? ` · last used ${new Date(t.lastUsedAt).toLocaleString()}`
            : ' · never used'}
        </p>
      </div>
      {t.status === 'active' && (
        <button
          type="button"
          class="danger"
          onClick={() => void revoke.run()}
          disabled={revoke.busy}
          aria-label={`Revoke token ${t.label ?? t.id}`}
        >
          Revoke
        </button>
      )}
      <ErrorBox error={revoke.error} />
    </li>
  );
}

function Tokens({ data, agent }: { data: AgentsData; agent: string }) {
  const [label, setLabel] = useState('');
  const [days, setDays] = useState('30');
  const [shown, setShown] = useState<string | undefined>(undefined);
  const issue = useAction(async () => {
    setShown(
      await issueToken({
        agentName: agent,
        expiresInDays: Number(days),
        label: label.trim() || undefined,
      }),
    );
    setLabel('');
  });
  const mine = data.tokens.filter((t) => t.agentName === agent);
  return (
    <section class="panel" aria-labelledby="tokens-title">
      <h2 id="tokens-title">Tokens for {agent}</h2>
      <p class="hint">
        An MCP client that cannot sign in by itself (OAuth) connects to{' '}
        <code>{mcpUrl(location.origin)}</code> with a token.
      </p>
      {shown ? (
        <TokenShownOnce token={shown} onDone={() => setShown(undefined)} />
      ) : (
        <form
          class="token-form"
          aria-label={`Issue a token for ${agent}`}
          onSubmit={(e) => {
            e.preventDefault();
            void issue.run();
          }}
        >
          <div class="field">
            <label for="token-label">Label (where it is used)</label>
            <input
              id="token-label"
              value={label}
              maxLength={200}
              placeholder="e.g. Claude Desktop on my laptop"
              onInput={(e) => setLabel((e.target as HTMLInputElement).value)}
            />
          </div>
          <div class="field">
            <label for="token-days">Expires after</label>
            <select
              id="token-days"
              value={days}
              onChange={(e) => setDays((e.target as HTMLSelectElement).value)}
            >
              <option value="7">7 days</option>
              <option value="30">30 days</option>
              <option value="90">90 days</option>
              <option value="365">1 year</option>
            </select>
          </div>
          <ErrorBox error={issue.error} />
          <button type="submit" class="primary" disabled={issue.busy}>
            {issue.busy ? 'Issuing…' : 'Issue a token'}
          </button>
        </form>
      )}
      {mine.length > 0 && (
        <ul class="tokens" aria-label={`Tokens of ${agent}`}>
          {mine.map((t) => (
            <TokenRow key={t.id} t={t} />
          ))}
        </ul>
      )}
    </section>
  );
}

function ClientRow({ c }: { c: ConnectedClientView }) {
  const off = useAction(() => disconnectClient(c.id));
  return (
    <li class="token-row">
      <div>
        <strong>{c.clientName}</strong> as <strong>{c.agentName}</strong>
        <p class="muted small">
          Returns to {c.redirectHost} · connected {new Date(c.createdAt).toLocaleString()}
          {c.lastUsedAt ? ` · last used ${new Date(c.lastUsedAt).toLocaleString()}` : ''}
        </p>
      </div>
      <button
        type="button"
        class="danger"
        onClick={() => void off.run()}
        disabled={off.busy}
        aria-label={`Disconnect ${c.clientName}`}
      >
        Disconnect
      </button>
      <ErrorBox error={off.error} />
    </li>
  );
}

function ConnectedClients({ data }: { data: AgentsData }) {
  return (
    <section class="panel" aria-labelledby="clients-title">
      <h2 id="clients-title">Connected MCP clients</h2>
      <p class="hint">
        Clients such as Claude Desktop, Claude Code or the MCP Inspector can connect with the URL
        alone, <code>{mcpUrl(location.origin)}</code>: you then consent here, in this app.
        Disconnecting one ends its tokens at once.
      </p>
      {data.clients.length === 0 ? (
        <p class="muted">No client is connected.</p>
      ) : (
        <ul class="tokens">
          {data.clients.map((c) => (
            <ClientRow key={c.id} c={c} />
          ))}
        </ul>
      )}
    </section>
  );
}

function AgentPicker(props: { names: string[]; value: string; onPick: (n: string) => void }) {
  const [adding, setAdding] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  return (
    <div class="agent-picker">
      <div class="field">
        <label for="agent-pick">Agent</label>
        <select
          id="agent-pick"
          value={props.value}
          onChange={(e) => props.onPick((e.target as HTMLSelectElement).value)}
        >
          {props.names.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      </div>
      <form
        class="add-agent"
        onSubmit={(e) => {
          e.preventDefault();
          const name = adding.trim();
          if (!agentNameSchema.safeParse(name).success) {
            setError('An agent name is 1–100 lowercase letters, digits, ".", "_" or "-".');
            return;
          }
          setError(undefined);
          setAdding('');
          props.onPick(name);
        }}
      >
        <div class="field">
          <label for="agent-new">Another agent name</label>
          <input
            id="agent-new"
            value={adding}
            placeholder="e.g. desktop"
            onInput={(e) => setAdding((e.target as HTMLInputElement).value)}
          />
        </div>
        <button type="submit">Add</button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </div>
  );
}

export function AgentsPage() {
  const data = useStore(agentsData);
  const load = useAction(loadAgents);
  // `#/agents?chat=<id>&agent=<name>`: what a chat's "no grant" hint links to.
  const query = useStore(route).params.toString();
  const target = useMemo(() => agentsLinkTarget(new URLSearchParams(query)), [query]);
  const [agent, setAgent] = useState(target.agent ?? 'claude');
  const [extra, setExtra] = useState<string[]>(target.agent ? [target.agent] : []);
  useEffect(() => {
    void load.run();
  }, []);
  useEffect(() => {
    const linked = target.agent;
    if (!linked) return;
    setExtra((x) => (x.includes(linked) ? x : [...x, linked]));
    setAgent(linked);
  }, [target]);
  // The linked chat is shown for the linked agent only: picking another agent is not about it.
  const linkedChat = !target.agent || agent === target.agent ? target.chat : undefined;
  const names = data ? [...new Set([...agentNames(data), ...extra])].sort() : [];
  return (
    <div class="agents-page">
      <h1 id="agents-title" tabIndex={-1}>
        Agents
      </h1>
      <ErrorBox error={load.error} />
      {!data ? (
        <p class="muted">{load.busy ? 'Loading…' : ''}</p>
      ) : (
        <>
          <GatewayKey gateway={data.gateway} />
          <AgentPicker
            names={names}
            value={agent}
            onPick={(n) => {
              if (!names.includes(n)) setExtra((x) => [...x, n]);
              setAgent(n);
            }}
          />
          <AccessSection key={agent} data={data} agent={agent} linkedChat={linkedChat} />
          <Tokens key={`t-${agent}`} data={data} agent={agent} />
          <ConnectedClients data={data} />
        </>
      )}
    </div>
  );
}
