import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportChatKeyRaw } from '../../../src/crypto/chatkeys.ts';
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
  unwrapFileKey,
  wrapFileKey,
} from '../../../src/crypto/index.ts';
import { expectCryptoError, failsWithCryptoError, flipBit, makeUser } from './helpers.ts';

const CHAT = 'chat-42';
const FILE = 'file-7';
const SHARE = 'share-1';

describe('shares', () => {
  let ck: ChatKey;
  beforeAll(async () => {
    ck = await generateChatKey(CHAT, 3);
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
    });
    expect(envelope.length).toBe(62);
    const opened = await openShare({ chatKey: ck, shareId: SHARE, fileId: FILE, envelope });
    if (opened.mode !== 'download') throw new Error('expected download');
    expect(opened.fileKey.exportable).toBe(false);
    expect(await decryptFileBytes(opened.fileKey, ct)).toEqual(content);
    expect((await openFileMeta(opened.fileKey, meta)).name).toBe('a.txt');
  });

  it('preview share opens meta and preview but cannot decrypt content', async () => {
    const alice = await makeUser('alice');
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
    });
    expect(envelope.length).toBe(94);
    const opened = await openShare({ chatKey: ck, shareId: SHARE, fileId: FILE, envelope });
    if (opened.mode !== 'preview') throw new Error('expected preview');
    expect((await openFileMeta(opened.readKeys, meta)).name).toBe('p.png');
    expect(await openPreview(opened.readKeys, preview)).toEqual(Uint8Array.of(1, 2, 3));
    expect('base' in opened.readKeys).toBe(false);
    // A download share needs an exportable FK.
    await expectCryptoError(
      createShare({ chatKey: ck, shareId: SHARE, fileKey: ownerFk, mode: 'download' }),
      'not_extractable',
    );
  });

  it('binds share id, file id, chat, epoch and mode', async () => {
    const fk = await generateFileKey(FILE);
    const envelope = await createShare({
      chatKey: ck,
      shareId: SHARE,
      fileKey: fk,
      mode: 'download',
    });
    const open = (over: Partial<Parameters<typeof openShare>[0]>) =>
      openShare({ chatKey: ck, shareId: SHARE, fileId: FILE, envelope, ...over });
    await expectCryptoError(open({ shareId: 'share-2' }), 'decrypt_failed');
    await expectCryptoError(open({ fileId: 'file-8' }), 'decrypt_failed');
    await expectCryptoError(open({ chatKey: await generateChatKey(CHAT, 4) }), 'decrypt_failed');
    const sameRawOtherEpoch = (await import('../../../src/crypto/chatkeys.ts')).importChatKey(
      await exportChatKeyRaw(ck),
      CHAT,
      4,
      false,
    );
    await expectCryptoError(open({ chatKey: await sameRawOtherEpoch }), 'decrypt_failed');
    // Turning a preview share into a download share by flipping the mode byte.
    const preview = await createShare({
      chatKey: ck,
      shareId: SHARE,
      fileKey: fk,
      mode: 'preview',
    });
    await expectCryptoError(
      open({ envelope: Uint8Array.of(1, 1, ...preview.subarray(2)) }),
      'trailing_data',
    );
    await expectCryptoError(
      open({ envelope: Uint8Array.of(1, 3, ...preview.subarray(2)) }),
      'bad_encoding',
    );
    await expectCryptoError(
      open({ envelope: Uint8Array.of(1, 2, ...envelope.subarray(2), ...new Uint8Array(32)) }),
      'decrypt_failed',
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: envelope.length * 8 - 1 }), (bit) =>
        failsWithCryptoError(() => open({ envelope: flipBit(envelope, bit) })),
      ),
      { numRuns: 100 },
    );
  });
});
