/** One connected repository (config, auto-deploy switch, history, deploy, rollback) and the form that connects one. */
import { useEffect, useState } from 'preact/hooks';
import type { DeploymentView, IntegrationView, RepoView } from '../../client/index.ts';
import { agentsLink } from '../lib/pure.ts';
import { client } from '../lib/session.ts';
import { ErrorBox, useAction } from './common.tsx';

interface ChatOption {
  id: string;
  title: string;
}

const STATES: Record<DeploymentView['state'], string> = {
  queued: 'Queued',
  in_progress: 'In progress',
  success: 'Success',
  failure: 'Failed',
  error: 'Error',
  superseded: 'Superseded',
};

const TRIGGERS: Record<DeploymentView['trigger'], string> = {
  push: 'push',
  manual: 'manual',
  rollback: 'rollback',
};

function when(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' }) : '—';
}

function strategyText(r: RepoView): string {
  return r.strategy.type === 'workflow_dispatch'
    ? `runs the workflow ${r.strategy.workflow}`
    : `calls the deploy hook at ${new URL(r.strategy.url).host}`;
}

/** Whether agent `github` may post notes in the chosen chat (undefined: unknown). */
function useNotesGranted(chatId: string | null): boolean | undefined {
  const [ok, setOk] = useState<boolean | undefined>();
  useEffect(() => {
    if (!chatId) return;
    let live = true;
    client.agents
      .grants('github')
      .then((gs) => live && setOk(gs.some((g) => g.resourceId === chatId)))
      .catch(() => live && setOk(undefined));
    return () => {
      live = false;
    };
  }, [chatId]);
  return chatId ? ok : undefined;
}

export function RepoCard(props: {
  repo: RepoView;
  deployments: DeploymentView[];
  chats: ChatOption[];
  onChange: () => Promise<void>;
}) {
  const r = props.repo;
  const [sha, setSha] = useState('');
  // The switch moves at once; the server's answer (or a refusal) sets it right after.
  const [auto, setAuto] = useState(r.autoDeployEnabled);
  useEffect(() => setAuto(r.autoDeployEnabled), [r.autoDeployEnabled]);
  const update = useAction(async (patch: Parameters<typeof client.github.updateRepo>[1]) => {
    await client.github.updateRepo(r.id, patch);
    await props.onChange();
  });
  const toggle = useAction(async (on: boolean) => {
    try {
      await client.github.updateRepo(r.id, { autoDeployEnabled: on });
    } catch (err) {
      setAuto(!on);
      throw err;
    }
    await props.onChange();
  });
  const rollback = useAction(async () => {
    await client.github.rollback(r.id);
    await props.onChange();
  });
  const deploy = useAction(async () => {
    await client.github.deploy(r.id, sha.trim().toLowerCase());
    setSha('');
    await props.onChange();
  });
  const notesGranted = useNotesGranted(r.notifyChatId);
  const titleId = `repo-${r.id}`;
  return (
    <section class="card gh-repo" aria-labelledby={titleId} data-repo={r.fullName}>
      <header class="gh-repo-head">
        <h3 id={titleId}>{r.fullName}</h3>
        <label class="switch">
          <input
            type="checkbox"
            role="switch"
            aria-checked={auto}
            checked={auto}
            disabled={toggle.busy}
            onChange={(e) => {
              const on = (e.target as HTMLInputElement).checked;
              setAuto(on);
              void toggle.run(on);
            }}
          />{' '}
          Auto-deploy on push
        </label>
      </header>
      <p class="small">
        Pushes to <code>{r.branch}</code> deploy to <strong>{r.environment}</strong>;{' '}
        {strategyText(r)}.{r.webhookCreated ? ' Webhook created by Vutler.' : ''}
      </p>
      <label class="small">
        Deploy notes go to{' '}
        <select
          value={r.notifyChatId ?? ''}
          disabled={update.busy}
          onChange={(e) =>
            void update.run({ notifyChatId: (e.target as HTMLSelectElement).value || null })
          }
        >
          <option value="">no chat</option>
          {props.chats.map((c) => (
            <option key={c.id} value={c.id}>
              {c.title}
            </option>
          ))}
        </select>
      </label>
      {r.notifyChatId && notesGranted === false && (
        <p class="hint small">
          Notes are posted by the @github agent, which has no grant for that chat yet.{' '}
          <a href={agentsLink(r.notifyChatId, 'github')}>Grant it on the Agents page</a>
        </p>
      )}
      <ErrorBox error={update.error ?? toggle.error} />
      <h4>Deploys</h4>
      {props.deployments.length === 0 ? (
        <p class="muted small">No deploy yet. Push to {r.branch}, or deploy a commit below.</p>
      ) : (
        <div class="table-wrap">
          <table class="deploys">
            <thead>
              <tr>
                <th scope="col">State</th>
                <th scope="col">Commit</th>
                <th scope="col">Trigger</th>
                <th scope="col">Started</th>
                <th scope="col">Finished</th>
              </tr>
            </thead>
            <tbody>
              {props.deployments.map((d) => (
                <tr key={d.id} data-state={d.state} data-sha={d.sha}>
                  <td>
                    <span class={`deploy-state deploy-${d.state}`}>{STATES[d.state]}</span>
                    {d.reason && <span class="small muted"> — {d.reason}</span>}
                    {d.logUrl && (
                      <>
                        {' '}
                        <a href={d.logUrl} target="_blank" rel="noopener noreferrer" class="small">
                          log
                        </a>
                      </>
                    )}
                  </td>
                  <td>
                    <code title={d.sha}>{d.sha.slice(0, 7)}</code>
                  </td>
                  <td>{TRIGGERS[d.trigger]}</td>
                  <td>{when(d.startedAt ?? d.createdAt)}</td>
                  <td>{when(d.finishedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="row gh-actions">
        <button
          type="button"
          disabled={rollback.busy || props.deployments.length === 0}
          onClick={() => void rollback.run()}
        >
          {rollback.busy ? 'Rolling back…' : 'Roll back to the previous good deploy'}
        </button>
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            void deploy.run();
          }}
        >
          <label for={`sha-${r.id}`} class="visually-hidden">
            Commit to deploy
          </label>
          <input
            id={`sha-${r.id}`}
            placeholder="full commit SHA"
            value={sha}
            pattern="[0-9a-fA-F]{40}"
            onInput={(e) => setSha((e.target as HTMLInputElement).value)}
          />
          <button type="submit" disabled={deploy.busy || !/^[0-9a-f]{40}$/i.test(sha.trim())}>
            Deploy commit
          </button>
        </form>
      </div>
      <ErrorBox error={rollback.error ?? deploy.error} />
    </section>
  );
}

export function ConnectRepoForm(props: {
  integrations: IntegrationView[];
  chats: ChatOption[];
  onDone: () => Promise<void>;
}) {
  const [integrationId, setIntegrationId] = useState(props.integrations[0]?.id ?? '');
  const [fullName, setFullName] = useState('');
  const [branch, setBranch] = useState('main');
  const [environment, setEnvironment] = useState('production');
  const [kind, setKind] = useState<'workflow_dispatch' | 'hook'>('workflow_dispatch');
  const [target, setTarget] = useState('deploy.yml');
  const [notifyChatId, setNotify] = useState('');
  const [auto, setAuto] = useState(true);
  const [signingKey, setSigningKey] = useState<string | undefined>();
  const integ = integrationId || props.integrations[0]?.id || '';
  const submit = useAction(async () => {
    const [owner, name, extra] = fullName.trim().split('/');
    if (!owner || !name || extra !== undefined)
      throw new Error('Write the repository as owner/name, e.g. octocat/hello-world.');
    const made = await client.github.connectRepo({
      integrationId: integ,
      owner,
      name,
      branch: branch.trim(),
      environment: environment.trim() || 'production',
      strategy:
        kind === 'workflow_dispatch'
          ? { type: 'workflow_dispatch', workflow: target.trim() }
          : { type: 'hook', url: target.trim() },
      notifyChatId: notifyChatId || null,
      autoDeployEnabled: auto,
    });
    setSigningKey(made.hookSigningKey);
    setFullName('');
    await props.onDone();
  });
  const field = (
    id: string,
    label: string,
    value: string,
    set: (v: string) => void,
    hint?: string,
  ) => (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} value={value} onInput={(e) => set((e.target as HTMLInputElement).value)} />
      {hint && <p class="small muted">{hint}</p>}
    </div>
  );
  return (
    <form
      class="card gh-connect-repo"
      aria-labelledby="gh-connect-repo"
      onSubmit={(e) => {
        e.preventDefault();
        void submit.run();
      }}
    >
      <h3 id="gh-connect-repo">Connect a repository</h3>
      {props.integrations.length > 1 && (
        <div class="field">
          <label for="gh-integ">Account</label>
          <select
            id="gh-integ"
            value={integ}
            onChange={(e) => setIntegrationId((e.target as HTMLSelectElement).value)}
          >
            {props.integrations.map((i) => (
              <option key={i.id} value={i.id}>
                {i.login ?? i.githubUserId}
              </option>
            ))}
          </select>
        </div>
      )}
      {field('gh-repo', 'Repository (owner/name)', fullName, setFullName)}
      {field('gh-branch', 'Deploy branch', branch, setBranch)}
      {field('gh-env', 'Environment', environment, setEnvironment)}
      <fieldset>
        <legend>How to deploy</legend>
        <label>
          <input
            type="radio"
            name="gh-kind"
            checked={kind === 'workflow_dispatch'}
            onChange={() => {
              setKind('workflow_dispatch');
              setTarget('deploy.yml');
            }}
          />{' '}
          Run a GitHub Actions workflow
        </label>
        <label>
          <input
            type="radio"
            name="gh-kind"
            checked={kind === 'hook'}
            onChange={() => {
              setKind('hook');
              setTarget('https://');
            }}
          />{' '}
          Call a deploy hook URL (signed)
        </label>
      </fieldset>
      {field(
        'gh-target',
        kind === 'workflow_dispatch' ? 'Workflow file' : 'Deploy hook URL',
        target,
        setTarget,
      )}
      <div class="field">
        <label for="gh-notify">Post deploy notes in</label>
        <select
          id="gh-notify"
          value={notifyChatId}
          onChange={(e) => setNotify((e.target as HTMLSelectElement).value)}
        >
          <option value="">no chat</option>
          {props.chats.map((c) => (
            <option key={c.id} value={c.id}>
              {c.title}
            </option>
          ))}
        </select>
      </div>
      <label>
        <input
          type="checkbox"
          checked={auto}
          onChange={(e) => setAuto((e.target as HTMLInputElement).checked)}
        />{' '}
        Deploy automatically on every push to the branch
      </label>
      <button type="submit" class="primary" disabled={submit.busy || !fullName.includes('/')}>
        {submit.busy ? 'Connecting…' : 'Connect repository'}
      </button>
      <ErrorBox error={submit.error} />
      {signingKey && (
        <p class="notice" role="status">
          The deploy hook's signing key (shown only now): <code>{signingKey}</code> — check{' '}
          <code>X-Vutler-Signature-256</code> with it.
        </p>
      )}
    </form>
  );
}
