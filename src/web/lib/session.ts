/**
 * The signed-in person and their unlocked keys, around one `VutlerClient` in cookie-session mode.
 * Secret keys live only in memory (the SDK's fields); the device key store (pins, chat heads —
 * public data) is in IndexedDB. Signing out revokes the session, wipes every
 * browser store and reloads the page so nothing from this session survives in memory either.
 */
import {
  IndexedDbKeyStore,
  type PendingSetup,
  type User,
  VutlerClient,
} from '../../client/index.ts';
import { isValidRecoveryPhrase } from '../../crypto/recovery.ts';
import { deriveInWorker, stopKdfWorker } from './kdf.ts';
import { Store } from './store.ts';

export type Screen =
  | { name: 'loading' }
  | { name: 'signin'; email?: string; notice?: string }
  | { name: 'unlock'; email: string }
  | { name: 'signup' }
  | { name: 'recover' }
  | { name: 'setup'; setup: PendingSetup; step: 'phrase' | 'confirm' }
  | { name: 'app' };

export const screen = new Store<Screen>({ name: 'loading' });

export const KEYSTORE_DB = 'vutler-keystore';

function newClient(): VutlerClient {
  return new VutlerClient({
    baseUrl: location.origin,
    cookieSession: true,
    derivePassphraseKeys: deriveInWorker,
    // Pins, chat heads and chain positions survive a reload here; sign out deletes the database.
    keyStore: new IndexedDbKeyStore(KEYSTORE_DB),
  });
}

export let client = newClient();

export function currentUser(): User {
  if (!client.user) throw new Error('not signed in');
  return client.user;
}

export const MIN_PASSPHRASE = 10;

/** On load: a live cookie session still needs the passphrase to unlock the keys. */
export async function boot(): Promise<void> {
  try {
    const me = await client.http.request<{ user: User }>('/api/me');
    screen.set(
      me.user.encryptionEnabled
        ? { name: 'unlock', email: me.user.email }
        : { name: 'signin', email: me.user.email },
    );
  } catch {
    screen.set({ name: 'signin' });
  }
}

async function startSetup(): Promise<void> {
  const setup = await client.beginEncryptionSetup(3);
  screen.set({ name: 'setup', setup, step: 'phrase' });
}

export async function signUp(input: {
  email: string;
  displayName: string;
  passphrase: string;
}): Promise<void> {
  await client.register({
    email: input.email,
    passphrase: input.passphrase,
    displayName: input.displayName || undefined,
  });
  await startSetup();
}

export async function confirmSetup(
  setup: PendingSetup,
  answers: { position: number; word: string }[],
): Promise<void> {
  await setup.complete(
    answers.map((a) => ({ position: a.position, word: a.word.trim().toLowerCase() })),
  );
  screen.set({ name: 'app' });
}

export async function signIn(input: { email: string; passphrase: string }): Promise<void> {
  const user = await client.login(input);
  if (!user.encryptionEnabled) await startSetup();
  else screen.set({ name: 'app' });
}

/** The page was reloaded under a live session: the passphrase reopens the keys in memory. */
export async function unlock(passphrase: string): Promise<void> {
  await client.unlockSession(passphrase);
  screen.set({ name: 'app' });
}

export async function recover(input: {
  email: string;
  phrase: string;
  newPassphrase: string;
}): Promise<void> {
  const phrase = input.phrase.trim().toLowerCase().split(/\s+/).join(' ');
  if (!isValidRecoveryPhrase(phrase)) {
    throw new Error(
      'That is not a valid 24-word recovery phrase: check the spelling and the order of the words.',
    );
  }
  await client.recover({ email: input.email, phrase, newPassphrase: input.newPassphrase });
  screen.set({ name: 'app' });
}

async function wipeBrowserStorage(): Promise<void> {
  try {
    localStorage.clear();
    sessionStorage.clear();
  } catch {
    // storage may be disabled; nothing to clear then
  }
  if ('databases' in indexedDB) {
    const dbs = await indexedDB.databases();
    await Promise.all(
      dbs.map(
        (db) =>
          new Promise<void>((resolve) => {
            if (!db.name) return resolve();
            const req = indexedDB.deleteDatabase(db.name);
            req.onsuccess = req.onerror = req.onblocked = () => resolve();
          }),
      ),
    );
  }
  if ('caches' in globalThis) {
    for (const key of await caches.keys()) await caches.delete(key);
  }
}

/** Revokes the session, forgets every key, clears storage, and starts from a fresh page. */
export async function signOut(): Promise<void> {
  try {
    await client.logout();
  } catch {
    // Already expired or offline: the local wipe below still happens.
  }
  stopKdfWorker();
  // Closed first, or deleting the database stays blocked by this page's own connection.
  (client.keyStore as IndexedDbKeyStore).close();
  client = newClient();
  await wipeBrowserStorage();
  location.replace('/');
}
