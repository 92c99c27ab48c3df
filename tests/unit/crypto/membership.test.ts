import { beforeAll, describe, expect, it } from 'vitest';
import {
  epochHolders,
  fingerprintDigest,
  generateChatKey,
  hexEncode,
  LOG_GENESIS_PREV,
  MEMBERSHIP_RULES,
  type MembershipEntry,
  type MembershipRule,
  mayWrap,
  membershipEntryFromJson,
  membershipEntryHash,
  membershipEntryToJson,
  membershipStateToJson,
  signLogAnchor,
  signMembershipEntry,
  type UnsignedMembershipEntry,
  verifyLogAnchor,
  verifyMembershipLog,
  verifyMembershipLogAnchored,
} from '../../../src/crypto/index.ts';
import { expectCryptoError, flipBit, makeUser, type TestUser } from './helpers.ts';

const CHAT = '018f3c1a-7b2c-7d3e-8f40-123456789abc';

type Step = Omit<
  UnsignedMembershipEntry,
  'chatId' | 'position' | 'prevHash' | 'subjectFingerprint'
> & {
  by: TestUser;
  subject: TestUser;
};

describe('membership log', () => {
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let dave: TestUser;
  const users = new Map<string, TestUser>();
  beforeAll(async () => {
    [alice, bob, carol, dave] = (await Promise.all(
      ['alice', 'bob', 'carol', 'dave'].map(makeUser),
    )) as [TestUser, TestUser, TestUser, TestUser];
    for (const u of [alice, bob, carol, dave]) users.set(u.id, u);
  });

  const fp = async (u: TestUser) => fingerprintDigest(u.publicIdentity);
  const keyOf = async (userId: string, fpHex: string) => {
    const u = users.get(userId)!;
    expect(hexEncode(await fp(u))).toBe(fpHex);
    return u.keys.ed25519.publicKey;
  };

  async function build(steps: Step[], start = 0, prev: Uint8Array = LOG_GENESIS_PREV) {
    const out: MembershipEntry[] = [];
    for (const [i, s] of steps.entries()) {
      const { by, subject, ...rest } = s;
      const e = await signMembershipEntry(
        {
          ...rest,
          chatId: CHAT,
          position: start + i,
          prevHash: prev,
          subjectFingerprint: await fp(subject),
        },
        by.keys.ed25519.privateKey,
      );
      prev = await membershipEntryHash(e);
      out.push(e);
    }
    return out;
  }

  async function story() {
    const k0 = await generateChatKey(CHAT, 0);
    const k1 = await generateChatKey(CHAT, 1);
    const steps: Step[] = [
      {
        by: alice,
        subject: alice,
        actorId: alice.id,
        subjectId: alice.id,
        epoch: 0,
        action: 'create',
        role: 'owner',
        keyCommitment: k0.commitment,
      },
      {
        by: alice,
        subject: bob,
        actorId: alice.id,
        subjectId: bob.id,
        epoch: 0,
        action: 'add',
        role: 'member',
        keyCommitment: null,
      },
      {
        by: bob,
        subject: carol,
        actorId: bob.id,
        subjectId: carol.id,
        epoch: 0,
        action: 'add',
        role: 'member',
        keyCommitment: null,
      },
      {
        by: alice,
        subject: carol,
        actorId: alice.id,
        subjectId: carol.id,
        epoch: 0,
        action: 'remove',
        role: '',
        keyCommitment: null,
      },
      {
        by: bob,
        subject: bob,
        actorId: bob.id,
        subjectId: bob.id,
        epoch: 1,
        action: 'rotate',
        role: '',
        keyCommitment: k1.commitment,
      },
      {
        by: bob,
        subject: dave,
        actorId: bob.id,
        subjectId: dave.id,
        epoch: 1,
        action: 'add',
        role: 'member',
        keyCommitment: null,
      },
    ];
    return { k0, k1, steps, entries: await build(steps) };
  }

  it('verifies a log and derives members, roles and keys per epoch', async () => {
    const { k0, k1, entries } = await story();
    const s = await verifyMembershipLog(entries, { chatId: CHAT, keyOf });
    expect(s.length).toBe(6);
    expect(s.epoch).toBe(1);
    expect([...s.members.keys()].sort()).toEqual(['alice', 'bob', 'dave']);
    expect(s.members.get('alice')?.role).toBe('owner');
    expect(epochHolders(s, 0).sort()).toEqual(['alice', 'bob', 'carol']);
    expect(epochHolders(s, 1).sort()).toEqual(['alice', 'bob', 'dave']);
    expect(s.epochs.get(0)!.commitment).toEqual(k0.commitment);
    expect(s.epochs.get(1)!.commitment).toEqual(k1.commitment);
    expect(mayWrap(s, 1, 'bob', 'dave')).toBe(true);
    expect(mayWrap(s, 1, 'carol', 'bob')).toBe(false); // removed before epoch 1
    expect(mayWrap(s, 0, 'carol', 'bob')).toBe(true);
    expect(mayWrap(s, 1, 'mallory', 'bob')).toBe(false);
    expect(mayWrap(s, 2, 'bob', 'alice')).toBe(false);
    // Verifying in two parts gives the same state.
    const first = await verifyMembershipLog(entries.slice(0, 3), { chatId: CHAT, keyOf });
    const rest = await verifyMembershipLog(entries.slice(3), { chatId: CHAT, keyOf, from: first });
    expect(rest.head).toEqual(s.head);
    expect(first.length).toBe(3); // the state extended is not mutated
  });

  it('keeps a verified state through its JSON form (the key store) and extends it the same', async () => {
    const { entries } = await story();
    const { membershipStateFromJson, membershipStateToJson } = await import(
      '../../../src/crypto/index.ts'
    );
    const part = await verifyMembershipLog(entries.slice(0, 4), { chatId: CHAT, keyOf });
    const restored = membershipStateFromJson(
      JSON.parse(JSON.stringify(membershipStateToJson(part))),
    );
    const a = await verifyMembershipLog(entries.slice(4), { chatId: CHAT, keyOf, from: restored });
    const b = await verifyMembershipLog(entries, { chatId: CHAT, keyOf });
    expect(membershipStateToJson(a)).toEqual(membershipStateToJson(b));
  });

  it('round-trips the wire form', async () => {
    const { entries } = await story();
    const back = entries.map((e) =>
      membershipEntryFromJson(CHAT, JSON.parse(JSON.stringify(membershipEntryToJson(e)))),
    );
    expect(back).toEqual(entries);
  });

  it('rejects a forged, reordered, truncated-in-the-middle or re-chained log', async () => {
    const { entries } = await story();
    const v = (es: MembershipEntry[]) => verifyMembershipLog(es, { chatId: CHAT, keyOf });
    await expectCryptoError(
      v(entries.map((e, i) => (i === 2 ? { ...e, signature: flipBit(e.signature, 9) } : e))),
      ['bad_signature', 'bad_log'],
    );
    // The last entry has no successor whose prevHash would notice: its signature does.
    await expectCryptoError(
      v(entries.map((e, i) => (i === 5 ? { ...e, signature: flipBit(e.signature, 9) } : e))),
      'bad_signature',
    );
    await expectCryptoError(v([entries[0]!, entries[2]!, entries[1]!]), 'bad_log');
    await expectCryptoError(v([entries[0]!, entries[2]!]), 'bad_log');
    await expectCryptoError(v(entries.slice(1)), 'bad_log');
    await expectCryptoError(v([]), 'bad_log');
    await expectCryptoError(
      v(entries.map((e, i) => (i === 3 ? { ...e, prevHash: new Uint8Array(32) } : e))),
      'bad_log',
    );
    // A field changed under a valid-looking chain: the signature no longer holds.
    await expectCryptoError(v(entries.map((e, i) => (i === 1 ? { ...e, role: 'admin' } : e))), [
      'bad_signature',
      'bad_log',
    ]);
    await expectCryptoError(verifyMembershipLog(entries, { chatId: 'another', keyOf }), 'bad_log');
  });

  it.each([
    [
      'a non-member adds',
      (s: Step[]) => [
        s[0]!,
        { ...s[1]!, by: carol, actorId: carol.id, subject: dave, subjectId: dave.id },
      ],
    ],
    [
      'a plain member removes',
      (s: Step[]) => [s[0]!, s[1]!, s[2]!, { ...s[3]!, by: bob, actorId: bob.id }],
    ],
    [
      'the owner is removed by a member',
      (s: Step[]) => [
        s[0]!,
        s[1]!,
        { ...s[3]!, by: bob, actorId: bob.id, subject: alice, subjectId: alice.id },
      ],
    ],
    [
      'a rotate skips an epoch',
      (s: Step[]) => [
        s[0]!,
        { ...s[4]!, by: alice, actorId: alice.id, subject: alice, subjectId: alice.id, epoch: 2 },
      ],
    ],
    [
      'a rotate commits to nothing',
      (s: Step[]) => [
        s[0]!,
        {
          ...s[4]!,
          by: alice,
          actorId: alice.id,
          subject: alice,
          subjectId: alice.id,
          keyCommitment: null,
        },
      ],
    ],
    [
      'an add is made before rotating after a removal',
      (s: Step[]) => [
        s[0]!,
        s[1]!,
        s[2]!,
        s[3]!,
        { ...s[5]!, by: alice, actorId: alice.id, epoch: 0 },
      ],
    ],
    ['a second create', (s: Step[]) => [s[0]!, { ...s[0]! }]],
    ['an unknown action', (s: Step[]) => [s[0]!, { ...s[1]!, action: 'promote' }]],
    ['an add that changes the epoch', (s: Step[]) => [s[0]!, { ...s[1]!, epoch: 1 }]],
  ])('refuses a log where %s', async (_name, mutate) => {
    const { steps } = await story();
    const entries = await build(mutate(steps));
    await expectCryptoError(verifyMembershipLog(entries, { chatId: CHAT, keyOf }), 'bad_log');
  });

  it('refuses an entry naming another key for someone the log already knows', async () => {
    const { steps } = await story();
    const entries = await build(steps.slice(0, 4));
    // Carol re-added, but the entry names Dave's key under Carol's id.
    const [bad] = await build(
      [{ ...steps[1]!, subject: dave, subjectId: carol.id, epoch: 0 }],
      4,
      (await verifyMembershipLog(entries, { chatId: CHAT, keyOf })).head,
    );
    await expectCryptoError(
      verifyMembershipLog([...entries, bad!], {
        chatId: CHAT,
        keyOf: async (u) => users.get(u)!.keys.ed25519.publicKey,
      }),
      'bad_log',
    );
  });

  it('lets a caller add an action with its own rule (extensible)', async () => {
    const { steps } = await story();
    const grant: MembershipRule = (s, e) => {
      if (!s.members.has(e.actorId)) throw new Error('not a member');
    };
    const entries = await build([
      steps[0]!,
      { ...steps[1]!, action: 'agent-grant', subject: alice, subjectId: alice.id },
    ]);
    await expectCryptoError(verifyMembershipLog(entries, { chatId: CHAT, keyOf }), 'bad_log');
    const s = await verifyMembershipLog(entries, {
      chatId: CHAT,
      keyOf,
      rules: { ...MEMBERSHIP_RULES, 'agent-grant': grant },
    });
    expect(s.length).toBe(2);
  });
  describe('anchored cold verification', () => {
    /** keyOf that records whose keys were asked for. */
    function countingKeyOf() {
      const asked: string[] = [];
      return {
        asked,
        keyOf: async (userId: string, fpHex: string) => {
          asked.push(userId);
          return keyOf(userId, fpHex);
        },
      };
    }

    it('checks signatures only from the newest anchor and derives the same state', async () => {
      const { entries } = await story();
      const full = await verifyMembershipLog(entries, { chatId: CHAT, keyOf });
      const self = { userId: dave.id, fingerprint: await fp(dave) };
      // Dave's new device: Bob's signed add of Dave (position 5) vouches for 0..4.
      const k = countingKeyOf();
      const byAdd = await verifyMembershipLogAnchored(entries, {
        chatId: CHAT,
        keyOf: k.keyOf,
        self,
      });
      expect(byAdd.checkedFrom).toBe(5);
      expect(k.asked).toEqual([bob.id]);
      expect(membershipStateToJson(byAdd.state)).toEqual(membershipStateToJson(full));
      // Alice acted only before the anchor: the caller checks her against its pins.
      expect([...byAdd.vouchedActors]).toEqual([[alice.id, hexEncode(await fp(alice))]]);
      // The own anchor after 4 entries; with both, the later one wins.
      const prefix = { length: 4, head: full.hashes[3]! };
      const own = await verifyMembershipLogAnchored(entries, {
        chatId: CHAT,
        keyOf,
        trustedPrefix: prefix,
      });
      expect(own.checkedFrom).toBe(4);
      expect(membershipStateToJson(own.state)).toEqual(membershipStateToJson(full));
      const both = await verifyMembershipLogAnchored(entries, {
        chatId: CHAT,
        keyOf,
        trustedPrefix: { length: 3, head: full.hashes[2]! },
        self,
      });
      expect(both.checkedFrom).toBe(5);
      const later = await verifyMembershipLogAnchored(entries, {
        chatId: CHAT,
        keyOf,
        trustedPrefix: { length: 6, head: full.hashes[5]! },
        self,
      });
      expect(later.checkedFrom).toBe(6);
      // No anchor applies (Alice created the chat; an add of Dave with another key): all checked.
      for (const s of [
        { userId: alice.id, fingerprint: await fp(alice) },
        { userId: dave.id, fingerprint: await fp(carol) },
      ]) {
        const none = countingKeyOf();
        const r = await verifyMembershipLogAnchored(entries, {
          chatId: CHAT,
          keyOf: none.keyOf,
          self: s,
        });
        expect(r.checkedFrom).toBe(0);
        expect(new Set(none.asked)).toEqual(new Set([alice.id, bob.id]));
        expect(r.vouchedActors.size).toBe(0);
      }
    });

    it('still refuses a forged or unsigned entry after the anchor, and any change before it', async () => {
      const { entries, steps } = await story();
      const full = await verifyMembershipLog(entries, { chatId: CHAT, keyOf });
      const self = { userId: dave.id, fingerprint: await fp(dave) };
      const forgedAdd = entries.map((e, i) =>
        i === 5 ? { ...e, signature: flipBit(e.signature, 9) } : e,
      );
      await expectCryptoError(
        verifyMembershipLogAnchored(forgedAdd, { chatId: CHAT, keyOf, self }),
        'bad_signature',
      );
      // An entry after the own anchor, made by Carol's key in Bob's name.
      const [forged] = await build(
        [{ ...steps[5]!, by: carol, subject: carol, subjectId: carol.id }],
        6,
        full.head,
      );
      const trustedPrefix = { length: 6, head: full.head };
      await expectCryptoError(
        verifyMembershipLogAnchored([...entries, forged!], { chatId: CHAT, keyOf, trustedPrefix }),
        'bad_signature',
      );
      // Positive control: that entry is only caught by its signature (an anchor covering it would pass it).
      const tampered = await verifyMembershipLogAnchored([...entries, forged!], {
        chatId: CHAT,
        keyOf,
        trustedPrefix: { length: 7, head: await membershipEntryHash(forged!) },
      });
      expect(tampered.state.members.has(carol.id)).toBe(true);
      // Before the anchor, the hash chain carries the anchor's signature back to entry 0: a
      // changed signature or field there breaks the link to the next entry.
      for (const i of [1, 4]) {
        const changed = entries.map((e, j) =>
          j === i ? { ...e, signature: flipBit(e.signature, 3) } : e,
        );
        await expectCryptoError(
          verifyMembershipLogAnchored(changed, { chatId: CHAT, keyOf, self }),
          'bad_log',
        );
      }
      const promoted = entries.map((e, j) => (j === 2 ? { ...e, role: 'admin' } : e));
      await expectCryptoError(
        verifyMembershipLogAnchored(promoted, { chatId: CHAT, keyOf, self }),
        'bad_log',
      );
      // Rules still run on the vouched part: a prefix that breaks one is refused.
      const badPrefix = await build([
        steps[0]!,
        { ...steps[1]!, epoch: 1 },
        { ...steps[5]!, epoch: 1 },
      ]);
      await expectCryptoError(
        verifyMembershipLogAnchored(badPrefix, { chatId: CHAT, keyOf, self }),
        'bad_log',
      );
    });

    it('refuses a log that does not hold the anchored prefix', async () => {
      const { entries, steps } = await story();
      const full = await verifyMembershipLog(entries, { chatId: CHAT, keyOf });
      const v = (es: MembershipEntry[], length: number, head: Uint8Array) =>
        verifyMembershipLogAnchored(es, { chatId: CHAT, keyOf, trustedPrefix: { length, head } });
      await expectCryptoError(v(entries, 4, full.hashes[2]!), 'bad_anchor');
      await expectCryptoError(v(entries.slice(0, 3), 4, full.hashes[3]!), 'bad_anchor');
      // Another valid history of the same length (Carol never added) under the anchored head.
      const other = await build([
        steps[0]!,
        steps[1]!,
        { ...steps[4]!, by: alice, actorId: alice.id, subject: alice, subjectId: alice.id },
        { ...steps[5]!, by: alice, actorId: alice.id },
      ]);
      expect((await verifyMembershipLog(other, { chatId: CHAT, keyOf })).length).toBe(4);
      await expectCryptoError(v(other, 4, full.hashes[3]!), 'bad_anchor');
      // Positive control: the right head passes.
      expect((await v(entries, 4, full.hashes[3]!)).checkedFrom).toBe(4);
    });
  });

  describe('a 1,000-entry log (the one-pass verifier)', () => {
    const N = 1000;
    const MIDDLE = 500;
    /** Alice creates and adds Bob, Carol and Dave; then they take turns rotating. */
    function longSteps(): Step[] {
      const steps: Step[] = [
        {
          by: alice,
          subject: alice,
          actorId: alice.id,
          subjectId: alice.id,
          epoch: 0,
          action: 'create',
          role: 'owner',
          keyCommitment: new Uint8Array(32).fill(1),
        },
      ];
      for (const u of [bob, carol, dave]) {
        steps.push({
          by: alice,
          subject: u,
          actorId: alice.id,
          subjectId: u.id,
          epoch: 0,
          action: 'add',
          role: 'member',
          keyCommitment: null,
        });
      }
      for (let epoch = 1; steps.length < N; epoch++) {
        const u = [alice, bob, carol, dave][epoch % 4]!;
        steps.push({
          by: u,
          subject: u,
          actorId: u.id,
          subjectId: u.id,
          epoch,
          action: 'rotate',
          role: '',
          keyCommitment: new Uint8Array(32).fill(epoch & 0xff),
        });
      }
      return steps;
    }

    it('catches a forged entry in the middle by its signature, with the rest signed on top of it', async () => {
      const steps = longSteps();
      const honest = await build(steps);
      const asked: string[] = [];
      const counting = async (u: string, fpHex: string) => {
        asked.push(u);
        return keyOf(u, fpHex);
      };
      // Positive control: the honest log verifies, asking for each signer's key once.
      const s = await verifyMembershipLog(honest, { chatId: CHAT, keyOf: counting });
      expect(s.length).toBe(N);
      expect(s.epoch).toBe(N - 4);
      expect(asked.sort()).toEqual([alice.id, bob.id, carol.id, dave.id].sort());
      // Entry 500 made with Carol's key in its actor's name; every later entry is signed by its
      // real actor on top of it, so the hash chain holds and only that signature is wrong.
      const actor = steps[MIDDLE]!.by;
      expect(actor).not.toBe(carol);
      const forged = await build(
        [{ ...steps[MIDDLE]!, by: carol }, ...steps.slice(MIDDLE + 1)],
        MIDDLE,
        s.hashes[MIDDLE - 1]!,
      );
      const log = [...honest.slice(0, MIDDLE), ...forged];
      await expect(verifyMembershipLog(log, { chatId: CHAT, keyOf })).rejects.toThrow(
        `log entry ${MIDDLE} is not signed by its actor`,
      );
      await expectCryptoError(verifyMembershipLog(log, { chatId: CHAT, keyOf }), 'bad_signature');
      // Cold with an own anchor before it, or a `self` that no add names: still checked.
      await expectCryptoError(
        verifyMembershipLogAnchored(log, {
          chatId: CHAT,
          keyOf,
          trustedPrefix: { length: MIDDLE - 10, head: s.hashes[MIDDLE - 11]! },
          self: { userId: dave.id, fingerprint: await fp(carol) },
        }),
        'bad_signature',
      );
      // The forged entry put in place of the honest one without re-signing the rest: the next
      // entry's link no longer holds.
      const swapped = honest.map((e, i) => (i === MIDDLE ? forged[0]! : e));
      await expectCryptoError(verifyMembershipLog(swapped, { chatId: CHAT, keyOf }), 'bad_log');
      // A rule broken in the middle (a rotate skipping an epoch) stops the pass there, with
      // signatures already in flight: refused, and nothing is left unhandled.
      const skipped = await build(
        [{ ...steps[MIDDLE]!, epoch: steps[MIDDLE]!.epoch + 1 }],
        MIDDLE,
        s.hashes[MIDDLE - 1]!,
      );
      await expectCryptoError(
        verifyMembershipLog([...honest.slice(0, MIDDLE), ...skipped], { chatId: CHAT, keyOf }),
        'bad_log',
      );
    }, 30_000);

    it('refuses the log when a signer key cannot be had, only once an entry needs it', async () => {
      const honest = await build(longSteps().slice(0, 40));
      const failing = async (u: string, fpHex: string) => {
        if (u === dave.id) throw new Error('no key for dave');
        return keyOf(u, fpHex);
      };
      await expect(verifyMembershipLog(honest, { chatId: CHAT, keyOf: failing })).rejects.toThrow(
        'no key for dave',
      );
      // Dave acts only from entry 6 on (his first rotate): a log cut before it never needs him.
      expect(
        (await verifyMembershipLog(honest.slice(0, 6), { chatId: CHAT, keyOf: failing })).length,
      ).toBe(6);
    });
  });

  it('signs log anchors bound to one chat, one user, one length and one head', async () => {
    const head = new Uint8Array(32).fill(7);
    const a = await signLogAnchor(
      { chatId: CHAT, userId: alice.id, length: 4, head },
      alice.keys.ed25519.privateKey,
    );
    const pub = alice.keys.ed25519.publicKey;
    expect(await verifyLogAnchor(a, pub)).toBe(true);
    expect(await verifyLogAnchor(a, bob.keys.ed25519.publicKey)).toBe(false);
    expect(
      await verifyLogAnchor({ ...a, chatId: '018f3c1a-7b2c-7d3e-8f40-000000000000' }, pub),
    ).toBe(false);
    expect(await verifyLogAnchor({ ...a, userId: bob.id }, pub)).toBe(false);
    expect(await verifyLogAnchor({ ...a, length: 5 }, pub)).toBe(false);
    expect(await verifyLogAnchor({ ...a, head: flipBit(head, 0) }, pub)).toBe(false);
    const { logAnchorFromJson, logAnchorToJson } = await import('../../../src/crypto/index.ts');
    expect(
      logAnchorFromJson(CHAT, alice.id, JSON.parse(JSON.stringify(logAnchorToJson(a)))),
    ).toEqual(a);
    expect(() =>
      logAnchorFromJson(CHAT, alice.id, { length: 1.5, head: '', signature: '' }),
    ).toThrow();
  });
});
