/**
 * Safety-number state per contact, on this device: the fingerprint first seen (so a changed
 * identity key is caught even before anyone compared numbers) and the one marked verified.
 * Kept behind these three functions so the SDK's pinned-identity store can replace it.
 */
import { client } from './session.ts';
import { Store } from './store.ts';

/** Bumped whenever a contact's trust state changes, so every view showing it re-checks. */
export const trustVersion = new Store(0);
const knownChanged = new Set<string>();
const bump = () => trustVersion.set(trustVersion.get() + 1);

interface Marks {
  seen: Record<string, string>;
  verified: Record<string, string>;
}

const key = () => `vutler.trust.${client.user?.id ?? ''}`;

function load(): Marks {
  try {
    const m = JSON.parse(localStorage.getItem(key()) ?? '{}') as Partial<Marks>;
    return { seen: m.seen ?? {}, verified: m.verified ?? {} };
  } catch {
    return { seen: {}, verified: {} };
  }
}

function save(m: Marks): void {
  try {
    localStorage.setItem(key(), JSON.stringify(m));
  } catch {
    // storage disabled: marks last for this page only
  }
}

export type TrustStatus = 'unverified' | 'verified' | 'changed';

/** Records a first sighting; a later, different fingerprint is reported as `changed`. */
export function trustStatus(userId: string, fingerprint: string): TrustStatus {
  const m = load();
  const seen = m.seen[userId];
  if (!seen) {
    m.seen[userId] = fingerprint;
    save(m);
  } else if (seen !== fingerprint) {
    // Bump on the transition only: views re-check on a bump, which would otherwise loop.
    if (!knownChanged.has(userId)) {
      knownChanged.add(userId);
      bump();
    }
    return 'changed';
  }
  knownChanged.delete(userId);
  return m.verified[userId] === fingerprint ? 'verified' : 'unverified';
}

export function markVerified(userId: string, fingerprint: string): void {
  const m = load();
  m.seen[userId] = fingerprint;
  m.verified[userId] = fingerprint;
  save(m);
  knownChanged.delete(userId);
  bump();
}

export function clearVerified(userId: string): void {
  const m = load();
  delete m.verified[userId];
  save(m);
  bump();
}
