/**
 * The GitHub page: connect an account (a pasted token, or GitHub's OAuth flow when the server
 * has an OAuth app), connect repositories with their deploy config, and per repository the
 * auto-deploy switch, the deploy history with live states, a manual deploy and rollback.
 * GitHub is not end-to-end encrypted: the server keeps the token (sealed at rest) to act for you.
 */
import { useEffect, useState } from 'preact/hooks';
import type {
  DeploymentView,
  IntegrationView,
  NewIntegration,
  RepoView,
} from '../../client/index.ts';
import { chatState, chatTitle } from '../lib/chats.ts';
import { route } from '../lib/route.ts';
import { client } from '../lib/session.ts';
import { useStore } from '../lib/store.ts';
import { ErrorBox, useAction } from './common.tsx';
import { ConnectRepoForm, RepoCard } from './GithubRepo.tsx';

const ACTIVE = new Set(['queued', 'in_progress']);

export function webhookUrlOf(i: IntegrationView): string {
  return i.webhookUrl ?? `${location.origin}/webhooks/github/${i.id}`;
}

function Accounts(props: { integrations: IntegrationView[]; onChange: () => Promise<void> }) {
  const [token, setToken] = useState('');
  const [fresh, setFresh] = useState<NewIntegration | undefined>();
  const connect = useAction(async () => {
    const made = await client.github.connectToken(token.trim());
    setToken('');
    setFresh(made);
    await props.onChange();
  });
  const oauth = useAction(async () => {
    location.assign(await client.github.oauthStart());
  });
  const disconnect = useAction(async (id: string) => {
    await client.github.disconnect(id);
    await props.onChange();
  });
  return (
    <section class="card gh-accounts" aria-labelledby="gh-accounts">
      <h3 id="gh-accounts">GitHub accounts</h3>
      {props.integrations.length === 0 && <p class="muted">No GitHub account connected yet.</p>}
      <ul class="plain">
        {props.integrations.map((i) => (
          <li key={i.id} class="gh-account">
            <strong>{i.login ?? `GitHub user ${i.githubUserId}`}</strong>{' '}
            <span class="small muted">
              {i.kind === 'oauth' ? 'connected with GitHub' : 'pasted token'}
              {i.scopes.length ? ` · scopes: ${i.scopes.join(', ')}` : ''}
            </span>
            <button
              type="button"
              class="link small"
              disabled={disconnect.busy}
              onClick={() => void disconnect.run(i.id)}
            >
              Disconnect
            </button>
          </li>
        ))}
      </ul>
      <ErrorBox error={disconnect.error} />
      {fresh && (
        <div class="notice" role="status" data-testid="webhook-setup">
          <p>
            <strong>Connected {fresh.login ?? 'your account'}.</strong> If Vutler could not create
            the repository webhook itself, add one on GitHub (content type{' '}
            <code>application/json</code>, events <em>push</em> and <em>workflow runs</em>) with:
          </p>
          <dl>
            <dt>Payload URL</dt>
            <dd>
              <code data-testid="webhook-url">{webhookUrlOf(fresh)}</code>
            </dd>
            {fresh.webhookSecret && (
              <>
                <dt>Secret (shown only now)</dt>
                <dd>
                  <code data-testid="webhook-secret">{fresh.webhookSecret}</code>
                </dd>
              </>
            )}
          </dl>
          <button type="button" class="link small" onClick={() => setFresh(undefined)}>
            I have copied it
          </button>
        </div>
      )}
      <form
        class="gh-connect"
        onSubmit={(e) => {
          e.preventDefault();
          void connect.run();
        }}
      >
        <label for="gh-token">Personal access token</label>
        <input
          id="gh-token"
          type="password"
          autocomplete="off"
          placeholder="ghp_… or github_pat_…"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        <p class="small muted">
          Needs <code>repo</code> and <code>workflow</code> (and <code>admin:repo_hook</code> for
          Vutler to create the webhook). Checked with GitHub, then stored sealed.
        </p>
        <div class="row">
          <button type="submit" class="primary" disabled={connect.busy || token.trim().length < 20}>
            {connect.busy ? 'Checking with GitHub…' : 'Connect token'}
          </button>
          <button type="button" disabled={oauth.busy} onClick={() => void oauth.run()}>
            Connect with GitHub…
          </button>
        </div>
        <ErrorBox error={connect.error ?? oauth.error} />
      </form>
    </section>
  );
}

export function GithubPage() {
  const chats = useStore(chatState);
  const { params } = useStore(route);
  const [integrations, setIntegrations] = useState<IntegrationView[]>([]);
  const [repos, setRepos] = useState<RepoView[]>([]);
  const [history, setHistory] = useState<Record<string, DeploymentView[]>>({});
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>();

  const refresh = async () => {
    const [i, r] = await Promise.all([client.github.integrations(), client.github.repos()]);
    const h = await Promise.all(r.map((x) => client.github.deployments(x.id, 20)));
    setIntegrations(i);
    setRepos(r);
    setHistory(Object.fromEntries(r.map((x, n) => [x.id, h[n] ?? []])));
    setLoaded(true);
    setError(undefined);
  };
  const active = Object.values(history).some((ds) => ds.some((d) => ACTIVE.has(d.state)));
  // Live states: the page asks again while it is open, faster while a deploy is running.
  useEffect(() => {
    let live = true;
    const tick = () =>
      refresh().catch((err: unknown) => {
        if (live) setError(err);
      });
    void tick();
    const t = setInterval(tick, active ? 1500 : 4000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [active]);

  const chatOptions = Object.values(chats.chats).map((e) => ({
    id: e.chat.id,
    title: chatTitle(e.chat, chats),
  }));
  return (
    <section class="page github-page" aria-labelledby="github-title">
      <h2 id="github-title">GitHub deploys</h2>
      <p class="muted">
        A push to a connected repository's deploy branch starts a deploy; its states come back here
        live, and a note goes to the chat you pick.
      </p>
      {params.get('connected') && (
        <p class="notice" role="status">
          Your GitHub account is connected.
        </p>
      )}
      {params.get('error') && (
        <p class="error" role="alert">
          GitHub did not connect ({params.get('error')}): the link may have expired or been used
          already. Try again.
        </p>
      )}
      <ErrorBox error={error} />
      <Accounts integrations={integrations} onChange={refresh} />
      {loaded && repos.length === 0 && integrations.length > 0 && (
        <p class="muted">No repository connected yet: add one below.</p>
      )}
      {repos.map((r) => (
        <RepoCard
          key={r.id}
          repo={r}
          deployments={history[r.id] ?? []}
          chats={chatOptions}
          onChange={refresh}
        />
      ))}
      {integrations.length > 0 && (
        <ConnectRepoForm integrations={integrations} chats={chatOptions} onDone={refresh} />
      )}
    </section>
  );
}
