import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { lengthPrefixed } from '../../../src/crypto/bytes.ts';
import { importChatKey } from '../../../src/crypto/chatkeys.ts';
import type { ChatKey } from '../../../src/crypto/index.ts';
import {
  checkMessageEnvelope,
  concat,
  decodeMessageBody,
  encodeMessageBody,
  generateChatKey,
  hexDecode,
  hexEncode,
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
import { domain, epochBytes, idBytes, Label } from '../../../src/crypto/labels.ts';
import {
  aesGcmEncrypt,
  ed25519KeyPairFromSeed,
  ed25519Sign,
} from '../../../src/crypto/primitives.ts';
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

/**
 * The wire format of v1 messages is fixed (messages.ts header comment): these were sealed by the
 * implementation that framed the AAD and the signature input through `domain()` field by field,
 * before the single-pass encoder. Any byte the encoder changed would fail to verify or decrypt.
 */
describe('message format stability', () => {
  const RAW_KEY = new Uint8Array(32).map((_, i) => i + 1);
  const SEED = new Uint8Array(32).map((_, i) => 200 - i);
  const PUBLIC = hexDecode('274ed6b26805d2fe8d060529ee9a2f28763b6976d9c5fd1dee38ff36b3b76939');
  const vectors = [
    {
      chatId: '0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B',
      epoch: 7,
      header: {
        messageId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c',
        sender: { kind: 'user' as const, userId: '0190A1B2-0000-7000-8000-00000000AAAA' },
        chain: {
          chainId: new Uint8Array(16).fill(7),
          counter: 2 ** 40 + 5,
          prev: new Uint8Array(32).fill(9),
        },
        mentions: ['zoë', 'claude', 'claude', 'Bot'],
        decryptionPermissions: { agents: 'deny' as const },
      },
      body: { text: 'hé 🔐 golden', replyTo: null, attachments: [] },
      encryptedContent:
        '016bc2b572a0ad8a06d0c291a834ff07e77ff83e7f78932fe3d65bf0ad395819cdbce92991ccb0bd4aa52b281715e8bb0bfbf279988b4d0f20637f93be483ac521950cfb3b97f2f5bfbe7d2f3f105b02c1d3a16b08b5ce',
      signature:
        '04eaf77b59d24fcc36b7a13bba55b22a7d74e1fc8e1681a16686fdc1cb041fbcabf88b16ef538454d6654563e3ac5383047801ac6edb9bf1bef080856ad1e609',
      hash: '4e8a5515ee6ca05aa0fea78c295b97b358b53e874ad175cbda50b40877354e2c',
    },
    {
      chatId: 'chat-ünï',
      epoch: 0,
      header: {
        messageId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d',
        sender: { kind: 'agent' as const, agentName: 'clàude', onBehalfOf: 'u-1' },
        chain: { chainId: new Uint8Array(16).fill(1), counter: 0, prev: new Uint8Array(32) },
        mentions: [],
        decryptionPermissions: {},
      },
      body: {
        text: '',
        replyTo: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c',
        attachments: [{ fileId: 'f', shareId: 's' }],
      },
      encryptedContent:
        '015d0d2139aa2853221be6e42d6f9fab1e109ea7f5a7c003aff5994f38ac873ba7fcc9b02b693b0ea2ebfab3596b64b620ba3090d7e07889472ee226344707fc98b7b85df9f4a1ae3a747de1eaddb028b2132b84f8fa7b99c29c35e3b7cd58696de02bd1b0472b55e3c2a1fc558fd2a66ff9a99ecd9a21f100004718479eb208dc2226f6e849',
      signature:
        'd92a609193ecaf5942baf78a99143ba52d0e1e30210ca01881e7e47694c119c94c7cd68f6a7b5f1fa3ca83f36aa10182a06736359487b70947955b7f30288d01',
      hash: 'd0becdd8d996476777c6942864b8f74b7d7bdfd4cb9729227bdeed3d62f12835',
    },
  ];

  it.each(vectors.map((v) => [v.header.sender.kind, v] as const))(
    'opens and verifies a %s message sealed before the single-pass encoder',
    async (_kind, v) => {
      const ck = await importChatKey(RAW_KEY, v.chatId, v.epoch, false);
      const sealed = {
        encryptedContent: hexDecode(v.encryptedContent),
        signature: hexDecode(v.signature),
      };
      const opened = await openMessage({
        chatKey: ck,
        header: v.header,
        signerEd25519PublicKey: PUBLIC,
        ...sealed,
      });
      expect(opened.body).toEqual(v.body);
      expect(hexEncode(opened.hash)).toBe(v.hash);
      expect(
        await verifyMessageSignature({
          header: { ...v.header, chatId: v.chatId, epoch: v.epoch },
          commitment: ck.commitment,
          signerEd25519PublicKey: PUBLIC,
          ...sealed,
        }),
      ).toBe(true);
      // A new seal of the same header signs the same bytes: its signature verifies against the
      // reference framing below.
      const again = await sealMessage({
        chatKey: ck,
        header: v.header,
        body: v.body,
        signingKey: (await ed25519KeyPairFromSeed(SEED)).privateKey,
      });
      const ref = referenceSignatureInput(
        { ...v.header, chatId: v.chatId, epoch: v.epoch },
        ck.commitment,
        again.encryptedContent,
      );
      const { privateKey } = await ed25519KeyPairFromSeed(SEED);
      expect(hexEncode(again.signature)).toBe(hexEncode(await ed25519Sign(privateKey, ref)));
    },
  );

  /** The documented framing, field by field through labels.ts (the pre-encoder implementation). */
  function referenceFields(h: MessageHeader): Uint8Array[] {
    const s = h.sender;
    return [
      idBytes(h.chatId),
      idBytes(h.messageId),
      epochBytes(h.epoch),
      ...(s.kind === 'user'
        ? [utf8Encode('user'), idBytes(s.userId), new Uint8Array(0)]
        : [utf8Encode('agent'), idBytes(s.agentName), idBytes(s.onBehalfOf)]),
    ];
  }
  function referenceAad(h: MessageHeader, commitment: Uint8Array) {
    return domain(Label.messageAad, ...referenceFields(h), commitment);
  }
  function referenceSignatureInput(h: MessageHeader, commitment: Uint8Array, content: Uint8Array) {
    const counter = new Uint8Array(8);
    new DataView(counter.buffer).setBigUint64(0, BigInt(h.chain.counter));
    const mentions = concat(
      ...[...new Set(h.mentions)].sort().map((m) => lengthPrefixed(idBytes(m))),
    );
    return concat(
      domain(
        Label.messageSig,
        ...referenceFields(h),
        h.chain.chainId,
        counter,
        h.chain.prev,
        mentions,
        utf8Encode(`agents=${h.decryptionPermissions.agents ?? ''}`),
        commitment,
      ),
      content,
    );
  }

  it('frames any header exactly as the reference does (property)', async () => {
    const { privateKey, publicRaw } = await ed25519KeyPairFromSeed(SEED);
    const id = fc.oneof(
      fc.uuid().map((u) => u.toUpperCase()),
      fc.uuid(),
      fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
      fc.string({ minLength: 1, maxLength: 200 }),
    );
    const arb = fc.record({
      chatId: id,
      epoch: fc.nat(),
      sender: fc.oneof(
        fc.record({ kind: fc.constant('user' as const), userId: id }),
        fc.record({ kind: fc.constant('agent' as const), agentName: id, onBehalfOf: id }),
      ),
      counter: fc.oneof(fc.nat(), fc.maxSafeNat()),
      mentions: fc.array(id, { maxLength: 4 }),
      agents: fc.constantFrom(undefined, 'allow' as const, 'deny' as const),
      content: fc.uint8Array({ minLength: 29, maxLength: 80 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (a) => {
        const ck = await importChatKey(RAW_KEY, a.chatId, a.epoch, false);
        const prev = a.counter === 0 ? new Uint8Array(32) : new Uint8Array(32).fill(3);
        const header = {
          messageId: uuidv7(),
          sender: a.sender,
          chain: { chainId: new Uint8Array(16).fill(5), counter: a.counter, prev },
          mentions: a.mentions,
          decryptionPermissions: a.agents ? { agents: a.agents } : {},
        };
        const full = { ...header, chatId: a.chatId, epoch: a.epoch };
        // Signature input: signed over the reference bytes, verified by the encoder's.
        const content = Uint8Array.of(1, ...a.content.subarray(1));
        const signature = await ed25519Sign(
          privateKey,
          referenceSignatureInput(full, ck.commitment, content),
        );
        expect(
          await verifyMessageSignature({
            header: full,
            commitment: ck.commitment,
            encryptedContent: content,
            signature,
            signerEd25519PublicKey: publicRaw,
          }),
        ).toBe(true);
        // AAD: encrypted under the reference AAD, opened with the encoder's.
        const iv = new Uint8Array(12).fill(4);
        const body = { text: 'x', replyTo: null, attachments: [] };
        const ct = await aesGcmEncrypt(
          ck.messageKey,
          iv,
          encodeMessageBody(body),
          referenceAad(full, ck.commitment),
        );
        const encryptedContent = concat(Uint8Array.of(1), iv, ct);
        const sig2 = await ed25519Sign(
          privateKey,
          referenceSignatureInput(full, ck.commitment, encryptedContent),
        );
        const opened = await openMessage({
          chatKey: ck,
          header,
          encryptedContent,
          signature: sig2,
          signerEd25519PublicKey: publicRaw,
        });
        expect(opened.body).toEqual(body);
      }),
      { numRuns: 80 },
    );
  });
});
