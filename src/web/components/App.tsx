import { Component, type ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { chatState, filesOpen, totalUnread } from '../lib/chats.ts';
import { startChats, stopChats } from '../lib/live.ts';
import { go, route } from '../lib/route.ts';
import { screen, signOut } from '../lib/session.ts';
import { useStore } from '../lib/store.ts';
import { AgentsPage } from './AgentsPage.tsx';
import { AuditPage } from './AuditPage.tsx';
import { Recover, SignIn, SignUp, Unlock } from './AuthPages.tsx';
import { ChatList } from './ChatList.tsx';
import { ChatView } from './ChatView.tsx';
import { ConsentPage } from './ConsentPage.tsx';
import { ErrorBox, useAction } from './common.tsx';
import { DrivePanel } from './DrivePanel.tsx';
import { GithubPage } from './GithubPage.tsx';
import { SetupConfirm, SetupPhrase } from './Setup.tsx';

/** Never a blank screen: a render error shows what happened and a way out. */
export class Boundary extends Component<{ children: ComponentChildren }, { error?: unknown }> {
  override state: { error?: unknown } = {};
  override componentDidCatch(error: unknown) {
    this.setState({ error });
  }
  override render() {
    if (this.state.error) {
      return (
        <main class="auth">
          <section class="card">
            <h1>Something went wrong</h1>
            <ErrorBox error={this.state.error} />
            <button type="button" class="primary" onClick={() => location.reload()}>
              Reload
            </button>
          </section>
        </main>
      );
    }
    return this.props.children;
  }
}

function Workspace() {
  const state = useStore(chatState);
  const start = useAction(startChats);
  const out = useAction(signOut);
  useEffect(() => {
    void start.run();
    return stopChats;
  }, []);
  const files = useStore(filesOpen);
  const page = useStore(route).page;
  const openId = state.openChatId;
  const unreadCount = totalUnread(state);
  useEffect(() => {
    document.title = unreadCount > 0 ? `(${unreadCount}) Vutler` : 'Vutler';
  }, [unreadCount]);
  return (
    <div class={`workspace${openId || files || page !== '' ? ' has-chat' : ''}`}>
      <header class="top">
        <span class="brand">Vutler</span>
        <nav class="pages" aria-label="Pages">
          {(
            [
              ['', 'Chats'],
              ['agents', 'Agents'],
              ['audit', 'Audit'],
              ['github', 'GitHub'],
            ] as const
          ).map(([p, label]) => (
            <a key={p} href={`#/${p}`} aria-current={page === p ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class={`conn conn-${state.connection}`} role="status">
          {state.connection === 'online'
            ? 'Live'
            : state.connection === 'connecting'
              ? 'Connecting…'
              : state.connection === 'ended'
                ? 'Session ended'
                : 'Offline — reconnecting'}
        </span>
        <button
          type="button"
          aria-pressed={files && page === ''}
          onClick={() => {
            if (page !== '') go('');
            filesOpen.set(page !== '' || !files);
          }}
        >
          Files
        </button>
        <button type="button" onClick={() => void out.run()} disabled={out.busy}>
          Sign out
        </button>
      </header>
      {state.connection === 'ended' && (
        <div class="warning session-ended" role="alert">
          <p>This session has ended (signed out elsewhere, or the passphrase was changed).</p>
          <button type="button" class="primary" onClick={() => void out.run()}>
            Sign in again
          </button>
        </div>
      )}
      <ErrorBox error={start.error ?? out.error} />
      <div class="panes">
        <ChatList state={state} />
        <main class="chat-pane">
          {page === 'agents' ? (
            <AgentsPage />
          ) : page === 'audit' ? (
            <AuditPage />
          ) : page === 'github' ? (
            <GithubPage />
          ) : files ? (
            <DrivePanel />
          ) : openId ? (
            <ChatView chatId={openId} state={state} />
          ) : (
            <p class="muted empty placeholder">Pick a chat, or start a new one.</p>
          )}
        </main>
      </div>
    </div>
  );
}

export function App() {
  const s = useStore(screen);
  const r = useStore(route);
  switch (s.name) {
    case 'loading':
      return <p class="loading">Loading Vutler…</p>;
    case 'signin':
      return (
        <SignIn
          email={s.email}
          notice={
            s.notice ??
            (r.page === 'consent'
              ? 'An MCP client asks to connect to your Vutler account: sign in to see what it asks for and decide.'
              : undefined)
          }
        />
      );
    case 'unlock':
      return <Unlock email={s.email} />;
    case 'signup':
      return <SignUp />;
    case 'recover':
      return <Recover />;
    case 'setup':
      return s.step === 'phrase' ? (
        <SetupPhrase setup={s.setup} />
      ) : (
        <SetupConfirm setup={s.setup} />
      );
    case 'app':
      return r.page === 'consent' ? <ConsentPage params={r.params} /> : <Workspace />;
  }
}
