import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportChatKeyRaw, importChatKey } from '../../../src/crypto/chatkeys.ts';
import {
  type ChatKey,
  createShare,
  decryptFileBytes,
  encryptFileBytes,
  generateChatKey,
  generateFileKey,
  openFileMeta,
  openPreview,
  openShare,
  randomBytes,
  sealFileMeta,
  sealPreview,
  shareEnvelopeLength,
  unwrapFileKey,
  verifyShareSignature,
  wrapFileKey,
} from '../../../src/crypto/index.ts';
import {
  expectCryptoError,
  failsWithCryptoError,
  flipBit,
  makeUser,
  signerOf,
  type TestUser,
  wrapperOf,
} from './helpers.ts';

const CHAT = 'chat-42';
const FILE = 'file-7';
const SHARE = 'share-1';

describe('shares', () => {
  let ck: ChatKey;
  let alice: TestUser;
  let mallory: TestUser;
  beforeAll(async () => {
    ck = await generateChatKey(CHAT, 3);
    alice = await makeUser('alice');
    mallory = await makeUser('mallory');
  });

  it('download share hands over FK; the recipient decrypts content, meta and preview', async () => {
    const fk = await generateFileKey(FILE);
    const content = randomBytes(300);
    const ct = await encryptFileBytes(fk, content, { chunkSize: 64 });
    const meta = await sealFileMeta(fk, {
      name: 'a.txt',
      type: 'text/plain',
      size: 300,
      createdAt: null,
      modifiedAt: null,
    });
    const envelope = await createShare({
      chatKey: ck,
      shareId: SHARE,
      fileKey: fk,
      mode: 'download',
      sharer: signerOf(alice),
    });
    expect(envelope.length).toBe(126);
    expect(shareEnvelopeLength('download')).toBe(126);
    const opened = await openShare({
      chatKey: ck,
      shareId: SHARE,
      fileId: FILE,
      envelope,
      sharer: wrapperOf(alice),
    });
    if (opened.mode !== 'download') throw new Error('expected download');
    expect(opened.fileKey.exportable).toBe(false);
    expect(await decryptFileBytes(opened.fileKey, ct)).toEqual(content);
    expect((await openFileMeta(opened.fileKey, meta)).name).toBe('a.txt');
  });

  it('preview share opens meta and preview but cannot decrypt content', async () => {
    const fk = await generateFileKey(FILE);
    // The owner normally holds FK non-exportable (unwrapped from MK): preview shares still work.
    const ownerFk = await unwrapFileKey(
      alice.masterKey,
      FILE,
      await wrapFileKey(alice.masterKey, fk),
    );
    const meta = await sealFileMeta(fk, {
      name: 'p.png',
      type: 'image/png',
      size: 9,
      createdAt: 1,
      modifiedAt: 2,
    });
    const preview = await sealPreview(fk, Uint8Array.of(1, 2, 3));
    const envelope = await createShare({
      chatKey: ck,
      shareId: SHARE,
      fileKey: ownerFk,
      mode: 'preview',
      sharer: signerOf(alice),
    });
    expect(envelope.length).toBe(158);
    const opened = await openShare({
      chatKey: ck,
      shareId: SHARE,
      fileId: FILE,
      envelope,
      sharer: wrapperOf(alice),
    });
    if (opened.mode !== 'preview') throw new Error('expected preview');
    expect((await openFileMeta(opened.readKeys, meta)).name).toBe('p.png');
    expect(await openPreview(opened.readKeys, preview)).toEqual(Uint8Array.of(1, 2, 3));
    expect('base' in opened.readKeys).toBe(false);
    // A download share needs an exportable FK.
    await expectCryptoError(
      createShare({
        chatKey: ck,
        shareId: SHARE,
        fileKey: ownerFk,
        mode: 'download',
        sharer: signerOf(alice),
      }),
      'not_extractable',
    );
  });

  it('a share minted by a non-sharer is refused, even by someone holding the chat key', async () => {
    const fk = await generateFileKey(FILE);
    // Mallory holds CK and FK-like bytes of her own, and claims the share is Alice's.
    const forged = await createShare({
      chatKey: ck,
      shareId: SHARE,
      fileKey: fk,
      mode: 'download',
      sharer: { id: alice.id, signingKey: mallory.keys.ed25519.privateKey },
    });
    const statement = { shareId: SHARE, fileId: FILE, chatId: CHAT, epoch: 3, envelope: forged };
    expect(
      await verifyShareSignature({
        ...statement,
        sharerId: alice.id,
        sharerEd25519PublicKey: alice.keys.ed25519.publicKey,
      }),
    ).toBe(false);
    await expectCryptoError(
      openShare({
        chatKey: ck,
        shareId: SHARE,
        fileId: FILE,
        envelope: forged,
        sharer: wrapperOf(alice),
      }),
      'bad_signature',
    );
    // Positive control: the same share signed by its stated sharer verifies and opens.
    const real = await createShare({
      chatKey: ck,
      shareId: SHARE,
      fileKey: fk,
      mode: 'download',
      sharer: signerOf(alice),
    });
    expect(
      await verifyShareSignature({
        ...statement,
        envelope: real,
        sharerId: alice.id,
        sharerEd25519PublicKey: alice.keys.ed25519.publicKey,
      }),
    ).toBe(true);
    // Re-attributing a genuine share to another member breaks it too.
    await expectCryptoError(
      openShare({
        chatKey: ck,
        shareId: SHARE,
        fileId: FILE,
        envelope: real,
        sharer: wrapperOf(mallory),
      }),
      'bad_signature',
    );
  });

  it('binds share id, file id, chat, epoch, mode and sharer', async () => {
    const fk = await generateFileKey(FILE);
    const envelope = await createShare({
      chatKey: ck,
      shareId: SHARE,
      fileKey: fk,
      mode: 'download',
      sharer: signerOf(alice),
    });
    const open = (over: Partial<Parameters<typeof openShare>[0]>) =>
      openShare({
        chatKey: ck,
        shareId: SHARE,
        fileId: FILE,
        envelope,
        sharer: wrapperOf(alice),
        ...over,
      });
    await expectCryptoError(open({ shareId: 'share-2' }), 'bad_signature');
    await expectCryptoError(open({ fileId: 'file-8' }), 'bad_signature');
    await expectCryptoError(open({ chatKey: await generateChatKey(CHAT, 4) }), 'bad_signature');
    const sameRawOtherEpoch = await importChatKey(await exportChatKeyRaw(ck), CHAT, 4, false);
    await expectCryptoError(open({ chatKey: sameRawOtherEpoch }), 'bad_signature');
    // A different chat key for the same chat and epoch: the signature holds, decryption fails.
    await expectCryptoError(open({ chatKey: await generateChatKey(CHAT, 3) }), 'decrypt_failed');
    const preview = await createShare({
      chatKey: ck,
      shareId: SHARE,
      fileKey: fk,
      mode: 'preview',
      sharer: signerOf(alice),
    });
    // Turning a preview share into a download share by flipping the mode byte.
    await expectCryptoError(
      open({ envelope: Uint8Array.of(2, 1, ...preview.subarray(2)) }),
      'trailing_data',
    );
    await expectCryptoError(
      open({ envelope: Uint8Array.of(2, 3, ...preview.subarray(2)) }),
      'bad_encoding',
    );
    // The old unsigned version is not read any more.
    await expectCryptoError(
      open({ envelope: Uint8Array.of(1, ...envelope.subarray(1)) }),
      'unknown_version',
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: envelope.length * 8 - 1 }), (bit) =>
        failsWithCryptoError(() => open({ envelope: flipBit(envelope, bit) })),
      ),
      { numRuns: 100 },
    );
  });
});
