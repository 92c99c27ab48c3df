import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportChatKeyRaw } from '../../../src/crypto/chatkeys.ts';
import {
  CHAT_KEY_WRAP_BYTES,
  type ChatKey,
  generateChatKey,
  unwrapChatKey,
  verifyChatKeyWrapSignature,
  wrapChatKey,
} from '../../../src/crypto/index.ts';
import {
  expectCryptoError,
  failsWithCryptoError,
  flipBit,
  makeUser,
  memberOf,
  signerOf,
  type TestUser,
  wrapperOf,
} from './helpers.ts';

const CHAT = '018f3c1a-7b2c-7d3e-8f40-123456789abc';

describe('chat key wraps', () => {
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  beforeAll(async () => {
    [alice, bob, carol] = await Promise.all([
      makeUser('alice'),
      makeUser('bob'),
      makeUser('carol'),
    ]);
  });

  let current: ChatKey;
  async function aliceWrapsForBob(epoch = 4) {
    const ck = await generateChatKey(CHAT, epoch);
    current = ck;
    const envelope = await wrapChatKey(
      ck,
      { memberId: bob.id, x25519PublicKey: bob.keys.x25519.publicKey },
      signerOf(alice),
    );
    return { ck, envelope };
  }

  const open = (envelope: Uint8Array, over: Partial<Parameters<typeof unwrapChatKey>[0]> = {}) =>
    unwrapChatKey({
      chatId: CHAT,
      epoch: 4,
      envelope,
      member: memberOf(bob),
      wrapper: wrapperOf(alice),
      commitment: current.commitment,
      ...over,
    });

  it('gives the member the same CK, non-extractable by default', async () => {
    const { ck, envelope } = await aliceWrapsForBob();
    expect(envelope.length).toBe(CHAT_KEY_WRAP_BYTES);
    const got = await open(envelope);
    expect(got.messageKey.extractable).toBe(false);
    expect(got.exportable).toBe(false);
    await expectCryptoError(exportChatKeyRaw(got), 'not_extractable');
    const again = await open(envelope, { exportable: true });
    expect(await exportChatKeyRaw(again)).toEqual(await exportChatKeyRaw(ck));
  });

  it('lets a member with an exportable CK re-wrap it for a newcomer, signed by themselves', async () => {
    const { envelope } = await aliceWrapsForBob();
    const bobsCk = await open(envelope, { exportable: true });
    const forCarol = await wrapChatKey(
      bobsCk,
      { memberId: carol.id, x25519PublicKey: carol.keys.x25519.publicKey },
      signerOf(bob),
    );
    const carolsCk = await unwrapChatKey({
      chatId: CHAT,
      epoch: 4,
      envelope: forCarol,
      member: memberOf(carol),
      wrapper: wrapperOf(bob),
      commitment: bobsCk.commitment,
    });
    expect(carolsCk.chatId).toBe(CHAT);
    await expectCryptoError(
      wrapChatKey(
        await open(envelope),
        { memberId: carol.id, x25519PublicKey: carol.keys.x25519.publicKey },
        signerOf(bob),
      ),
      'not_extractable',
    );
  });

  it('rejects an unsigned wrap', async () => {
    const { envelope } = await aliceWrapsForBob();
    await expectCryptoError(open(envelope.subarray(0, envelope.length - 64)), 'bad_signature');
  });

  it('rejects a wrap signed by someone other than the expected wrapper', async () => {
    const ck = await generateChatKey(CHAT, 4);
    // Carol (or the server with a key of its own) makes a wrap but claims it came from Alice.
    const forged = await wrapChatKey(
      ck,
      { memberId: bob.id, x25519PublicKey: bob.keys.x25519.publicKey },
      {
        id: alice.id,
        signingKey: carol.keys.ed25519.privateKey,
      },
    );
    await expectCryptoError(open(forged), 'bad_signature');
    const { envelope } = await aliceWrapsForBob();
    await expectCryptoError(
      open(envelope, { wrapper: { id: 'carol', ed25519PublicKey: carol.keys.ed25519.publicKey } }),
      'bad_signature',
    );
    await expectCryptoError(
      open(envelope, { wrapper: { id: 'carol', ed25519PublicKey: alice.keys.ed25519.publicKey } }),
      'bad_signature',
    );
  });

  it('rejects a wrap replayed into another chat, epoch or member', async () => {
    const { envelope } = await aliceWrapsForBob();
    await expectCryptoError(open(envelope, { chatId: 'other-chat' }), 'bad_signature');
    await expectCryptoError(open(envelope, { epoch: 5 }), 'bad_signature');
    await expectCryptoError(
      open(envelope, { member: { id: 'carol', x25519: bob.keys.x25519 } }),
      'bad_signature',
    );
    await expectCryptoError(
      open(envelope, { member: { id: 'bob', x25519: carol.keys.x25519 } }),
      'decrypt_failed',
    );
  });

  it('rejects a wrap with any single bit flipped', async () => {
    const { envelope } = await aliceWrapsForBob();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: envelope.length * 8 - 1 }), async (bit) =>
        failsWithCryptoError(() => open(flipBit(envelope, bit))),
      ),
      { numRuns: 150 },
    );
  });

  it('rejects truncated, extended and wrong-version envelopes', async () => {
    const { envelope } = await aliceWrapsForBob();
    await expectCryptoError(open(envelope.subarray(0, 50)), 'truncated');
    await expectCryptoError(open(new Uint8Array(0)), 'truncated');
    await expectCryptoError(open(new Uint8Array([...envelope, 1])), 'trailing_data');
    await expectCryptoError(open(Uint8Array.of(2, ...envelope.subarray(1))), 'unknown_version');
  });

  it('lets the server check the wrapper signature with public keys only', async () => {
    const { envelope } = await aliceWrapsForBob();
    const base = {
      chatId: CHAT,
      epoch: 4,
      memberId: 'bob',
      wrapperId: 'alice',
      wrapperEd25519PublicKey: alice.keys.ed25519.publicKey,
      envelope,
      commitment: current.commitment,
    };
    expect(await verifyChatKeyWrapSignature(base)).toBe(true);
    expect(await verifyChatKeyWrapSignature({ ...base, commitment: new Uint8Array(32) })).toBe(
      false,
    );
    expect(
      await verifyChatKeyWrapSignature({
        ...base,
        wrapperEd25519PublicKey: carol.keys.ed25519.publicKey,
      }),
    ).toBe(false);
    expect(await verifyChatKeyWrapSignature({ ...base, epoch: 3 })).toBe(false);
  });

  it('rejects a key other than the one committed to (key commitment)', async () => {
    const real = await generateChatKey(CHAT, 4);
    const other = await generateChatKey(CHAT, 4);
    expect(real.commitment).not.toEqual(other.commitment);
    // A wrapper that claims the real commitment but wraps another key.
    const lying = { ...other, commitment: real.commitment };
    const envelope = await wrapChatKey(
      lying,
      { memberId: bob.id, x25519PublicKey: bob.keys.x25519.publicKey },
      signerOf(alice),
    );
    await expectCryptoError(open(envelope, { commitment: real.commitment }), 'commitment_mismatch');
    // And a wrap of the real key does not open against another epoch's commitment.
    const honest = await wrapChatKey(
      real,
      { memberId: bob.id, x25519PublicKey: bob.keys.x25519.publicKey },
      signerOf(alice),
    );
    await expectCryptoError(open(honest, { commitment: other.commitment }), 'bad_signature');
    expect((await open(honest, { commitment: real.commitment })).commitment).toEqual(
      real.commitment,
    );
  });

  it('refuses a low-order recipient key', async () => {
    const ck = await generateChatKey(CHAT, 1);
    await expectCryptoError(
      wrapChatKey(ck, { memberId: 'x', x25519PublicKey: new Uint8Array(32) }, signerOf(alice)),
      'bad_key',
    );
  });
});
