/**
 * Which page of the signed-in app shows, from the URL fragment (`#/agents`, `#/consent?…`), so a
 * page survives sign-in and can be linked to. Moving between pages never reloads: the keys live
 * only in this page's memory.
 *
 * `/?next=<path>` (what a page sends a signed-out person to) is honoured after sign-in without a
 * reload: `/#/…` routes are taken as they are, and `/oauth/authorize?…` — which a reload would
 * only redirect back here — becomes the consent route with the same query.
 */
import { Store } from './store.ts';

export interface Route {
  /** '' for the chats. */
  page: string;
  params: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#\/?/, '');
  const q = h.indexOf('?');
  const page = (q < 0 ? h : h.slice(0, q)).replace(/\/+$/, '');
  return { page, params: new URLSearchParams(q < 0 ? '' : h.slice(q + 1)) };
}

/** The fragment a `next` path leads to, or undefined for anything not in this app. */
export function routeOfNext(next: string | null): string | undefined {
  if (!next?.startsWith('/') || next.startsWith('//') || next.includes('\\')) return undefined;
  let u: URL;
  try {
    u = new URL(next, 'https://app.invalid');
  } catch {
    return undefined;
  }
  if (u.origin !== 'https://app.invalid') return undefined;
  if (u.pathname === '/oauth/authorize') return `#/consent${u.search}`;
  if (u.pathname === '/' && u.hash.startsWith('#/')) return u.hash;
  return undefined;
}

export const route = new Store<Route>(parseRoute(globalThis.location?.hash ?? ''));

if (typeof window !== 'undefined') {
  window.addEventListener('hashchange', () => route.set(parseRoute(location.hash)));
}

/** Goes to a page of the app (its fragment), keeping the history entry. */
export function go(page: string, params?: Record<string, string>): void {
  const q = params ? `?${new URLSearchParams(params)}` : '';
  location.hash = `#/${page}${q}`;
}

/** Takes up `?next=` once: rewrites the URL in place and updates the route. */
export function takeNext(): void {
  const search = new URLSearchParams(location.search);
  if (!search.has('next')) return;
  const to = routeOfNext(search.get('next'));
  history.replaceState(null, '', `/${to ?? location.hash}`);
  route.set(parseRoute(location.hash));
}
