/**
 * Everything about comparing identities lives here: the safety number of me and a contact, over
 * the key the server offers now, and the SDK's pin for them (`client.trust` via lib/verify.ts):
 * verified, not verified, or changed since this device pinned it.
 */
import { useEffect, useState } from 'preact/hooks';
import type { IdentityStatus } from '../../client/index.ts';
import { useStore } from '../lib/store.ts';
import { clearVerified, markVerified, trustStatus, trustVersion } from '../lib/verify.ts';
import { ErrorBox, useAction } from './common.tsx';

/** Members whose identity key changed since first seen: sending to them is blocked. */
export function useChangedIdentities(userIds: string[]): string[] {
  const [changed, setChanged] = useState<string[]>([]);
  const version = useStore(trustVersion);
  const key = `${userIds.join(',')}#${version}`;
  useEffect(() => {
    let live = true;
    Promise.all(
      userIds.map(async (id) => ((await trustStatus(id)).status === 'changed' ? id : undefined)),
    )
      .then((ids) => live && setChanged(ids.filter((x): x is string => !!x)))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [key]);
  return changed;
}

export function SafetyNumber({ userId, name }: { userId: string; name: string }) {
  const [trust, setTrust] = useState<IdentityStatus | undefined>();
  const [error, setError] = useState<unknown>();
  const [open, setOpen] = useState(false);
  const version = useStore(trustVersion);
  useEffect(() => {
    trustStatus(userId).then(setTrust, setError);
  }, [userId, version]);
  const verify = useAction(async () => {
    if (trust) await markVerified(userId, trust);
  });
  const unverify = useAction(async () => clearVerified(userId));
  if (error) return <ErrorBox error={error} />;
  if (!trust) return <p class="muted small">Checking identity…</p>;
  const groups = trust.safetyNumber.split(' ');
  return (
    <div class={`safety safety-${trust.status}`}>
      {trust.status === 'changed' ? (
        <p class="warning" role="alert">
          {name}'s identity key is not the one this device saw before. Messages to this chat are
          blocked until you compare safety numbers again, in person or on a call.
        </p>
      ) : (
        <p class={trust.status === 'verified' ? 'ok small' : 'muted small'}>
          {trust.status === 'verified' ? '✓ Verified' : 'Not verified'}
        </p>
      )}
      <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? 'Hide safety number' : 'Compare safety number'}
      </button>
      {open && (
        <div class="safety-detail">
          <p class="small">
            Compare these numbers with {name}'s screen. If they match, nobody is in the middle.
          </p>
          <p class="visually-hidden">Safety number with {name}:</p>
          <div class="digits">
            {groups.map((g, i) => (
              <span key={i}>{g}</span>
            ))}
          </div>
          {trust.status === 'verified' ? (
            <button type="button" disabled={unverify.busy} onClick={() => void unverify.run()}>
              Clear verification
            </button>
          ) : (
            <button
              type="button"
              class="primary"
              disabled={verify.busy}
              onClick={() => void verify.run()}
            >
              {trust.status === 'changed' ? 'Numbers match: trust the new key' : 'Mark as verified'}
            </button>
          )}
          <ErrorBox error={verify.error ?? unverify.error} />
        </div>
      )}
    </div>
  );
}
