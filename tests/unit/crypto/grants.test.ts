import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  base64Encode,
  type ChatKey,
  createGrant,
  decryptFileBytes,
  encryptFileBytes,
  type GatewayKeys,
  gatewayPublicKeysToJson,
  generateChatKey,
  generateFileKey,
  generateGatewayKeys,
  openGrant,
  openMessage,
  parseGatewayKeys,
  randomBytes,
  sealMessage,
  uuidv7,
  verifyGrantSignature,
} from '../../../src/crypto/index.ts';
import { aesGcmDecrypt, aesGcmEncrypt } from '../../../src/crypto/primitives.ts';
import {
  expectCryptoError,
  failsWithCryptoError,
  flipBit,
  makeUser,
  type TestUser,
} from './helpers.ts';

const CHAT = 'chat-42';
const FILE = 'file-7';
const _SHARE = 'share-1';
const TERMS = {
  grantId: '0190d5c2-0000-7000-8000-000000000001',
  accessLevel: 'decrypt_ephemeral' as const,
  expiresAt: 1_900_000_000_000,
};

describe('agent grants', () => {
  let alice: TestUser;
  let bob: TestUser;
  let gateway: { keys: GatewayKeys; serialized: string };
  let ck: ChatKey;
  beforeAll(async () => {
    [alice, bob, gateway] = await Promise.all([
      makeUser('alice'),
      makeUser('bob'),
      generateGatewayKeys(),
    ]);
    ck = await generateChatKey(CHAT, 5);
  });

  async function grantChat() {
    return createGrant({
      userId: 'alice',
      agentId: 'claude',
      subject: { resourceType: 'chat', chatKey: ck },
      terms: TERMS,
      gatewayX25519PublicKey: gateway.keys.x25519.publicKey,
      ownerSigningKey: alice.keys.ed25519.privateKey,
    });
  }

  it('gives the gateway a non-extractable chat key that opens the chat messages', async () => {
    const { envelope, context } = await grantChat();
    expect(context).toEqual({
      userId: 'alice',
      agentId: 'claude',
      resourceType: 'chat',
      resourceId: CHAT,
      epoch: 5,
      ...TERMS,
    });
    expect(envelope.length).toBe(157);
    const opened = await openGrant({
      context,
      envelope,
      ownerEd25519PublicKey: alice.keys.ed25519.publicKey,
      gateway: gateway.keys,
    });
    if (opened.resourceType !== 'chat') throw new Error('expected chat');
    expect(opened.chatKey.messageKey.extractable).toBe(false);
    expect(opened.chatKey.shareKey.extractable).toBe(false);
    const messageId = uuidv7();
    const body = { text: 'for the agent', replyTo: null, attachments: [] };
    const chain = { chainId: new Uint8Array(16), counter: 0, prev: new Uint8Array(32) };
    const header = {
      messageId,
      sender: { kind: 'user' as const, userId: 'alice' },
      chain,
      mentions: ['claude'],
      decryptionPermissions: {},
    };
    const m = await sealMessage({
      chatKey: ck,
      header,
      body,
      signingKey: alice.keys.ed25519.privateKey,
    });
    expect(
      (
        await openMessage({
          chatKey: opened.chatKey,
          header,
          signerEd25519PublicKey: alice.keys.ed25519.publicKey,
          encryptedContent: m.encryptedContent,
          signature: m.signature,
        })
      ).body,
    ).toEqual(body);
    // And the gateway can answer, signing as the agent with its own key.
    const reply = await sealMessage({
      chatKey: opened.chatKey,
      header: {
        ...header,
        messageId: uuidv7(),
        sender: { kind: 'agent', agentName: 'claude', onBehalfOf: 'alice' },
        mentions: [],
      },
      body,
      signingKey: gateway.keys.ed25519.privateKey,
    });
    expect(reply.signature.length).toBe(64);
  });

  it('grants file and memory keys', async () => {
    const fk = await generateFileKey(FILE);
    const ct = await encryptFileBytes(fk, Uint8Array.of(5, 6), { chunkSize: 64 });
    const g = await createGrant({
      userId: 'alice',
      agentId: 'claude',
      subject: { resourceType: 'files', fileKey: fk },
      terms: TERMS,
      gatewayX25519PublicKey: gateway.keys.x25519.publicKey,
      ownerSigningKey: alice.keys.ed25519.privateKey,
    });
    expect(g.context.epoch).toBe(0);
    const opened = await openGrant({
      ...g,
      ownerEd25519PublicKey: alice.keys.ed25519.publicKey,
      gateway: gateway.keys,
    });
    if (opened.resourceType !== 'files') throw new Error('expected files');
    expect(await decryptFileBytes(opened.fileKey, ct)).toEqual(Uint8Array.of(5, 6));

    const memoryKey = randomBytes(32);
    const mg = await createGrant({
      userId: 'alice',
      agentId: 'claude',
      subject: { resourceType: 'memory', resourceId: 'mem-1', memoryKey },
      terms: TERMS,
      gatewayX25519PublicKey: gateway.keys.x25519.publicKey,
      ownerSigningKey: alice.keys.ed25519.privateKey,
    });
    const mo = await openGrant({
      ...mg,
      ownerEd25519PublicKey: alice.keys.ed25519.publicKey,
      gateway: gateway.keys,
    });
    if (mo.resourceType !== 'memory') throw new Error('expected memory');
    expect(mo.memoryKey.extractable).toBe(false);
    const iv = new Uint8Array(12);
    const sealed = await aesGcmEncrypt(mo.memoryKey, iv, Uint8Array.of(9), new Uint8Array(0));
    const raw = await crypto.subtle.importKey('raw', memoryKey, 'AES-GCM', false, ['decrypt']);
    expect(await aesGcmDecrypt(raw, iv, sealed, new Uint8Array(0))).toEqual(Uint8Array.of(9));
  });

  it('rejects an unsigned grant or one signed by someone else', async () => {
    const { envelope, context } = await grantChat();
    const base = {
      context,
      envelope,
      ownerEd25519PublicKey: alice.keys.ed25519.publicKey,
      gateway: gateway.keys,
    };
    await expectCryptoError(
      openGrant({ ...base, envelope: envelope.subarray(0, envelope.length - 64) }),
      'bad_signature',
    );
    await expectCryptoError(
      openGrant({ ...base, ownerEd25519PublicKey: bob.keys.ed25519.publicKey }),
      'bad_signature',
    );
    const forged = await createGrant({
      userId: 'alice',
      agentId: 'claude',
      subject: { resourceType: 'chat', chatKey: ck },
      terms: TERMS,
      gatewayX25519PublicKey: gateway.keys.x25519.publicKey,
      ownerSigningKey: bob.keys.ed25519.privateKey,
    });
    await expectCryptoError(openGrant({ ...base, envelope: forged.envelope }), 'bad_signature');
  });

  it('rejects a grant rebound to another user, agent, resource, epoch, grant id, level or expiry', async () => {
    const { envelope, context } = await grantChat();
    const open = (over: Partial<typeof context>) =>
      openGrant({
        context: { ...context, ...over },
        envelope,
        ownerEd25519PublicKey: alice.keys.ed25519.publicKey,
        gateway: gateway.keys,
      });
    await expectCryptoError(open({ userId: 'bob' }), 'bad_signature');
    await expectCryptoError(open({ agentId: 'other-agent' }), 'bad_signature');
    await expectCryptoError(open({ resourceId: 'chat-43' }), 'bad_signature');
    await expectCryptoError(open({ epoch: 6 }), 'bad_signature');
    await expectCryptoError(open({ grantId: 'another-grant' }), 'bad_signature');
    await expectCryptoError(open({ expiresAt: null }), 'bad_signature');
    await expectCryptoError(open({ expiresAt: TERMS.expiresAt + 1 }), 'bad_signature');
    await expectCryptoError(open({ accessLevel: 'metadata' as never }), 'bad_input');
    await expectCryptoError(open({ resourceType: 'memory', epoch: 0 }), 'bad_signature');
    await expectCryptoError(open({ resourceType: 'files' }), 'bad_input');
    await expectCryptoError(open({ resourceType: 'github' as never }), 'bad_input');
  });

  it('only opens for the gateway it was made for', async () => {
    const other = await generateGatewayKeys();
    const g = await grantChat();
    await expectCryptoError(
      openGrant({ ...g, ownerEd25519PublicKey: alice.keys.ed25519.publicKey, gateway: other.keys }),
      'decrypt_failed',
    );
  });

  it('fails on any flipped bit (property)', async () => {
    const g = await grantChat();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: g.envelope.length * 8 - 1 }), (bit) =>
        failsWithCryptoError(() =>
          openGrant({
            context: g.context,
            envelope: flipBit(g.envelope, bit),
            ownerEd25519PublicKey: alice.keys.ed25519.publicKey,
            gateway: gateway.keys,
          }),
        ),
      ),
      { numRuns: 100 },
    );
  });

  it('lets the server check the owner signature before storing', async () => {
    const g = await grantChat();
    expect(
      await verifyGrantSignature({ ...g, ownerEd25519PublicKey: alice.keys.ed25519.publicKey }),
    ).toBe(true);
    expect(
      await verifyGrantSignature({ ...g, ownerEd25519PublicKey: bob.keys.ed25519.publicKey }),
    ).toBe(false);
    expect(
      await verifyGrantSignature({
        ...g,
        context: { ...g.context, agentId: 'x' },
        ownerEd25519PublicKey: alice.keys.ed25519.publicKey,
      }),
    ).toBe(false);
  });

  it('needs an exportable chat key to grant', async () => {
    const { envelope, context } = await grantChat();
    const opened = await openGrant({
      context,
      envelope,
      ownerEd25519PublicKey: alice.keys.ed25519.publicKey,
      gateway: gateway.keys,
    });
    if (opened.resourceType !== 'chat') throw new Error('expected chat');
    await expectCryptoError(
      createGrant({
        userId: 'alice',
        agentId: 'x',
        subject: { resourceType: 'chat', chatKey: opened.chatKey },
        terms: TERMS,
        gatewayX25519PublicKey: gateway.keys.x25519.publicKey,
        ownerSigningKey: alice.keys.ed25519.privateKey,
      }),
      'not_extractable',
    );
  });
});

describe('gateway key file', () => {
  it('serialises to one line and parses back into working non-extractable keys', async () => {
    const { keys, serialized } = await generateGatewayKeys();
    expect(serialized).toMatch(/^vutler-gateway-key:[A-Za-z0-9+/]+=*$/);
    const parsed = await parseGatewayKeys(`${serialized}\n`);
    expect(parsed.x25519.publicKey).toEqual(keys.x25519.publicKey);
    expect(parsed.x25519.privateKey.extractable).toBe(false);
    expect(gatewayPublicKeysToJson(parsed)).toEqual({
      x25519: base64Encode(keys.x25519.publicKey),
      ed25519: base64Encode(keys.ed25519.publicKey),
    });
  });

  it('rejects malformed or inconsistent key files', async () => {
    const { serialized } = await generateGatewayKeys();
    const body = serialized.slice('vutler-gateway-key:'.length);
    const raw = Uint8Array.from(Buffer.from(body, 'base64'));
    const enc = (b: Uint8Array) => `vutler-gateway-key:${base64Encode(b)}`;
    await expectCryptoError(parseGatewayKeys(body), 'bad_encoding');
    await expectCryptoError(parseGatewayKeys('vutler-gateway-key:%%%'), 'bad_encoding');
    await expectCryptoError(parseGatewayKeys(enc(raw.subarray(0, 100))), 'truncated');
    await expectCryptoError(
      parseGatewayKeys(enc(Uint8Array.of(2, ...raw.subarray(1)))),
      'unknown_version',
    );
    const wrongPub = raw.slice();
    wrongPub[40]! ^= 1; // inside the X25519 public key
    await expectCryptoError(parseGatewayKeys(enc(wrongPub)), 'bad_key');
    const wrongEd = raw.slice();
    wrongEd[110]! ^= 1; // inside the Ed25519 public key
    await expectCryptoError(parseGatewayKeys(enc(wrongEd)), ['bad_key']);
  });
});
