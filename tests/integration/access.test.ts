import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AccessService, NoAccessError } from '../../src/access/index.ts';
import { useTestServer } from '../helpers/app.ts';
import { person } from '../helpers/people.ts';

describe(AccessService.name, () => {
  const t = useTestServer();

  it('answers the subset of chats a person is a current member of, in the order asked', async () => {
    const [alice, bob, carol] = await Promise.all(
      ['alice', 'bob', 'carol'].map((n) => person(t.server.url, n)),
    );
    const mine = await alice!.client.chats.create({ kind: 'direct', memberIds: [bob!.id] });
    const group = await alice!.client.chats.create({
      kind: 'group',
      memberIds: [bob!.id, carol!.id],
    });
    const theirs = await bob!.client.chats.create({ kind: 'direct', memberIds: [carol!.id] });
    const access = t.server.vutler.services.access;
    const unknown = randomUUID();
    expect(
      await access.allowedChats(alice!.id, [
        theirs.id,
        group.id,
        unknown,
        'not-a-uuid',
        "'; DROP TABLE chats; --",
        mine.id.toUpperCase(),
        group.id,
      ]),
    ).toEqual([group.id, mine.id]);

    await alice!.client.chats.removeMember(group.id, carol!.id);
    expect(await access.allowedChats(carol!.id, [group.id, theirs.id])).toEqual([theirs.id]);
    expect(await access.allowedChats(carol!.id, [])).toEqual([]);
    expect(await access.allowedChats('nobody', [theirs.id])).toEqual([]);
  });

  it('refuses a chat that does not exist and one that is not yours with the same error', async () => {
    const [alice, bob, eve] = await Promise.all(
      ['alice', 'bob', 'eve'].map((n) => person(t.server.url, n)),
    );
    const chat = await alice!.client.chats.create({ kind: 'direct', memberIds: [bob!.id] });
    const access = t.server.vutler.services.access;
    await expect(access.requireChatMember(bob!.id, chat.id)).resolves.toBeUndefined();
    const notYours = await access.requireChatMember(eve!.id, chat.id).catch((e: unknown) => e);
    const absent = await access.requireChatMember(eve!.id, randomUUID()).catch((e: unknown) => e);
    expect(notYours).toBeInstanceOf(NoAccessError);
    expect(absent).toBeInstanceOf(NoAccessError);
    expect({ ...(notYours as NoAccessError), message: (notYours as Error).message }).toEqual({
      ...(absent as NoAccessError),
      message: (absent as Error).message,
    });
    // The HTTP answer for someone else's chat is the not-found one.
    const res = await fetch(`${t.server.url}/api/chats/${chat.id}/messages`, {
      headers: { authorization: `Bearer ${eve!.client.session!.token}` },
    });
    expect(res.status).toBe(404);
  });
});
