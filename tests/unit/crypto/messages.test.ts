import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChatKey } from '../../../src/crypto/index.ts';
import {
  checkMessageEnvelope,
  decodeMessageBody,
  encodeMessageBody,
  generateChatKey,
  isUuidV7,
  type MessageBody,
  type MessageHeader,
  messageHash,
  openMessage,
  sealMessage,
  signTombstone,
  utf8Encode,
  uuidv7,
  uuidv7Timestamp,
  verifyMessageSignature,
  verifyTombstone,
} from '../../../src/crypto/index.ts';
import {
  expectCryptoError,
  failsWithCryptoError,
  flipBit,
  makeUser,
  type TestUser,
} from './helpers.ts';

const CHAT = 'chat-1';

describe('UUIDv7', () => {
  it('makes valid, time-ordered v7 ids', () => {
    const a = uuidv7(1_700_000_000_000);
    expect(isUuidV7(a)).toBe(true);
    expect(uuidv7Timestamp(a)).toBe(1_700_000_000_000);
    expect(uuidv7(1_700_000_000_001) > a).toBe(true);
    expect(isUuidV7(uuidv7())).toBe(true);
    expect(uuidv7Timestamp(uuidv7(2 ** 48 - 1))).toBe(2 ** 48 - 1);
  });

  it('rejects non-v7 ids', () => {
    expect(isUuidV7('018f3c1a-7b2c-4d3e-8f40-123456789abc')).toBe(false); // v4
    expect(isUuidV7('018f3c1a-7b2c-7d3e-cf40-123456789abc')).toBe(false); // bad variant
    expect(isUuidV7('not-a-uuid')).toBe(false);
    expect(isUuidV7(42)).toBe(false);
  });
});

describe('message bodies', () => {
  it('round-trips and drops unknown fields', () => {
    const body: MessageBody = {
      text: 'hé 🔐',
      replyTo: uuidv7(),
      attachments: [{ fileId: 'f', shareId: 's' }],
    };
    expect(decodeMessageBody(encodeMessageBody(body))).toEqual(body);
    expect(decodeMessageBody(utf8Encode('{"text":"x","future":1}'))).toEqual({
      text: 'x',
      replyTo: null,
      attachments: [],
    });
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '[1]'],
    ['text missing', '{}'],
    ['bad replyTo', '{"text":"a","replyTo":"nope"}'],
    ['bad attachments', '{"text":"a","attachments":{}}'],
    ['bad attachment', '{"text":"a","attachments":[{"fileId":1}]}'],
  ])('rejects %s', async (_n, json) => {
    await expectCryptoError(() => decodeMessageBody(utf8Encode(json)), 'bad_encoding');
  });

  it('rejects invalid UTF-8', async () => {
    await expectCryptoError(() => decodeMessageBody(Uint8Array.of(0xff)), 'bad_encoding');
  });
});

describe('messages', () => {
  let alice: TestUser;
  let bob: TestUser;
  let ck: ChatKey;
  beforeAll(async () => {
    [alice, bob] = await Promise.all([makeUser('alice'), makeUser('bob')]);
    ck = await generateChatKey(CHAT, 2);
  });

  const body: MessageBody = { text: 'hello', replyTo: null, attachments: [] };
  const chainId = new Uint8Array(16).fill(7);
  const header = (messageId: string, over: Partial<MessageHeader> = {}) => ({
    messageId,
    sender: { kind: 'user' as const, userId: 'alice' },
    chain: { chainId, counter: 3, prev: new Uint8Array(32).fill(9) },
    mentions: ['claude'],
    decryptionPermissions: { agents: 'deny' as const },
    ...over,
  });

  async function seal(messageId = uuidv7(), b: MessageBody = body) {
    const sealed = await sealMessage({
      chatKey: ck,
      header: header(messageId),
      body: b,
      signingKey: alice.keys.ed25519.privateKey,
    });
    return { messageId, ...sealed };
  }

  const open = (
    m: { messageId: string; encryptedContent: Uint8Array; signature: Uint8Array },
    over: Record<string, unknown> = {},
    h: Partial<MessageHeader> = {},
  ) =>
    openMessage({
      chatKey: ck,
      header: header(m.messageId, h),
      signerEd25519PublicKey: alice.keys.ed25519.publicKey,
      encryptedContent: m.encryptedContent,
      signature: m.signature,
      ...over,
    }).then((r) => r.body);

  it('seals and opens; envelope is version ‖ iv ‖ ciphertext', async () => {
    const m = await seal();
    expect(m.encryptedContent[0]).toBe(1);
    expect(m.encryptedContent.length).toBe(1 + 12 + encodeMessageBody(body).length + 16);
    expect(m.signature.length).toBe(64);
    expect(m.hash).toEqual(await messageHash(m.signature));
    expect(await open(m)).toEqual(body);
  });

  it('round-trips arbitrary bodies (property)', async () => {
    const arb = fc.record({
      text: fc.string({ maxLength: 500, unit: 'binary' }),
      replyTo: fc.option(fc.constant(uuidv7()), { nil: null }),
      attachments: fc.array(
        fc.record({ fileId: fc.string({ minLength: 1 }), shareId: fc.string({ minLength: 1 }) }),
        { maxLength: 3 },
      ),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (b) => {
        const m = await seal(uuidv7(), b);
        expect(await open(m)).toEqual(b);
      }),
      { numRuns: 60 },
    );
  });

  it('fails on any single flipped bit in the content or the signature (property)', async () => {
    const m = await seal();
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat(), async (inContent, n) => {
        const target = inContent ? m.encryptedContent : m.signature;
        const flipped = flipBit(target, n % (target.length * 8));
        const tampered = inContent
          ? { ...m, encryptedContent: flipped }
          : { ...m, signature: flipped };
        return failsWithCryptoError(() => open(tampered));
      }),
      { numRuns: 200 },
    );
  });

  it('fails for the wrong chat, message id, epoch or sender', async () => {
    const m = await seal();
    const otherChat = await generateChatKey('chat-2', 2);
    const otherEpoch = await generateChatKey(CHAT, 3);
    await expectCryptoError(open(m, { chatKey: otherChat }), 'bad_signature');
    await expectCryptoError(open(m, { chatKey: otherEpoch }), 'bad_signature');
    await expectCryptoError(open(m, {}, { messageId: uuidv7() }), 'bad_signature');
    await expectCryptoError(
      open(m, {}, { sender: { kind: 'user', userId: 'bob' } }),
      'bad_signature',
    );
    await expectCryptoError(
      open(m, { signerEd25519PublicKey: bob.keys.ed25519.publicKey }),
      'bad_signature',
    );
  });

  it('binds the chain position, mentions and agent policy (server cannot edit them)', async () => {
    const m = await seal();
    const cases: Partial<MessageHeader>[] = [
      { chain: { chainId, counter: 4, prev: new Uint8Array(32).fill(9) } },
      { chain: { chainId, counter: 3, prev: new Uint8Array(32).fill(8) } },
      { chain: { chainId: new Uint8Array(16), counter: 3, prev: new Uint8Array(32).fill(9) } },
      { mentions: [] },
      { mentions: ['claude', 'helper'] },
      { decryptionPermissions: { agents: 'allow' } },
      { decryptionPermissions: {} },
      { sender: { kind: 'agent', agentName: 'alice', onBehalfOf: 'alice' } },
    ];
    for (const h of cases) await expectCryptoError(open(m, {}, h), 'bad_signature');
    // Mentions are a set: order and duplicates do not matter.
    const m2 = await sealMessage({
      chatKey: ck,
      header: header(m.messageId, { mentions: ['helper', 'claude', 'claude'] }),
      body,
      signingKey: alice.keys.ed25519.privateKey,
    });
    expect(
      await open({ ...m2, messageId: m.messageId }, {}, { mentions: ['claude', 'helper'] }),
    ).toEqual(body);
  });

  it('seals agent messages under the same API, bound to agent and user', async () => {
    const agentHeader = header(uuidv7(), {
      sender: { kind: 'agent', agentName: 'claude', onBehalfOf: 'alice' },
    });
    const m = await sealMessage({
      chatKey: ck,
      header: agentHeader,
      body,
      signingKey: bob.keys.ed25519.privateKey,
    });
    const args = {
      chatKey: ck,
      header: agentHeader,
      encryptedContent: m.encryptedContent,
      signature: m.signature,
      signerEd25519PublicKey: bob.keys.ed25519.publicKey,
    };
    expect((await openMessage(args)).body).toEqual(body);
    await expectCryptoError(
      openMessage({
        ...args,
        header: {
          ...agentHeader,
          sender: { kind: 'agent', agentName: 'claude', onBehalfOf: 'bob' },
        },
      }),
      'bad_signature',
    );
  });

  it('fails when the sender signed correctly but the key is wrong (AAD/key binding)', async () => {
    // Same chat and epoch, another key: its commitment differs, so even a re-signed ciphertext
    // names the wrong commitment and neither verifies nor decrypts.
    const m = await seal();
    const sameCtxOtherKey = await generateChatKey(CHAT, 2);
    await expectCryptoError(open(m, { chatKey: sameCtxOtherKey }), 'bad_signature');
  });

  it('rejects a message id that is not a UUIDv7', async () => {
    await expectCryptoError(seal('018f3c1a-7b2c-4d3e-8f40-123456789abc'), 'bad_input');
  });

  it('rejects malformed envelopes with a typed error', async () => {
    const m = await seal();
    await expectCryptoError(open({ ...m, encryptedContent: new Uint8Array(0) }), 'truncated');
    await expectCryptoError(
      open({ ...m, encryptedContent: m.encryptedContent.subarray(0, 20) }),
      'truncated',
    );
    await expectCryptoError(
      () => checkMessageEnvelope(Uint8Array.of(7, ...m.encryptedContent.subarray(1))),
      'unknown_version',
    );
    await expectCryptoError(open({ ...m, signature: new Uint8Array(0) }), 'bad_signature');
  });

  describe('tombstones', () => {
    it('verify only for the sender, message, chain position and hash they name', async () => {
      const m = await seal();
      const t = {
        chatId: CHAT,
        messageId: m.messageId,
        sender: { kind: 'user' as const, userId: 'alice' },
        chainId,
        counter: 3,
        hash: m.hash,
      };
      const sig = await signTombstone(t, alice.keys.ed25519.privateKey);
      expect(await verifyTombstone(t, sig, alice.keys.ed25519.publicKey)).toBe(true);
      expect(await verifyTombstone({ ...t, counter: 4 }, sig, alice.keys.ed25519.publicKey)).toBe(
        false,
      );
      expect(
        await verifyTombstone({ ...t, messageId: uuidv7() }, sig, alice.keys.ed25519.publicKey),
      ).toBe(false);
      expect(await verifyTombstone(t, sig, bob.keys.ed25519.publicKey)).toBe(false);
    });
  });

  describe(verifyMessageSignature.name, () => {
    it('lets the server verify with public data only', async () => {
      const m = await seal();
      const args = {
        header: { ...header(m.messageId), chatId: CHAT, epoch: 2 },
        commitment: ck.commitment,
        encryptedContent: m.encryptedContent,
        signature: m.signature,
        signerEd25519PublicKey: alice.keys.ed25519.publicKey,
      };
      expect(await verifyMessageSignature(args)).toBe(true);
      expect(await verifyMessageSignature({ ...args, header: { ...args.header, epoch: 1 } })).toBe(
        false,
      );
      expect(await verifyMessageSignature({ ...args, commitment: new Uint8Array(32) })).toBe(false);
      expect(
        await verifyMessageSignature({
          ...args,
          header: { ...args.header, sender: { kind: 'user', userId: 'bob' } },
        }),
      ).toBe(false);
      expect(await verifyMessageSignature({ ...args, signature: flipBit(m.signature, 100) })).toBe(
        false,
      );
      expect(await verifyMessageSignature({ ...args, signature: new Uint8Array(10) })).toBe(false);
      expect(
        await verifyMessageSignature({
          ...args,
          encryptedContent: flipBit(m.encryptedContent, 200),
        }),
      ).toBe(false);
      await expectCryptoError(
        verifyMessageSignature({ ...args, signerEd25519PublicKey: new Uint8Array(5) }),
        'bad_length',
      );
      await expectCryptoError(
        verifyMessageSignature({ ...args, encryptedContent: Uint8Array.of(1, 0, 0) }),
        'truncated',
      );
      await expectCryptoError(
        verifyMessageSignature({ ...args, header: { ...args.header, messageId: 'x' } }),
        'bad_input',
      );
    });
  });
});
