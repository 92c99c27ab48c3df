import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.ts';
import { person } from '../helpers/people.ts';
import { helloSocket, type RawSocket, rawSocket } from '../helpers/ws.ts';
import { jsonish, nastyString, storedState } from './fuzz.ts';

/** Close codes a client may earn; 1011 (internal error) or a dropped connection is a bug. */
const CLIENT_CLOSES = new Set([4400, 4401, 1009]);
const RUNS = Number(process.env.FUZZ_WS_RUNS ?? 1500);

describe('WebSocket fuzzing of every frame type', () => {
  const ctx = useTestServer();
  let alice: Awaited<ReturnType<typeof person>>;
  let chatId: string;
  let token: string;

  beforeAll(async () => {
    alice = await person(ctx.server.url, 'alice');
    chatId = (await alice.client.chats.create({ kind: 'group', memberIds: [] })).id;
    token = alice.client.session?.token as string;
  });

  const frame = fc.oneof(
    fc.record({
      type: fc.constant('hello'),
      token: fc.option(fc.oneof(nastyString, fc.constant('vt_s_x')), { nil: undefined }),
      cursors: fc.option(
        fc.dictionary(nastyString, fc.oneof(fc.integer(), fc.double(), nastyString)),
        {
          nil: undefined,
        },
      ),
    }),
    fc.record({
      type: fc.constant('typing'),
      chatId: fc.oneof(fc.constant('CHAT'), nastyString),
    }),
    fc
      .record({ type: fc.constant('ping') }, { requiredKeys: [] })
      .map((v) => ({ ...v, type: 'ping', x: 1 })),
    fc.record({ type: fc.constant('ping') }),
    fc.record({ type: nastyString }),
    jsonish,
  );
  const wire = fc.oneof(
    { weight: 6, arbitrary: frame.map((f) => JSON.stringify(f).replace('"CHAT"', '"CHATID"')) },
    { weight: 1, arbitrary: nastyString },
  );

  /** Waits for the server to answer a ping after `data`, or for the socket to close. */
  async function exchange(s: RawSocket, data: string): Promise<number | undefined> {
    const pongs = s.frames.filter((f) => f.type === 'pong').length;
    s.ws.send(data.replace('"CHATID"', JSON.stringify(chatId)));
    s.ws.send(JSON.stringify({ type: 'ping' }));
    const closed = s.closed.then((c) => c.code);
    const answered = s
      .frame(
        () => s.frames.filter((f) => f.type === 'pong').length > pongs,
        'pong after fuzz frame',
      )
      .then(() => undefined);
    return Promise.race([closed, answered]);
  }

  it('answers every frame after hello with a frame or a client close code, never a crash', async () => {
    const before = await storedState(ctx.db.pool);
    let s = await helloSocket(ctx.server.wsUrl, token);
    let closes = 0;
    await fc.assert(
      fc.asyncProperty(wire, async (data) => {
        const code = await exchange(s, data);
        if (code !== undefined) {
          expect(CLIENT_CLOSES.has(code), `close ${code} after ${data}`).toBe(true);
          closes++;
          s = await helloSocket(ctx.server.wsUrl, token);
        }
      }),
      { numRuns: RUNS },
    );
    s.ws.close();
    console.log(`WS fuzz (after hello): ${RUNS} frames, ${closes} client closes`);
    expect(await storedState(ctx.db.pool)).toBe(before);
    expect((await fetch(`${ctx.server.url}/health`)).status).toBe(200);
  });

  it('closes a socket whose first frame is anything but a valid hello with 4400/4401', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(wire, async (data) => {
        const s = rawSocket(ctx.server.wsUrl);
        await s.open;
        s.ws.send(data.replace('"CHATID"', JSON.stringify(chatId)));
        const code = await Promise.race([
          s.closed.then((c) => c.code),
          s.frame((f) => f.type === 'ready', 'ready').then(() => 0),
        ]);
        n++;
        // A fuzzed hello cannot carry a valid token, so `ready` would be a bypass.
        expect(code === 0 ? 'ready' : CLIENT_CLOSES.has(code)).toBe(true);
        s.ws.terminate();
      }),
      { numRuns: Math.round(RUNS / 3) },
    );
    console.log(`WS fuzz (first frame): ${n} sockets`);
  });
});
