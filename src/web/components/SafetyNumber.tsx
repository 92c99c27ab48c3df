/**
 * Everything about comparing identities lives here: the safety number of me and a contact
 * (`safetyNumber` over both identity keys), marking it verified, and the warning when a
 * contact's identity key differs from the one this device saw first. The SDK's pinned-identity
 * store can replace lib/verify.ts without touching the views.
 */
import { useEffect, useState } from 'preact/hooks';
import { fingerprint, safetyNumber } from '../../crypto/identity.ts';
import { client } from '../lib/session.ts';
import { useStore } from '../lib/store.ts';
import {
  clearVerified,
  markVerified,
  type TrustStatus,
  trustStatus,
  trustVersion,
} from '../lib/verify.ts';
import { ErrorBox } from './common.tsx';

interface Trust {
  status: TrustStatus;
  fingerprint: string;
  number: string;
}

async function trustOf(userId: string): Promise<Trust> {
  const mine = client.identityPublic;
  if (!mine) throw new Error('Your keys are locked.');
  const theirs = (await client.publicIdentity(userId)).identity;
  const fp = await fingerprint(theirs);
  return {
    status: trustStatus(userId, fp),
    fingerprint: fp,
    number: await safetyNumber(mine, theirs),
  };
}

/** Members whose identity key changed since first seen: sending to them is blocked. */
export function useChangedIdentities(userIds: string[]): string[] {
  const [changed, setChanged] = useState<string[]>([]);
  const version = useStore(trustVersion);
  const key = `${userIds.join(',')}#${version}`;
  useEffect(() => {
    let live = true;
    Promise.all(
      userIds.map(async (id) => ((await trustOf(id)).status === 'changed' ? id : undefined)),
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
  const [trust, setTrust] = useState<Trust | undefined>();
  const [error, setError] = useState<unknown>();
  const [open, setOpen] = useState(false);
  const version = useStore(trustVersion);
  useEffect(() => {
    trustOf(userId).then(setTrust, setError);
  }, [userId, version]);
  if (error) return <ErrorBox error={error} />;
  if (!trust) return <p class="muted small">Checking identity…</p>;
  const groups = trust.number.split(' ');
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
            <button
              type="button"
              onClick={() => {
                clearVerified(userId);
              }}
            >
              Clear verification
            </button>
          ) : (
            <button
              type="button"
              class="primary"
              onClick={() => {
                markVerified(userId, trust.fingerprint);
              }}
            >
              {trust.status === 'changed' ? 'Numbers match: trust the new key' : 'Mark as verified'}
            </button>
          )}
        </div>
      )}
    </div>
  );
}
