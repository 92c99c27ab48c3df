import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatEvents, type MessageView } from '../../src/chat/events.ts';
import { ChatHub, CLOSE, type Socket } from '../../src/chat/hub.ts';
import { silentLogger, useTestServer } from '../helpers/app.ts';
import { person } from '../helpers/people.ts';
import { until } from '../helpers/wait.ts';

/** The hub's transport, recording what it is given; `bufferedAmount` is set by the test. */
class RecordingSocket implements Socket {
  readonly frames: Record<string, unknown>[] = [];
  closedWith: { code: number; reason: string } | undefined;
  bufferedAmount = 0;
  send(data: string): void {
    this.frames.push(JSON.parse(data));
  }
  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }
  terminate(): void {}
  ping(): void {}
  seqs(chatId: string): number[] {
    return this.frames
      .filter((f) => f.type === 'message.created' && f.chatId === chatId)
      .map((f) => (f.message as MessageView).seq);
  }
}

const MAX_BUFFERED = 64 * 1024;

describe(ChatHub.name, () => {
  const t = useTestServer();
  // A hub of its own on its own channel: the server's publishes never reach it, so each test
  // decides which events it sees and in which order; everything else it must read from PostgreSQL.
  let hub: ChatHub;
  let events: ChatEvents;
  beforeAll(async () => {
    const { services } = t.server.vutler;
    events = new ChatEvents(t.redis, `hubtest${randomBytes(4).toString('hex')}`, silentLogger);
    hub = new ChatHub(services.chats, events, services.sessions, silentLogger, {
      maxBufferedBytes: MAX_BUFFERED,
      heartbeatMs: 10 * 60_000,
      maxSocketsPerUser: 10,
    });
    await hub.start();
  });
  afterAll(async () => {
    await hub?.stop();
  });

  async function chatWith(n: number) {
    const [alice, bob] = await Promise.all([
      person(t.server.url, 'alice'),
      person(t.server.url, 'bob'),
    ]);
    const chat = await alice.client.chats.create({ kind: 'direct', memberIds: [bob.id] });
    const sent: MessageView[] = [];
    for (let i = 1; i <= n; i++) sent.push(await alice.client.chats.send(chat.id, `m${i}`));
    const who = { userId: bob.id, sessionId: bob.client.session!.sessionId };
    return { alice, bob, chat, sent, who };
  }

  const view = (m: MessageView) => ({
    type: 'message.created' as const,
    chatId: m.chatId,
    message: m,
  });

  it('replays from a cursor in seq order and then stays live', async () => {
    const { alice, chat, sent, who } = await chatWith(5);
    const socket = new RecordingSocket();
    await hub.attach(who, socket, new Map([[chat.id, 2]]));
    await until(() => socket.seqs(chat.id).length === 3, 'the replay');
    const m6 = await alice.client.chats.send(chat.id, 'm6');
    await events.publish(view(m6));
    await until(() => socket.seqs(chat.id).includes(m6.seq), 'the live message');
    expect(socket.frames[0]).toMatchObject({ type: 'ready', chats: [chat.id] });
    expect(socket.seqs(chat.id)).toEqual([...sent.slice(2).map((m) => m.seq), m6.seq]);
  });

  it('fills a gap from PostgreSQL when events arrive out of order, and drops duplicates', async () => {
    const { alice, chat, sent, who } = await chatWith(2);
    const socket = new RecordingSocket();
    await hub.attach(who, socket);
    const later: MessageView[] = [];
    for (const t of ['m3', 'm4', 'm5']) later.push(await alice.client.chats.send(chat.id, t));
    // The newest first: the hub must not send m5 before m3 and m4.
    for (const m of [later[2]!, later[0]!, later[1]!, later[2]!, sent[1]!])
      await events.publish(view(m));
    await until(() => socket.seqs(chat.id).length >= 3, 'three deliveries');
    // A barrier: a later event, then nothing else may have slipped in before it.
    const m6 = await alice.client.chats.send(chat.id, 'm6');
    await events.publish(view(m6));
    await until(() => socket.seqs(chat.id).includes(m6.seq), 'the barrier');
    expect(socket.seqs(chat.id)).toEqual([...later, m6].map((m) => m.seq));
  });

  it('catches every connected socket up from PostgreSQL when its subscription returns', async () => {
    const { alice, chat, who } = await chatWith(1);
    const [one, two] = [new RecordingSocket(), new RecordingSocket()];
    await hub.attach(who, one);
    await hub.attach(who, two);
    // Published where this hub was not listening, as during an outage.
    const missed: MessageView[] = [];
    for (const t of ['x1', 'x2']) missed.push(await alice.client.chats.send(chat.id, t));
    hub.onResubscribed();
    hub.onResubscribed();
    const want = missed.map((m) => m.seq);
    await until(() => one.seqs(chat.id).length >= 2 && two.seqs(chat.id).length >= 2, 'catch-up');
    await events.publish(view(missed[1]!));
    const x3 = await alice.client.chats.send(chat.id, 'x3');
    await events.publish(view(x3));
    await until(
      () => one.seqs(chat.id).includes(x3.seq) && two.seqs(chat.id).includes(x3.seq),
      'x3',
    );
    expect(one.seqs(chat.id)).toEqual([...want, x3.seq]);
    expect(two.seqs(chat.id)).toEqual([...want, x3.seq]);
  });

  it('cuts off a slow consumer with 4008 and sends it nothing more', async () => {
    const { alice, chat, who } = await chatWith(0);
    const slow = new RecordingSocket();
    const fine = new RecordingSocket();
    await hub.attach(who, slow);
    await hub.attach(who, fine);
    const before = hub.size;
    slow.bufferedAmount = MAX_BUFFERED + 1;
    const m1 = await alice.client.chats.send(chat.id, 'm1');
    await events.publish(view(m1));
    await until(() => fine.seqs(chat.id).includes(m1.seq), 'delivery to the reading socket');
    expect(slow.closedWith?.code).toBe(CLOSE.slowConsumer);
    expect(hub.size).toBe(before - 1);
    slow.bufferedAmount = 0;
    const m2 = await alice.client.chats.send(chat.id, 'm2');
    await events.publish(view(m2));
    await until(() => fine.seqs(chat.id).includes(m2.seq), 'the next delivery');
    expect(slow.seqs(chat.id)).toEqual([]);
  });

  it('closes only the revoked session’s sockets', async () => {
    const { who, bob } = await chatWith(0);
    const revoked = new RecordingSocket();
    const other = new RecordingSocket();
    await hub.attach(who, revoked);
    await hub.attach({ userId: bob.id, sessionId: crypto.randomUUID() }, other);
    hub.onSessionsRevoked({ sessionIds: [who.sessionId] });
    expect(revoked.closedWith?.code).toBe(CLOSE.unauthorized);
    expect(other.closedWith).toBeUndefined();
  });
});
