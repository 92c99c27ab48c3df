import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatMessage } from '../../client/index.ts';
import {
  type ChatState,
  chatTitle,
  deleteMessage,
  displayName,
  loadEarlier,
  openChat,
  runsFor,
  sendMessage,
  typingIn,
} from '../lib/chats.ts';
import { sendTyping } from '../lib/live.ts';
import { client } from '../lib/session.ts';
import { AgentRuns, GatewayWarning, useChatGrants } from './AgentBits.tsx';
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

function senderLabel(m: ChatMessage, state: ChatState): string {
  const who = m.senderAgent ? `@${m.senderAgent}` : displayName(m.senderId, state);
  return m.status === 'rejected' || m.status === 'tampered'
    ? `Unverified (claims to be ${who})`
    : who;
}

function Message({ m, state }: { m: ChatMessage; state: ChatState }) {
  const mine = m.senderId === client.user?.id && !m.senderAgent;
  const agent = m.senderAgent !== null;
  const cls = `msg ${mine ? 'msg-mine' : 'msg-theirs'} msg-${m.status}${agent ? ' msg-agent' : ''}`;
  const hidden = m.decryptionPermissions.agents === 'deny';
  return (
    <li
      class={cls}
      data-seq={m.seq}
      data-status={m.status}
      data-agent={m.senderAgent ?? undefined}
      data-id={m.id}
    >
      <div class="msg-meta">
        <span class="msg-sender">{senderLabel(m, state)}</span>
        {agent && m.status === 'ok' && (
          <span class="tag tag-agent">
            {m.senderId === client.user?.id
              ? 'agent · on your behalf'
              : `agent · for ${displayName(m.senderId, state)}`}
          </span>
        )}
        <time dateTime={m.createdAt}>{time(m.createdAt)}</time>
        {mine && m.status === 'ok' && <DeleteButton m={m} />}
      </div>
      {agent && m.status === 'ok' && (
        <p class="verified small" title="Signed by the gateway key this device pinned">
          ✓ Verified: signed by the pinned gateway key
        </p>
      )}
      {m.status === 'ok' && m.body?.text && <p class="msg-body">{m.body.text}</p>}
      {m.status === 'ok' &&
        m.body?.attachments.map((a) => <FileCard key={a.shareId} shareId={a.shareId} card={m} />)}
      {m.status === 'ok' && hidden && (
        <p class="tag tag-hidden small" title="Signed by its sender: no agent may read it">
          Hidden from agents
        </p>
      )}
      {m.status === 'deleted' && <p class="msg-body muted">Message deleted</p>}
      {m.status === 'no-key' && (
        <p class="msg-body warning">This message was sent before you had the chat key.</p>
      )}
      {(m.status === 'rejected' || m.status === 'tampered') && (
        <p class="msg-body warning" role="alert">
          {agent
            ? '⚠ Not verified — this agent message is not signed by the gateway key this device pinned, so it is not shown.'
            : '⚠ Failed verification — this message may have been forged or altered and is not shown.'}
          <span class="small"> ({m.reason ?? 'bad signature'})</span>
        </p>
      )}
      <AgentRuns runs={runsFor(m.id, state)} chatId={m.chatId} authorId={m.senderId} />
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
  const grants = useChatGrants(chatId, state);
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
      <GatewayWarning problem={state.gatewayProblem} />
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
        grantedAgents={grants}
        disabled={blocked}
        onSend={(text, opts) => sendMessage(chatId, text, opts)}
        onTyping={() => sendTyping(chatId)}
      />
    </section>
  );
}
