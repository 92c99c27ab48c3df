import { describe, expect, it } from 'vitest';
import type { VutlerApiError } from '../../src/client/index.ts';
import { useTestServer } from '../helpers/app.ts';
import { newClient, person } from '../helpers/people.ts';

type Profiles = { users: { id: string; email: string; displayName: string | null }[] };

describe('the user directory (/api/users/lookup, /api/users/profiles)', () => {
  const t = useTestServer();

  const lookup = (c: ReturnType<typeof newClient>, email: string) =>
    c.http.request<Profiles>('/api/users/lookup', { body: { email } });

  it('finds an E2E-ready person by exact email, case-insensitively', async () => {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    expect(await lookup(alice.client, bob.email.toUpperCase())).toEqual({
      users: [{ id: bob.id, email: bob.email, displayName: 'bob' }],
    });
  });

  it('answers the same empty shape for unknown people and those without encryption', async () => {
    const alice = await person(t.server.url, 'alice');
    const halfway = newClient(t.server.url);
    const halfwayEmail = `halfway-${Date.now()}@example.com`;
    await halfway.register({ email: halfwayEmail, passphrase: 'no keys yet, not chat-ready' });
    const unknown = await lookup(alice.client, `nobody-${Date.now()}@example.com`);
    const notReady = await lookup(alice.client, halfwayEmail);
    expect(unknown).toEqual({ users: [] });
    expect(notReady).toEqual(unknown);
    // No prefix or pattern search: a partial address is not an email at all.
    await expect(lookup(alice.client, 'alice')).rejects.toMatchObject({ status: 422 });
    await expect(lookup(alice.client, '%@example.com')).rejects.toMatchObject({ status: 422 });
  });

  it('needs a session', async () => {
    const res = await fetch(`${t.server.url}/api/users/lookup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'a@example.com' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('limits each person to 20 lookups a minute, so a list of addresses cannot be walked', async () => {
    const alice = await person(t.server.url, 'alice');
    const answers = await Promise.allSettled(
      Array.from({ length: 21 }, (_, i) => lookup(alice.client, `probe-${i}@example.com`)),
    );
    const limited = answers.filter(
      (a) => a.status === 'rejected' && (a.reason as VutlerApiError).status === 429,
    );
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(20);
    expect(limited).toHaveLength(1);
    // Another person's budget is their own.
    const bob = await person(t.server.url, 'bob');
    await expect(lookup(bob.client, 'probe@example.com')).resolves.toEqual({ users: [] });
  });

  it('names only people who share a chat with the caller', async () => {
    const [alice, bob, stranger] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
      person(t.server.url, 'stranger'),
    ]);
    const ids = [alice.id, bob.id, stranger.id];
    const before = await alice.client.http.request<Profiles>('/api/users/profiles', {
      body: { ids },
    });
    expect(before.users.map((u) => u.id)).toEqual([alice.id]);
    await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const after = await alice.client.http.request<Profiles>('/api/users/profiles', {
      body: { ids },
    });
    expect(after.users.map((u) => u.id).sort()).toEqual([alice.id, bob.id].sort());
    await expect(
      alice.client.http.request('/api/users/profiles', { body: { ids: ['not-a-uuid'] } }),
    ).rejects.toMatchObject({ status: 422 });
  });
});
