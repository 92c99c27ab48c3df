/**
 * The one live WebSocket of the page. It reconnects after a drop (with backoff, and at once when
 * the browser says it is online again) and resumes from the last seq held per opened chat: the
 * server replays the gap once, and merging by seq makes any overlap harmless.
 */
import { type LiveSubscription, VutlerClientError } from '../../client/index.ts';
import {
  type Connection,
  chatState,
  markRead,
  onEvent,
  refreshChats,
  resetChats,
} from './chats.ts';
import { client } from './session.ts';

let sub: LiveSubscription | undefined;
let wanted = false;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let attempt = 0;

function cursors(): Record<string, number> {
  const s = chatState.get();
  const out: Record<string, number> = {};
  for (const id of Object.keys(s.loaded)) {
    const msgs = s.messages[id] ?? [];
    out[id] = msgs.length ? msgs[msgs.length - 1]!.seq : 0;
  }
  return out;
}

function setConnection(connection: Connection): void {
  chatState.update((s) => (s.connection === connection ? s : { ...s, connection }));
}

async function connect(): Promise<void> {
  if (!wanted || sub) return;
  setConnection('connecting');
  let current: LiveSubscription | undefined;
  try {
    const opened = await client.live({
      cursors: cursors(),
      onEvent,
      onClose: (code) => {
        if (current && sub === current) sub = undefined;
        // 4401: the session is gone; reconnecting would not help.
        if (code === 4401) {
          setConnection('ended');
          return;
        }
        setConnection('offline');
        if (wanted) scheduleReconnect();
      },
    });
    if (!wanted) {
      opened.close();
      return;
    }
    current = opened;
    sub = opened;
    attempt = 0;
    setConnection('online');
    // Chats created or joined while we were away are not in the cursors: list them again.
    void refreshChats().catch(() => undefined);
    // A gateway key that could not be fetched before (not one that changed) is tried again.
    if (chatState.get().gatewayProblem && !gatewayKeyChanged) void pinGateway();
  } catch {
    if (chatState.get().connection === 'ended') return;
    setConnection('offline');
    scheduleReconnect();
  }
}

function scheduleReconnect(): void {
  if (!wanted || retryTimer) return;
  const delay = Math.min(10_000, 500 * 2 ** attempt++);
  retryTimer = setTimeout(() => {
    retryTimer = undefined;
    void connect();
  }, delay);
}

function goOffline(): void {
  sub?.close();
  sub = undefined;
  setConnection('offline');
}

function goOnline(): void {
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = undefined;
  attempt = 0;
  void connect();
}

function onVisible(): void {
  const id = chatState.get().openChatId;
  if (document.visibilityState === 'visible' && id) markRead(id);
}

export async function startChats(): Promise<void> {
  wanted = true;
  window.addEventListener('offline', goOffline);
  window.addEventListener('online', goOnline);
  document.addEventListener('visibilitychange', onVisible);
  // Agents' messages are checked against the gateway key this device pinned (first use pins it);
  // before any history is opened, or every agent reply would read as unverifiable.
  await pinGateway();
  await refreshChats();
  client
    .listAgentTokens()
    .then((tokens) => {
      const names = new Set(['claude', ...tokens.map((t) => t.agentName)]);
      chatState.update((s) => ({ ...s, agents: [...names].sort() }));
    })
    .catch(() => undefined);
  await connect();
}

let gatewayKeyChanged = false;

async function pinGateway(): Promise<void> {
  let gatewayProblem = '';
  try {
    await client.agents.gateway();
  } catch (err) {
    gatewayKeyChanged = err instanceof VutlerClientError && err.code === 'gateway-key-changed';
    gatewayProblem = gatewayKeyChanged
      ? "The server's gateway key is not the one this device pinned: agents' messages are shown as not verified. Ask your administrator before trusting any agent reply."
      : 'The gateway key could not be fetched: agents’ messages cannot be verified yet.';
  }
  chatState.update((s) => ({ ...s, gatewayProblem }));
}

export function stopChats(): void {
  wanted = false;
  window.removeEventListener('offline', goOffline);
  window.removeEventListener('online', goOnline);
  document.removeEventListener('visibilitychange', onVisible);
  if (retryTimer) clearTimeout(retryTimer);
  sub?.close();
  sub = undefined;
  resetChats();
}

export function sendTyping(chatId: string): void {
  try {
    sub?.typing(chatId);
  } catch {
    // socket closing: a lost typing hint does not matter
  }
}
