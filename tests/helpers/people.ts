import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { type ClientOptions, VutlerClient } from '../../src/client/index.ts';
import type { WebSocketConstructor } from '../../src/client/live.ts';

export const CHEAP_KDF = { memoryKiB: 1024, iterations: 1, parallelism: 1 };

export function newClient(baseUrl: string, extra: Partial<ClientOptions> = {}) {
  return new VutlerClient({
    baseUrl,
    kdfCost: CHEAP_KDF,
    allowWeakKdf: true,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    ...extra,
  });
}

/** A registered person with end-to-end encryption set up, logged in. */
export async function person(baseUrl: string, name: string, extra: Partial<ClientOptions> = {}) {
  const client = newClient(baseUrl, extra);
  const email = `${name}-${randomBytes(5).toString('hex')}@example.com`;
  const passphrase = `${name} passphrase ${randomBytes(4).toString('hex')}`;
  const { user, phrase } = await client.registerWithEncryption({
    email,
    passphrase,
    displayName: name,
  });
  return { client, user, email, passphrase, phrase, id: user.id };
}

/** The same account signed in on another device: a fresh client, so an empty key store. */
export async function sameAccount(
  baseUrl: string,
  p: { email: string; passphrase: string },
  extra: Partial<ClientOptions> = {},
) {
  const client = newClient(baseUrl, extra);
  await client.login({ email: p.email, passphrase: p.passphrase });
  return client;
}

/** A fetch that lets a test rewrite answers, as a hostile server (or its proxy) would. */
export function forgingFetch(
  rewrite: (path: string, res: Response) => Promise<Response | undefined>,
): ClientOptions['fetch'] {
  return async (input, init) => {
    const res = await fetch(input, init);
    return (await rewrite(new URL(input).pathname, res.clone())) ?? res;
  };
}

/** A JSON answer, for a forging fetch to return. */
export const jsonResponse = (body: unknown) =>
  new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
