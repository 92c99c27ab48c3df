import { describe, expect, it } from 'vitest';
import { useTwoNodes } from '../helpers/app.ts';
import { newClient, person } from '../helpers/people.ts';
import { closedWithin, helloSocket } from '../helpers/ws.ts';

/** Far longer than any test: a close seen here came from the revocation, not a heartbeat check. */
const NO_HEARTBEAT = { VUTLER_WS_HEARTBEAT_MS: String(10 * 60_000) };

describe('ChatHub: sessions that end close their sockets on every node', () => {
  // Two nodes on the same PostgreSQL and the same Redis channel.
  const nodes = useTwoNodes(NO_HEARTBEAT);

  it('closes the sockets of a session that logs out, on both nodes, at once (4401)', async () => {
    const bob = await person(nodes.a.url, 'bob');
    const token = bob.client.session!.token;
    const onA = await helloSocket(nodes.a.wsUrl, token);
    const onB = await helloSocket(nodes.b.wsUrl, token);
    // Another device of Bob's, with its own session, is not affected.
    const laptop = newClient(nodes.a.url);
    await laptop.login({ email: bob.email, passphrase: bob.passphrase });
    const keeps = await helloSocket(nodes.b.wsUrl, laptop.session!.token);

    await bob.client.logout();
    expect(await closedWithin(onA, 5_000, 'socket on the node that logged out')).toMatchObject({
      code: 4401,
    });
    expect(await closedWithin(onB, 5_000, 'socket on the other node')).toMatchObject({
      code: 4401,
    });
    keeps.ws.send(JSON.stringify({ type: 'ping' }));
    await keeps.frame((f) => f.type === 'pong', 'pong from the other session');
    keeps.ws.close();
  });

  it('closes every old session’s sockets on both nodes when the passphrase changes', async () => {
    const alice = await person(nodes.a.url, 'alice');
    const phone = newClient(nodes.b.url);
    await phone.login({ email: alice.email, passphrase: alice.passphrase });
    const onA = await helloSocket(nodes.a.wsUrl, alice.client.session!.token);
    const phoneOnB = await helloSocket(nodes.b.wsUrl, phone.session!.token);

    await alice.client.changePassphrase({ current: alice.passphrase, next: 'a new passphrase 42' });
    expect((await closedWithin(onA, 5_000, 'the changing device’s old socket')).code).toBe(4401);
    expect((await closedWithin(phoneOnB, 5_000, 'the other device’s socket')).code).toBe(4401);
    // The fresh session the change returned works.
    const fresh = await helloSocket(nodes.b.wsUrl, alice.client.session!.token);
    fresh.ws.close();
  });

  it('closes a socket when its session expires, not at the next heartbeat', async () => {
    const carol = await person(nodes.a.url, 'carol');
    await nodes.db.pool.query(
      `UPDATE sessions SET expires_at = now() + interval '1500 milliseconds' WHERE id = $1`,
      [carol.client.session!.sessionId],
    );
    const s = await helloSocket(nodes.a.wsUrl, carol.client.session!.token);
    expect(await closedWithin(s, 10_000, 'an expiring session')).toMatchObject({
      code: 4401,
      reason: expect.stringMatching(/expired/),
    });
  });
});
