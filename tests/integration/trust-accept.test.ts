import { describe, expect, it } from 'vitest';
import type { ClientOptions } from '../../src/client/index.ts';
import { createIdentity, identityPublicToJson, safetyNumber } from '../../src/crypto/identity.ts';
import { useTestServer } from '../helpers/app.ts';
import { person } from '../helpers/people.ts';

/** The web app's Members panel: a changed key seen without a reload, and accepted only after comparing. */
describe('TrustClient: status, acceptNewKey, clearVerified', () => {
  const t = useTestServer();

  it('sees a changed key on the open client and replaces the pin only for the compared number', async () => {
    let forge = false;
    const mk = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ]);
    const bob = await person(t.server.url, 'bob');
    const fake = await createIdentity(mk, bob.id);
    const fetchImpl: ClientOptions['fetch'] = async (input, init) =>
      forge && new URL(input).pathname === `/api/users/${bob.id}/keys`
        ? new Response(JSON.stringify({ identity: identityPublicToJson(fake.publicIdentity) }), {
            headers: { 'content-type': 'application/json' },
          })
        : fetch(input, init);
    const alice = await person(t.server.url, 'alice', { fetch: fetchImpl });
    const trust = alice.client.trust;

    const first = await trust.status(bob.id);
    expect(first.status).toBe('unverified');
    expect(first.safetyNumber).toBe(await bob.client.trust.safetyNumber(alice.id));
    await trust.markVerified(bob.id, first.safetyNumber);
    expect((await trust.status(bob.id)).status).toBe('verified');
    await trust.clearVerified(bob.id);
    expect((await trust.status(bob.id)).status).toBe('unverified');

    // The server swaps Bob's key while Alice's page stays open: seen on the next status call.
    forge = true;
    const changed = await trust.status(bob.id);
    expect(changed.status).toBe('changed');
    expect(changed.pinned).toBe(first.digest);
    expect(changed.safetyNumber).toBe(
      await safetyNumber(alice.client.identityPublic!, fake.publicIdentity),
    );
    await expect(trust.identityOf(bob.id)).rejects.toMatchObject({ code: 'identity-changed' });
    // The old number (what the real Bob shows) does not accept the new key.
    await expect(trust.acceptNewKey(bob.id, first.safetyNumber)).rejects.toMatchObject({
      code: 'safety-number-mismatch',
    });
    expect((await trust.pins()).find((p) => p.userId === bob.id)?.fingerprint).toBe(first.digest);

    const pin = await trust.acceptNewKey(bob.id, changed.safetyNumber);
    expect(pin).toMatchObject({ fingerprint: changed.digest, verified: true });
    expect((await trust.status(bob.id)).status).toBe('verified');
    const now = await trust.identityOf(bob.id);
    expect(now.identity.x25519PublicKey).toEqual(fake.publicIdentity.x25519PublicKey);
  });
});
