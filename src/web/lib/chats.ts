/**
 * Chats as this page knows them: the list with unread counts and last activity, the messages of
 * chats that were opened, typing indicators, and the actions on them. Live events arrive through
 * lib/live.ts and are applied by `onEvent`; messages merge by seq, so a replay is a no-op.
 */
import type { Chat, ChatMessage, LiveEvent } from '../../client/index.ts';
import { type AgentRun, applyAgentStatus, mentionsIn, mergeMessages } from './pure.ts';
import { go, route } from './route.ts';
import { client } from './session.ts';
import { Store } from './store.ts';

/** The drive panel takes the chat pane's place while open; opening a chat closes it. */
export const filesOpen = new Store(false);

export interface Profile {
  id: string;
  email: string;
  displayName: string | null;
}

export interface ChatEntry {
  chat: Chat;
  lastSeq: number;
  readSeq: number;
  lastAt: string;
  /** The newest message as this page decrypted it, for the list (never sent anywhere). */
  preview: string;
}

/** `ended`: the server closed the socket for a dead session (signed out elsewhere, revoked). */
export type Connection = 'connecting' | 'online' | 'offline' | 'ended';

export interface ChatState {
  chats: Record<string, ChatEntry>;
  messages: Record<string, ChatMessage[]>;
  /** Chats whose history was fetched: only these resume from a cursor. */
  loaded: Record<string, boolean>;
  typing: Record<string, Record<string, number>>;
  profiles: Record<string, Profile>;
  agents: string[];
  /** Agent runs started by mentions, by run id (live `agent.status` events). */
  runs: Record<string, AgentRun>;
  /**
   * Why agents' messages cannot be checked on this device (the gateway key could not be pinned,
   * or the server now answers with another one); empty when all is well.
   */
  gatewayProblem: string;
  connection: Connection;
  openChatId: string | undefined;
}

const initial: ChatState = {
  chats: {},
  messages: {},
  loaded: {},
  typing: {},
  profiles: {},
  agents: ['claude'],
  runs: {},
  gatewayProblem: '',
  connection: 'connecting',
  openChatId: undefined,
};

export const chatState = new Store<ChatState>(initial);

export function resetChats(): void {
  chatState.set(initial);
}

const TYPING_MS = 4000;
const HISTORY_PAGE = 100;

function readKey(): string {
  return `vutler.read.${client.user?.id ?? ''}`;
}

function loadReadSeqs(): Record<string, number> {
  try {
    return JSON.parse(localStorage.getItem(readKey()) ?? '{}') as Record<string, number>;
  } catch {
    return {};
  }
}

function saveReadSeqs(s: ChatState): void {
  const out: Record<string, number> = {};
  for (const [id, e] of Object.entries(s.chats)) out[id] = e.readSeq;
  try {
    localStorage.setItem(readKey(), JSON.stringify(out));
  } catch {
    // storage full or disabled: unread counts just restart on the next visit
  }
}

export function displayName(userId: string | null, s = chatState.get()): string {
  if (!userId) return 'Unknown';
  if (userId === client.user?.id) return 'You';
  const p = s.profiles[userId];
  return p ? (p.displayName ?? p.email) : 'Unknown member';
}

export function chatTitle(chat: Chat, s = chatState.get()): string {
  const others = chat.members.filter((m) => m.userId !== client.user?.id);
  const names = others.map((m) => displayName(m.userId, s));
  if (chat.kind === 'direct') return names[0] ?? 'Just you';
  // Named for its people, marked as a group so it never reads like the direct chat with them.
  return `Group: ${names.length ? names.join(', ') : 'just you'}`;
}

export function previewOf(m: ChatMessage, s = chatState.get()): string {
  const who = m.senderAgent ? `@${m.senderAgent}` : displayName(m.senderId, s);
  if (m.status === 'ok') {
    const text = (m.body?.text ?? '').replace(/\s+/g, ' ').slice(0, 80);
    // A file card's name is inside the share: the list says only that a file came.
    return `${who}: ${text || (m.body?.attachments.length ? 'shared a file' : '')}`;
  }
  if (m.status === 'deleted') return `${who}: message deleted`;
  return '⚠ a message failed verification';
}

/** Total unread, for the tab title. */
export function totalUnread(s: ChatState): number {
  return Object.values(s.chats).reduce((n, e) => n + unread(e), 0);
}

export function unread(e: ChatEntry): number {
  return Math.max(0, e.lastSeq - e.readSeq);
}

async function loadProfiles(ids: string[]): Promise<void> {
  const missing = ids.filter((id) => !chatState.get().profiles[id]);
  if (missing.length === 0) return;
  const res = await client.http.request<{ users: Profile[] }>('/api/users/profiles', {
    body: { ids: missing },
  });
  chatState.update((s) => {
    const profiles = { ...s.profiles };
    for (const p of res.users) profiles[p.id] = p;
    return { ...s, profiles };
  });
}

async function entryFor(chat: Chat, readSeqs: Record<string, number>): Promise<ChatEntry> {
  const prev = chatState.get().chats[chat.id];
  let lastAt = prev?.lastAt ?? chat.createdAt;
  let preview = prev?.preview ?? '';
  // Only when there is news: a chat that moved on while this page was away (or is new to it).
  if (chat.lastSeq > (prev?.lastSeq ?? 0)) {
    const [last] = await client.chats.history(chat.id, { limit: 1 }).catch(() => []);
    if (last) {
      lastAt = last.createdAt;
      preview = previewOf(last);
    }
  }
  return {
    chat,
    lastSeq: Math.max(chat.lastSeq, prev?.lastSeq ?? 0),
    readSeq: prev?.readSeq ?? readSeqs[chat.id] ?? 0,
    lastAt,
    preview,
  };
}

export async function refreshChats(): Promise<void> {
  const list = await client.chats.list();
  const readSeqs = loadReadSeqs();
  const entries = await Promise.all(list.map((c) => entryFor(c, readSeqs)));
  await loadProfiles([...new Set(list.flatMap((c) => c.members.map((m) => m.userId)))]);
  chatState.update((s) => {
    const chats: Record<string, ChatEntry> = {};
    for (const e of entries) chats[e.chat.id] = e;
    return { ...s, chats };
  });
}

async function refreshChat(chatId: string): Promise<void> {
  const chat = await client.chats.get(chatId);
  await loadProfiles(chat.members.map((m) => m.userId));
  const entry = await entryFor(chat, loadReadSeqs());
  chatState.update((s) => ({ ...s, chats: { ...s.chats, [chatId]: { ...entry, chat } } }));
}

export function sortedChats(s: ChatState): ChatEntry[] {
  return Object.values(s.chats).sort((a, b) => b.lastAt.localeCompare(a.lastAt));
}

export function markRead(chatId: string): void {
  chatState.update((s) => {
    const e = s.chats[chatId];
    if (!e || e.readSeq >= e.lastSeq) return s;
    const next = { ...s, chats: { ...s.chats, [chatId]: { ...e, readSeq: e.lastSeq } } };
    saveReadSeqs(next);
    return next;
  });
}

export async function openChat(chatId: string | undefined): Promise<void> {
  // Picking a chat leaves the other pages.
  if (chatId && route.get().page !== '') go('');
  chatState.update((s) => ({ ...s, openChatId: chatId }));
  filesOpen.set(false);
  if (!chatId) return;
  if (!chatState.get().loaded[chatId]) {
    const history = await client.chats.history(chatId, { limit: HISTORY_PAGE });
    chatState.update((s) => ({
      ...s,
      loaded: { ...s.loaded, [chatId]: true },
      messages: { ...s.messages, [chatId]: mergeMessages(s.messages[chatId] ?? [], history) },
    }));
  }
  markRead(chatId);
}

/** Older messages, before the first one shown; false when the chat's start is reached. */
export async function loadEarlier(chatId: string): Promise<boolean> {
  const first = chatState.get().messages[chatId]?.[0]?.seq;
  if (first === undefined || first <= 1) return false;
  const older = await client.chats.history(chatId, { before: first, limit: HISTORY_PAGE });
  chatState.update((s) => ({
    ...s,
    messages: { ...s.messages, [chatId]: mergeMessages(older, s.messages[chatId] ?? []) },
  }));
  return (older[0]?.seq ?? 1) > 1;
}

function addMessage(m: ChatMessage): void {
  chatState.update((s) => {
    const e = s.chats[m.chatId];
    const mine = m.senderId === client.user?.id;
    const isOpen = s.openChatId === m.chatId && document.visibilityState === 'visible';
    const typing = { ...s.typing };
    if (m.senderId && typing[m.chatId]) {
      const t = { ...typing[m.chatId] };
      delete t[m.senderId];
      typing[m.chatId] = t;
    }
    const next: ChatState = {
      ...s,
      typing,
      messages: { ...s.messages, [m.chatId]: mergeMessages(s.messages[m.chatId] ?? [], [m]) },
    };
    if (e) {
      const lastSeq = Math.max(e.lastSeq, m.seq);
      next.chats = {
        ...s.chats,
        [m.chatId]: {
          ...e,
          lastSeq,
          lastAt: m.createdAt > e.lastAt ? m.createdAt : e.lastAt,
          preview: m.seq >= e.lastSeq ? previewOf(m) : e.preview,
          readSeq: mine || isOpen ? Math.max(e.readSeq, m.seq) : e.readSeq,
        },
      };
    }
    if (mine || isOpen) saveReadSeqs(next);
    return next;
  });
  if (!chatState.get().chats[m.chatId]) void refreshChat(m.chatId).catch(() => undefined);
}

function markDeleted(chatId: string, messageId: string): void {
  chatState.update((s) => ({
    ...s,
    messages: {
      ...s.messages,
      [chatId]: (s.messages[chatId] ?? []).map((m) =>
        m.id === messageId ? { ...m, status: 'deleted' as const, body: undefined } : m,
      ),
    },
  }));
}

/** Erases one's own message for everyone (the server drops its ciphertext). */
export async function deleteMessage(chatId: string, messageId: string): Promise<void> {
  await client.chats.deleteMessage(chatId, messageId);
  markDeleted(chatId, messageId);
}

/** Applies one live event to the state (the socket itself is lib/live.ts). */
export function onEvent(ev: LiveEvent): void {
  switch (ev.type) {
    case 'message':
      addMessage(ev.message);
      return;
    case 'message.deleted':
      markDeleted(ev.chatId, ev.messageId);
      return;
    case 'member.changed':
      if (ev.change === 'removed' && ev.userId === client.user?.id) {
        chatState.update((s) => {
          const chats = { ...s.chats };
          delete chats[ev.chatId];
          return {
            ...s,
            chats,
            openChatId: s.openChatId === ev.chatId ? undefined : s.openChatId,
          };
        });
      } else {
        void refreshChat(ev.chatId).catch(() => undefined);
      }
      return;
    case 'key.rotated':
      void refreshChat(ev.chatId).catch(() => undefined);
      return;
    case 'agent.status':
      chatState.update((s) => ({
        ...s,
        runs: { ...s.runs, [ev.runId]: applyAgentStatus(s.runs[ev.runId], ev) },
      }));
      return;
    case 'typing':
      chatState.update((s) => ({
        ...s,
        typing: {
          ...s.typing,
          [ev.chatId]: { ...(s.typing[ev.chatId] ?? {}), [ev.userId]: Date.now() + TYPING_MS },
        },
      }));
      setTimeout(() => chatState.update((s) => ({ ...s })), TYPING_MS + 50);
      return;
    default:
      return;
  }
}

export function typingIn(chatId: string, s: ChatState): string[] {
  const now = Date.now();
  return Object.entries(s.typing[chatId] ?? {})
    .filter(([, until]) => until > now)
    .map(([userId]) => displayName(userId, s));
}

/** The runs a message's mentions started, oldest first. */
export function runsFor(messageId: string, s: ChatState): AgentRun[] {
  return Object.values(s.runs)
    .filter((r) => r.messageId === messageId)
    .sort((a, b) => a.agentName.localeCompare(b.agentName));
}

/** `hidden`: signed `{ agents: 'deny' }`, so no agent reads this message even in a granted chat. */
export async function sendMessage(
  chatId: string,
  text: string,
  opts: { hidden?: boolean } = {},
): Promise<void> {
  const mentions = mentionsIn(text, chatState.get().agents);
  const view = await client.chats.send(chatId, text, {
    mentions,
    decryptionPermissions: opts.hidden ? { agents: 'deny' } : {},
  });
  // The live socket usually delivers it too; merging by seq keeps one copy.
  addMessage(await client.chats.open(view));
}

export async function lookupByEmail(email: string): Promise<Profile> {
  const res = await client.http.request<{ users: Profile[] }>('/api/users/lookup', {
    body: { email },
  });
  const user = res.users[0];
  if (!user) {
    throw new Error(
      `No one with encryption set up uses ${email}. Ask them to sign up and finish setup first.`,
    );
  }
  chatState.update((s) => ({ ...s, profiles: { ...s.profiles, [user.id]: user } }));
  return user;
}

export async function createChat(kind: 'direct' | 'group', emails: string[]): Promise<Chat> {
  const me = client.user?.email.toLowerCase();
  const people: Profile[] = [];
  for (const email of emails) {
    if (email.toLowerCase() === me) continue;
    people.push(await lookupByEmail(email));
  }
  if (people.length === 0) throw new Error('Add at least one other person by email.');
  if (kind === 'direct' && people.length !== 1)
    throw new Error('A direct chat is with exactly one person; make a group for more.');
  const chat = await client.chats.create({ kind, memberIds: people.map((p) => p.id) });
  await refreshChat(chat.id);
  return chat;
}

export async function addMember(chatId: string, email: string): Promise<void> {
  const person = await lookupByEmail(email);
  await client.chats.addMember(chatId, person.id, { history: true });
  await refreshChat(chatId);
}

/** Removal starts a new key epoch that only the remaining members receive. */
export async function removeMember(chatId: string, userId: string): Promise<void> {
  await client.chats.removeMember(chatId, userId);
  await refreshChat(chatId);
}
