import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concat, utf8Encode } from '../../src/crypto/bytes.ts';
import { generateChatKey } from '../../src/crypto/chatkeys.ts';
import { openMessageBody, openMessageBodySync, sealMessage } from '../../src/crypto/messages.ts';
import {
  aesGcmDecrypt,
  aesGcmDecryptSync,
  aesGcmEncrypt,
  type Ed25519Verifier,
  ed25519KeyPairFromSeed,
  ed25519VerifySync,
  importAesKey,
  useAesGcmDecrypter,
  useEd25519Verifier,
  useHkdf,
  useSha256,
  useX25519,
} from '../../src/crypto/primitives.ts';
import { uuidv7 } from '../../src/crypto/uuid.ts';
import {
  cachedEd25519Verifier,
  installNodeCrypto,
  nodeAesGcmDecrypt,
} from '../../src/node-crypto.ts';
import { expectCryptoError } from './crypto/helpers.ts';

// Every Wycheproof vector (AES-GCM, X25519 with its all-zero cases, Ed25519, HKDF) again, now
// through the server's Node hooks: the same wrappers must give the same answers.
import './crypto/wycheproof.test.ts';
// And every message test (format vectors included), now opening through the synchronous path.
import './crypto/messages.test.ts';

beforeAll(() => installNodeCrypto({ verifyCacheEntries: 1000 }));
afterAll(() => {
  useSha256(undefined);
  useAesGcmDecrypter(undefined);
  useHkdf(undefined);
  useX25519(undefined);
  useEd25519Verifier(undefined);
});

describe('the Node AES-GCM hook', () => {
  it('refuses a key whose usages do not include decrypt, as WebCrypto does', async () => {
    const raw = new Uint8Array(32).fill(1);
    const iv = new Uint8Array(12);
    const ct = await aesGcmEncrypt(await importAesKey(raw), iv, utf8Encode('x'), new Uint8Array(0));
    const encryptOnly = await importAesKey(raw, ['encrypt']);
    await expectCryptoError(
      aesGcmDecrypt(encryptOnly, iv, ct, new Uint8Array(0)),
      'decrypt_failed',
    );
  });

  it('hands back no plaintext when the tag does not match', async () => {
    const key = await importAesKey(new Uint8Array(32).fill(2));
    const iv = new Uint8Array(12);
    const ct = await aesGcmEncrypt(key, iv, utf8Encode('secret text'), new Uint8Array(0));
    ct[ct.length - 1]! ^= 1;
    expect(() => nodeAesGcmDecrypt(key, iv, ct, new Uint8Array(0))).toThrow();
    await expectCryptoError(aesGcmDecrypt(key, iv, ct, new Uint8Array(0)), 'decrypt_failed');
  });
});

describe('opening a message without a promise (the gateway path)', () => {
  async function sealed() {
    const chatKey = await generateChatKey('chat-sync', 3);
    const signer = await ed25519KeyPairFromSeed(new Uint8Array(32).fill(8));
    const header = {
      messageId: uuidv7(),
      sender: { kind: 'user' as const, userId: 'u-1' },
      chain: { chainId: new Uint8Array(16).fill(1), counter: 0, prev: new Uint8Array(32) },
      mentions: [],
      decryptionPermissions: {},
    };
    const body = { text: 'sync secret', replyTo: null, attachments: [] };
    const m = await sealMessage({ chatKey, header, body, signingKey: signer.privateKey });
    const params = {
      chatKey,
      header,
      encryptedContent: m.encryptedContent,
      signature: m.signature,
      signerEd25519PublicKey: signer.publicRaw,
    };
    return { params, body };
  }

  it('opens synchronously under the hooks, refusing what the async path refuses', async () => {
    const { params, body } = await sealed();
    expect(openMessageBodySync(params)).toEqual(body);
    const badSig = params.signature.slice();
    badSig[5]! ^= 1;
    expect(() => openMessageBodySync({ ...params, signature: badSig })).toThrow(
      expect.objectContaining({ code: 'bad_signature' }),
    );
    await expectCryptoError(openMessageBody({ ...params, signature: badSig }), 'bad_signature');
    // Signed correctly but under another chat key: the signature passes, the AAD/key do not.
    const other = await generateChatKey('chat-sync', 3);
    const wrongKey = { ...params, chatKey: { ...other, commitment: params.chatKey.commitment } };
    expect(() => openMessageBodySync(wrongKey)).toThrow(
      expect.objectContaining({ code: 'decrypt_failed' }),
    );
    await expectCryptoError(openMessageBody(wrongKey), 'decrypt_failed');
    const iv = new Uint8Array(12);
    expect(() => aesGcmDecryptSync(params.chatKey.messageKey, iv, new Uint8Array(3), iv)).toThrow(
      expect.objectContaining({ code: 'truncated' }),
    );
    expect(ed25519VerifySync(params.signerEd25519PublicKey, new Uint8Array(10), iv)).toBe(false);
  });

  it('answers undefined without the hooks, so callers take the WebCrypto path', async () => {
    const { params, body } = await sealed();
    useAesGcmDecrypter(undefined);
    useEd25519Verifier(undefined);
    try {
      expect(openMessageBodySync(params)).toBeUndefined();
      expect(await openMessageBody(params)).toEqual(body);
    } finally {
      installNodeCrypto({ verifyCacheEntries: 1000 });
    }
  });
});

describe(cachedEd25519Verifier.name, () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
  const msg = utf8Encode('vutler/v1/test message');
  const sig = new Uint8Array(sign(null, msg, privateKey));

  function counting(): { verify: Ed25519Verifier; calls: () => number } {
    let n = 0;
    const real: Ed25519Verifier = (p, s, d) => {
      n++;
      return (
        Buffer.compare(Buffer.from(p), Buffer.from(pub)) === 0 &&
        Buffer.compare(Buffer.from(s), Buffer.from(sig)) === 0 &&
        Buffer.compare(Buffer.from(d), Buffer.from(msg)) === 0
      );
    };
    return { verify: real, calls: () => n };
  }

  it('answers an identical triple from the cache, and every changed one with a full check', () => {
    const inner = counting();
    const c = cachedEd25519Verifier(inner.verify, 10);
    expect(c.verify(pub, sig, msg)).toBe(true);
    expect(c.verify(pub, sig, msg)).toBe(true);
    expect(inner.calls()).toBe(1);
    expect(c.stats()).toMatchObject({ hits: 1, misses: 1, size: 1 });
    const flipped = (b: Uint8Array, i: number) => {
      const x = b.slice();
      x[i]! ^= 1;
      return x;
    };
    expect(c.verify(pub, sig, flipped(msg, 3))).toBe(false);
    expect(c.verify(pub, flipped(sig, 0), msg)).toBe(false);
    expect(c.verify(flipped(pub, 31), sig, msg)).toBe(false);
    // A copy of the same bytes (another buffer) is the same triple.
    expect(c.verify(pub.slice(), sig.slice(), concat(msg, new Uint8Array(0)))).toBe(true);
    expect(inner.calls()).toBe(4);
  });

  it('never remembers a failure, and forgets the least recently used pass past its bound', () => {
    const inner = counting();
    const c = cachedEd25519Verifier(inner.verify, 1);
    const other = utf8Encode('another');
    expect(c.verify(pub, sig, other)).toBe(false);
    expect(c.verify(pub, sig, other)).toBe(false);
    expect(inner.calls()).toBe(2);
    expect(c.stats().size).toBe(0);
    expect(c.verify(pub, sig, msg)).toBe(true);
    expect(c.stats().size).toBe(1);
  });
});
