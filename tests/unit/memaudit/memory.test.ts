import { describe, expect, it } from 'vitest';
import { isCryptoError } from '../../../src/crypto/errors.ts';
import { generateGatewayKeys } from '../../../src/crypto/grants.ts';
import {
  generateMemoryKey,
  importMemoryKey,
  memoryEntryWriter,
  openMemoryEntry,
  sealMemoryEntry,
  unwrapMemoryKey,
  verifyMemoryEntrySignature,
  wrapMemoryKey,
} from '../../../src/crypto/memory.ts';
import { importAesKey } from '../../../src/crypto/primitives.ts';
import { rank } from '../../../src/memory/rank.ts';

const gateway = (await generateGatewayKeys()).keys;
const owner = (await generateGatewayKeys()).keys; // any Ed25519 pair stands in for the owner's identity
const ctx = {
  userId: '0190c6c4-8a7e-7a2b-9c3d-1e2f3a4b5c6d',
  agentName: 'claude',
  keyId: '0190c6c4-8a7e-7a2b-9c3d-bbbbbbbbbbbb',
  entryId: '0190c6c4-8a7e-7a2b-9c3d-cccccccccccc',
};
const signers = { agent: gateway.ed25519.publicKey, user: owner.ed25519.publicKey };

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isCryptoError(err) ? err.code : 'other';
  }
}

describe('memory crypto', () => {
  it('wraps the memory key under MK bound to (user, agent, key id)', async () => {
    const mk = await importAesKey(generateMemoryKey());
    const raw = generateMemoryKey();
    const env = await wrapMemoryKey(mk, ctx, raw);
    expect(await unwrapMemoryKey(mk, ctx, env)).toEqual(raw);
    expect(await code(unwrapMemoryKey(mk, { ...ctx, agentName: 'gpt' }, env))).toBe(
      'decrypt_failed',
    );
  });

  it('opens an entry only in its own context and only under its writer’s signature', async () => {
    const key = await importMemoryKey(generateMemoryKey());
    const env = await sealMemoryEntry({
      key,
      ctx,
      writer: 'agent',
      body: { text: 'likes tea', tags: ['drinks'] },
      signingKey: gateway.ed25519.privateKey,
    });
    expect(memoryEntryWriter(env)).toBe('agent');
    expect(await openMemoryEntry({ key, ctx, envelope: env, signers })).toEqual({
      text: 'likes tea',
      tags: ['drinks'],
      writer: 'agent',
    });
    expect(await verifyMemoryEntrySignature(ctx, env, gateway.ed25519.publicKey)).toBe(true);
    expect(await verifyMemoryEntrySignature(ctx, env, owner.ed25519.publicKey)).toBe(false);
    // Moved to another entry id, pair or key: refused.
    for (const moved of [
      { entryId: '0190c6c4-8a7e-7a2b-9c3d-dddddddddddd' },
      { agentName: 'gpt' },
      { userId: ctx.keyId },
    ]) {
      expect(
        await code(openMemoryEntry({ key, ctx: { ...ctx, ...moved }, envelope: env, signers })),
      ).toBe('bad_signature');
    }
    // Re-labelled as the user's: the signature no longer matches.
    const relabelled = env.slice();
    relabelled[1] = 1;
    expect(await code(openMemoryEntry({ key, ctx, envelope: relabelled, signers }))).toBe(
      'bad_signature',
    );
    // A flipped ciphertext byte.
    const flipped = env.slice();
    flipped[20] = (flipped[20] ?? 0) ^ 1;
    expect(await code(openMemoryEntry({ key, ctx, envelope: flipped, signers }))).toBe(
      'bad_signature',
    );
    // Signed by the agent's key but claiming the gateway did not: a person cannot pose as the agent.
    const forged = await sealMemoryEntry({
      key,
      ctx,
      writer: 'agent',
      body: { text: 'forged', tags: [] },
      signingKey: owner.ed25519.privateKey,
    });
    expect(await code(openMemoryEntry({ key, ctx, envelope: forged, signers }))).toBe(
      'bad_signature',
    );
    expect(await code(Promise.resolve().then(() => memoryEntryWriter(new Uint8Array(10))))).toBe(
      'bad_length',
    );
  });

  it('rejects empty text, bad tags and oversize bodies', async () => {
    const key = await importMemoryKey(generateMemoryKey());
    const seal = (text: string, tags: string[] = []) =>
      sealMemoryEntry({
        key,
        ctx,
        writer: 'user',
        body: { text, tags },
        signingKey: owner.ed25519.privateKey,
      });
    expect(await code(seal(''))).toBe('bad_input');
    expect(await code(seal('x', ['has space']))).toBe('bad_input');
    expect(await code(seal('x'.repeat(20_000)))).toBe('bad_length');
  });
});

describe('recall ranking (BM25)', () => {
  const at = (s: number) => new Date(1_700_000_000_000 + s * 1000);
  const docs = [
    { id: 'a', text: 'Alice prefers tea', tags: [], updatedAt: at(1) },
    { id: 'b', text: 'Coffee machine is broken; tea kettle works', tags: [], updatedAt: at(2) },
    { id: 'c', text: 'Deploys happen on Friday', tags: ['ops'], updatedAt: at(3) },
  ];
  it('ranks by matching words and skips non-matches', () => {
    expect(rank('alice tea', docs, 10).map((d) => d.id)).toEqual(['a', 'b']);
    expect(rank('OPS', docs, 10).map((d) => d.id)).toEqual(['c']);
    expect(rank('nothing here', docs, 10)).toEqual([]);
  });
  it('returns the newest first for an empty query, up to the limit', () => {
    expect(rank('', docs, 2).map((d) => d.id)).toEqual(['c', 'b']);
  });
});
