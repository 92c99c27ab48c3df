import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatMessage } from '../../client/index.ts';
import {
  type ChatState,
  chatTitle,
  deleteMessage,
  displayName,
  loadEarlier,
  openChat,
  sendMessage,
  typingIn,
} from '../lib/chats.ts';
import { sendTyping } from '../lib/live.ts';
import { client } from '../lib/session.ts';
import { Composer } from './Composer.tsx';
import { ErrorBox, useAction } from './common.tsx';
import { FileCard } from './FileCard.tsx';
import { Members } from './Members.tsx';
import { useChangedIdentities } from './SafetyNumber.tsx';

function time(iso: string): string {
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

function DeleteButton({ m }: { m: ChatMessage }) {
  const [asking, setAsking] = useState(false);
  const del = useAction(async () => deleteMessage(m.chatId, m.id));
  if (!asking)
    return (
      <button type="button" class="link small" onClick={() => setAsking(true)}>
        Delete
      </button>
    );
  return (
    <span class="msg-confirm">
      <span class="small">Delete for everyone?</span>
      <button type="button" class="link small" disabled={del.busy} onClick={() => void del.run()}>
        Yes, delete
      </button>
      <button type="button" class="link small" onClick={() => setAsking(false)}>
        Keep
      </button>
      <ErrorBox error={del.error} />
    </span>
  );
}

function Message({ m, state }: { m: ChatMessage; state: ChatState }) {
  const mine = m.senderId === client.user?.id;
  const cls = `msg ${mine ? 'msg-mine' : 'msg-theirs'} msg-${m.status}`;
  return (
    <li class={cls} data-seq={m.seq} data-status={m.status}>
      <div class="msg-meta">
        <span class="msg-sender">
          {m.status === 'rejected' || m.status === 'tampered'
            ? `Unverified (claims to be ${displayName(m.senderId, state)})`
            : displayName(m.senderId, state)}
        </span>
        <time dateTime={m.createdAt}>{time(m.createdAt)}</time>
        {mine && m.status === 'ok' && <DeleteButton m={m} />}
      </div>
      {m.status === 'ok' && m.body?.text && <p class="msg-body">{m.body.text}</p>}
      {m.status === 'ok' &&
        m.body?.attachments.map((a) => <FileCard key={a.shareId} shareId={a.shareId} card={m} />)}
      {m.status === 'deleted' && <p class="msg-body muted">Message deleted</p>}
      {m.status === 'no-key' && (
        <p class="msg-body warning">This message was sent before you had the chat key.</p>
      )}
      {(m.status === 'rejected' || m.status === 'tampered') && (
        <p class="msg-body warning" role="alert">
          ⚠ Failed verification — this message may have been forged or altered and is not shown.
          <span class="small"> ({m.reason ?? 'bad signature'})</span>
        </p>
      )}
    </li>
  );
}

export function ChatView({ chatId, state }: { chatId: string; state: ChatState }) {
  const entry = state.chats[chatId];
  const [showMembers, setShowMembers] = useState(false);
  const earlier = useAction(async () => {
    await loadEarlier(chatId);
  });
  const list = useRef<HTMLOListElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  // Opening a chat moves focus into it (on narrow screens the list it came from is hidden).
  useEffect(() => heading.current?.focus(), [chatId]);
  const messages = state.messages[chatId] ?? [];
  const memberIds = (entry?.chat.members ?? [])
    .map((m) => m.userId)
    .filter((id) => id !== client.user?.id);
  const changed = useChangedIdentities(memberIds);
  const last = messages[messages.length - 1]?.seq;
  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: 'end' });
  }, [last, chatId]);
  if (!entry) return null;
  const title = chatTitle(entry.chat, state);
  const typing = typingIn(chatId, state);
  const blocked = changed.length
    ? `Sending is blocked: the identity key of ${changed.map((id) => displayName(id, state)).join(', ')} changed. Compare safety numbers under Members.`
    : undefined;
  return (
    <section class="chat" aria-labelledby="chat-title">
      <header class="chat-head">
        <button
          type="button"
          class="back"
          onClick={() => void openChat(undefined)}
          aria-label="Back to chats"
        >
          ←
        </button>
        <h2 id="chat-title" ref={heading} tabIndex={-1}>
          {title}
        </h2>
        <button
          type="button"
          aria-expanded={showMembers}
          onClick={() => setShowMembers(!showMembers)}
        >
          Members ({entry.chat.members.length})
        </button>
      </header>
      {showMembers && <Members chat={entry.chat} state={state} />}
      {(messages[0]?.seq ?? 1) > 1 && (
        <div class="earlier">
          <button type="button" disabled={earlier.busy} onClick={() => void earlier.run()}>
            {earlier.busy ? 'Loading…' : 'Load earlier messages'}
          </button>
          <ErrorBox error={earlier.error} />
        </div>
      )}
      <ol class="messages" ref={list} aria-label={`Messages with ${title}`} aria-live="polite">
        {messages.length === 0 && <li class="muted empty">No messages yet. Say hello.</li>}
        {messages.map((m) => (
          <Message key={m.id} m={m} state={state} />
        ))}
      </ol>
      <p class="typing" aria-live="polite">
        {typing.length ? `${typing.join(', ')} ${typing.length > 1 ? 'are' : 'is'} typing…` : ''}
      </p>
      <Composer
        chatId={chatId}
        agents={state.agents}
        disabled={blocked}
        onSend={(text) => sendMessage(chatId, text)}
        onTyping={() => sendTyping(chatId)}
      />
    </section>
  );
}
