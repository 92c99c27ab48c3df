/**
 * Safety-number state per contact, from the SDK's pinned identities (`client.trust`, kept in the
 * IndexedDB key store): the first key this device saw is pinned, a different one later is
 * `changed` and blocks sending until the person compares the new number and accepts it.
 */
import type { IdentityStatus } from '../../client/index.ts';
import { client } from './session.ts';
import { Store } from './store.ts';

/** Bumped whenever a contact's trust state changes, so every view showing it re-checks. */
export const trustVersion = new Store(0);
const knownChanged = new Set<string>();
const bump = () => trustVersion.set(trustVersion.get() + 1);

export type TrustStatus = IdentityStatus['status'];

/** Asks the server afresh and compares with the pin (a change is seen without a reload). */
export async function trustStatus(userId: string): Promise<IdentityStatus> {
  const s = await client.trust.status(userId);
  // Bump on the transition only: views re-check on a bump, which would otherwise loop.
  if (s.status === 'changed' && !knownChanged.has(userId)) {
    knownChanged.add(userId);
    bump();
  } else if (s.status !== 'changed') knownChanged.delete(userId);
  return s;
}

export async function markVerified(userId: string, s: IdentityStatus): Promise<void> {
  if (s.status === 'changed') await client.trust.acceptNewKey(userId, s.safetyNumber);
  else await client.trust.markVerified(userId, s.safetyNumber);
  knownChanged.delete(userId);
  bump();
}

export async function clearVerified(userId: string): Promise<void> {
  await client.trust.clearVerified(userId);
  bump();
}
