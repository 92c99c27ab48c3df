import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionRepository } from '../../src/auth/session.repository.ts';
import { SessionService, type SessionsRevoked } from '../../src/auth/session.service.ts';
import { silentLogger } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe(SessionService.name, () => {
  let db: TestDatabase;
  let sessions: SessionService;
  const announced: SessionsRevoked[] = [];
  const meta = { ip: '127.0.0.1', userAgent: 'vitest' };

  beforeAll(async () => {
    db = await createTestDatabase();
    sessions = new SessionService(new SessionRepository(db.pool), {
      serverKey: new Uint8Array(randomBytes(32)),
      logger: silentLogger,
      onRevoked: async (r) => {
        announced.push(r);
      },
    });
  });
  afterAll(async () => db?.drop());

  async function user(): Promise<string> {
    const { rows } = await db.pool.query<{ id: string }>(
      'INSERT INTO users (email) VALUES ($1) RETURNING id',
      [`s${randomBytes(5).toString('hex')}@example.com`],
    );
    return rows[0]!.id;
  }

  it('tells which of many sessions are live in one call: not revoked, not expired, existing', async () => {
    const u = await user();
    const live = await sessions.issue(u, 'login', meta);
    const revoked = await sessions.issue(u, 'login', meta);
    const expired = await sessions.issue(u, 'recovery', meta);
    await sessions.revoke(revoked.sessionId);
    await db.pool.query(
      "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
      [expired.sessionId],
    );
    const ids = [live.sessionId, revoked.sessionId, expired.sessionId, randomUUID()];
    expect(await sessions.liveSessionIds(ids)).toEqual(new Set([live.sessionId]));
    expect(await sessions.liveSessionIds([])).toEqual(new Set());
  });

  it('authenticates a live token and refuses it once revoked', async () => {
    const u = await user();
    const s = await sessions.issue(u, 'login', meta);
    expect((await sessions.authenticate(s.token)).user_id).toBe(u);
    await sessions.revoke(s.sessionId);
    await expect(sessions.authenticate(s.token)).rejects.toMatchObject({ status: 401 });
    // Every node's hub hears of it, after the revocation committed.
    expect(announced).toContainEqual({ sessionIds: [s.sessionId] });
  });

  it('binds the CSRF token to the session', async () => {
    const u = await user();
    const a = await sessions.issue(u, 'login', meta);
    const b = await sessions.issue(u, 'login', meta);
    expect(a.csrfToken).toBe(sessions.csrfTokenFor(a.sessionId));
    expect(a.csrfToken).not.toBe(b.csrfToken);
  });
});
