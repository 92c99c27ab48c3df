import { useState } from 'preact/hooks';
import {
  type ChatState,
  chatTitle,
  createChat,
  openChat,
  sortedChats,
  unread,
} from '../lib/chats.ts';
import { go, route } from '../lib/route.ts';
import { ErrorBox, Field, useAction } from './common.tsx';

function ago(iso: string): string {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function NewChat({ onDone }: { onDone: () => void }) {
  const [kind, setKind] = useState<'direct' | 'group'>('direct');
  const [emails, setEmails] = useState('');
  const action = useAction(async () => {
    const list = emails
      .split(/[\s,;]+/)
      .map((e) => e.trim())
      .filter(Boolean);
    const chat = await createChat(kind, list);
    onDone();
    await openChat(chat.id);
  });
  return (
    <form
      class="new-chat"
      aria-label="New chat"
      onSubmit={(e) => {
        e.preventDefault();
        void action.run();
      }}
    >
      <fieldset>
        <legend>Kind of chat</legend>
        <div class="check">
          <input
            type="radio"
            id="kind-direct"
            name="kind"
            checked={kind === 'direct'}
            onChange={() => setKind('direct')}
          />
          <label for="kind-direct">Direct (one person)</label>
        </div>
        <div class="check">
          <input
            type="radio"
            id="kind-group"
            name="kind"
            checked={kind === 'group'}
            onChange={() => setKind('group')}
          />
          <label for="kind-group">Group</label>
        </div>
      </fieldset>
      <Field
        id="new-chat-emails"
        label={kind === 'direct' ? 'Their email' : 'Emails (separated by commas)'}
        value={emails}
        onInput={setEmails}
        required
      />
      <ErrorBox error={action.error} />
      <div class="row">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" class="primary" disabled={action.busy}>
          {action.busy ? 'Creating…' : 'Start chat'}
        </button>
      </div>
    </form>
  );
}

export function ChatList({ state }: { state: ChatState }) {
  const [creating, setCreating] = useState(false);
  const chats = sortedChats(state);
  const open = useAction(async (id: string) => {
    // Picking a chat (even the one already open) leaves the Agents, Audit or GitHub page.
    if (route.get().page !== '') go('');
    await openChat(id);
  });
  return (
    <nav class="chat-list" aria-label="Chats">
      <div class="list-head">
        <h2>Chats</h2>
        <button
          type="button"
          class="primary"
          aria-expanded={creating}
          onClick={() => setCreating(!creating)}
        >
          New chat
        </button>
      </div>
      {creating && <NewChat onDone={() => setCreating(false)} />}
      <ErrorBox error={open.error} />
      {chats.length === 0 && !creating && (
        <p class="muted empty">No chats yet. Start one with someone's email.</p>
      )}
      <ul>
        {chats.map((e) => {
          const n = unread(e);
          const title = chatTitle(e.chat, state);
          return (
            <li key={e.chat.id}>
              <button
                type="button"
                class={`chat-item${state.openChatId === e.chat.id ? ' active' : ''}`}
                aria-current={state.openChatId === e.chat.id ? 'page' : undefined}
                onClick={() => void open.run(e.chat.id)}
              >
                <span class="chat-item-text">
                  <span class="chat-item-title">{title}</span>
                  {e.preview && <span class="chat-item-preview">{e.preview}</span>}
                </span>
                <span class="chat-item-meta">
                  <time dateTime={e.lastAt}>{ago(e.lastAt)}</time>
                  {n > 0 && (
                    <span class="unread">
                      {n}
                      <span class="visually-hidden"> unread</span>
                    </span>
                  )}
                </span>
              </button>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
