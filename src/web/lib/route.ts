/**
 * The page shown, from the URL's hash: `#/` chats, `#/agents?chat=<id>&agent=<name>`, `#/audit`,
 * `#/github`. A hash route needs nothing from the server and survives the unlock screen.
 */
import { Store } from './store.ts';

export interface Route {
  page: string;
  params: Record<string, string>;
}

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const page = (q < 0 ? raw : raw.slice(0, q)).replace(/\/+$/, '') || 'chats';
  const params: Record<string, string> = {};
  if (q >= 0) for (const [k, v] of new URLSearchParams(raw.slice(q + 1))) params[k] = v;
  return { page, params };
}

export const route = new Store<Route>(
  parseRoute(typeof location === 'undefined' ? '' : location.hash),
);

if (typeof window !== 'undefined') {
  window.addEventListener('hashchange', () => route.set(parseRoute(location.hash)));
}

export function navigate(page: string, params: Record<string, string> = {}): void {
  const q = new URLSearchParams(params).toString();
  location.hash = `#/${page === 'chats' ? '' : page}${q ? `?${q}` : ''}`;
}

/** Where a person grants an agent this chat (the Agents page, opened on that chat and agent). */
export function agentsLink(chatId: string, agentName: string): string {
  return `#/agents?${new URLSearchParams({ chat: chatId, agent: agentName }).toString()}`;
}
