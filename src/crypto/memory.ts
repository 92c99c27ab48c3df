/**
 * Agent memory (docs/CRYPTO.md "Agent memory"). One memory key MemK per (user, agent), made by
 * the user's client:
 *   wrapped under MK:  0x01 ‖ iv(12) ‖ AES-256-GCM(MK, MemK)(48)                       = 61 bytes
 *     AAD = "vutler/v1/memory-key/aad" ‖ 0x00 ‖ lp(userId) ‖ lp(agentName) ‖ lp(keyId)
 *   granted to the gateway as a `memory` grant (grants.ts, resource id = keyId, epoch 0).
 * One entry:
 *   0x01 ‖ writer(1: 0x01 user, 0x02 agent) ‖ iv(12) ‖ AES-256-GCM(MemK, body) ‖ sig(64)
 *     fields = lp(userId) ‖ lp(agentName) ‖ lp(keyId) ‖ lp(entryId) ‖ lp(writer name)
 *     AAD = "vutler/v1/memory-entry/aad" ‖ 0x00 ‖ fields
 *     sig = Ed25519(writer, "vutler/v1/memory-entry/sig" ‖ 0x00 ‖ fields ‖ lp(iv) ‖ lp(ciphertext))
 *   body = UTF-8 JSON {"text": string, "tags": string[]}
 * The writer is the gateway (for the agent) or the user's identity key (for the user): an entry
 * moved to another pair, another id, or re-labelled to the other writer fails to open.
 */
import {
  ByteReader,
  type Bytes,
  concat,
  randomBytes,
  u8,
  utf8Decode,
  utf8Encode,
  wipe,
} from './bytes.ts';
import { CryptoError } from './errors.ts';
import { domain, idBytes, Label } from './labels.ts';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519Sign,
  ed25519Verify,
  IV_BYTES,
  importAesKey,
  KEY_BYTES,
  SIGNATURE_BYTES,
  TAG_BYTES,
} from './primitives.ts';

export const MEMORY_KEY_ENVELOPE_VERSION = 1;
export const MEMORY_KEY_ENVELOPE_BYTES = 1 + IV_BYTES + KEY_BYTES + TAG_BYTES;
export const MEMORY_ENTRY_VERSION = 1;
/** Largest body (UTF-8 JSON) an entry may hold. */
export const MEMORY_BODY_MAX_BYTES = 16 * 1024;
export const MEMORY_ENTRY_MAX_BYTES =
  2 + IV_BYTES + MEMORY_BODY_MAX_BYTES + TAG_BYTES + SIGNATURE_BYTES;

export type MemoryWriter = 'user' | 'agent';
const WRITER_BYTE: Record<MemoryWriter, number> = { user: 1, agent: 2 };

export interface MemoryKeyContext {
  userId: string;
  agentName: string;
  keyId: string;
}

export interface MemoryEntryContext extends MemoryKeyContext {
  entryId: string;
}

export interface MemoryBody {
  text: string;
  tags: string[];
}

function keyFields(c: MemoryKeyContext): Bytes[] {
  return [
    idBytes(c.userId, 'user id'),
    idBytes(c.agentName, 'agent name'),
    idBytes(c.keyId, 'memory key id'),
  ];
}

function entryFields(c: MemoryEntryContext, writer: MemoryWriter): Bytes[] {
  return [...keyFields(c), idBytes(c.entryId, 'entry id'), idBytes(writer, 'writer')];
}

/** A fresh memory key (raw: the client wraps it under MK and into a grant, then wipes it). */
export function generateMemoryKey(): Bytes {
  return randomBytes(KEY_BYTES);
}

export function importMemoryKey(raw: Uint8Array): Promise<CryptoKey> {
  return importAesKey(raw);
}

export async function wrapMemoryKey(
  masterKey: CryptoKey,
  ctx: MemoryKeyContext,
  raw: Uint8Array,
): Promise<Bytes> {
  const iv = randomBytes(IV_BYTES);
  const aad = domain(Label.memoryKeyAad, ...keyFields(ctx));
  return concat(u8(MEMORY_KEY_ENVELOPE_VERSION), iv, await aesGcmEncrypt(masterKey, iv, raw, aad));
}

/** Returns the raw key: wipe it after use. */
export async function unwrapMemoryKey(
  masterKey: CryptoKey,
  ctx: MemoryKeyContext,
  envelope: Uint8Array,
): Promise<Bytes> {
  const r = new ByteReader(envelope, 'memory-key envelope');
  r.version(MEMORY_KEY_ENVELOPE_VERSION);
  const iv = r.take(IV_BYTES);
  const ct = r.take(KEY_BYTES + TAG_BYTES);
  r.end();
  return aesGcmDecrypt(masterKey, iv, ct, domain(Label.memoryKeyAad, ...keyFields(ctx)));
}

function sigInput(c: MemoryEntryContext, writer: MemoryWriter, iv: Uint8Array, ct: Uint8Array) {
  return domain(Label.memoryEntrySig, ...entryFields(c, writer), iv, ct);
}

const TAG_RE = /^[\p{L}\p{N}_.:-]{1,64}$/u;

function checkBody(b: MemoryBody): MemoryBody {
  if (typeof b?.text !== 'string' || b.text.length === 0)
    throw new CryptoError('bad_input', 'memory text must be a non-empty string');
  const tags = b.tags ?? [];
  if (
    !Array.isArray(tags) ||
    tags.length > 32 ||
    !tags.every((t) => typeof t === 'string' && TAG_RE.test(t))
  )
    throw new CryptoError('bad_input', 'memory tags must be up to 32 short words');
  return { text: b.text, tags: [...tags] };
}

export async function sealMemoryEntry(p: {
  key: CryptoKey;
  ctx: MemoryEntryContext;
  writer: MemoryWriter;
  body: MemoryBody;
  /** The writer's Ed25519 private key: the gateway's for the agent, the identity key for the user. */
  signingKey: CryptoKey;
}): Promise<Bytes> {
  const plain = utf8Encode(JSON.stringify(checkBody(p.body)));
  try {
    if (plain.length > MEMORY_BODY_MAX_BYTES)
      throw new CryptoError(
        'bad_length',
        `memory entry is larger than ${MEMORY_BODY_MAX_BYTES} bytes`,
      );
    const iv = randomBytes(IV_BYTES);
    const aad = domain(Label.memoryEntryAad, ...entryFields(p.ctx, p.writer));
    const ct = await aesGcmEncrypt(p.key, iv, plain, aad);
    const sig = await ed25519Sign(p.signingKey, sigInput(p.ctx, p.writer, iv, ct));
    return concat(u8(MEMORY_ENTRY_VERSION), u8(WRITER_BYTE[p.writer]), iv, ct, sig);
  } finally {
    wipe(plain);
  }
}

interface ParsedEntry {
  writer: MemoryWriter;
  iv: Bytes;
  ct: Bytes;
  sig: Bytes;
}

function parseEntry(envelope: Uint8Array): ParsedEntry {
  if (
    envelope.length < 2 + IV_BYTES + TAG_BYTES + SIGNATURE_BYTES ||
    envelope.length > MEMORY_ENTRY_MAX_BYTES
  )
    throw new CryptoError('bad_length', 'memory entry has an impossible length');
  const r = new ByteReader(envelope, 'memory entry');
  r.version(MEMORY_ENTRY_VERSION);
  const w = r.take(1)[0];
  const writer = w === 1 ? 'user' : w === 2 ? 'agent' : undefined;
  if (!writer) throw new CryptoError('bad_encoding', 'memory entry names an unknown writer');
  const iv = r.take(IV_BYTES);
  const ct = r.take(envelope.length - 2 - IV_BYTES - SIGNATURE_BYTES);
  const sig = r.take(SIGNATURE_BYTES);
  r.end();
  return { writer, iv, ct, sig };
}

/** Who the envelope says wrote it (unverified until its signature is checked). */
export function memoryEntryWriter(envelope: Uint8Array): MemoryWriter {
  return parseEntry(envelope).writer;
}

/** Checks the writer's signature without the memory key (the server does, before storing). */
export async function verifyMemoryEntrySignature(
  ctx: MemoryEntryContext,
  envelope: Uint8Array,
  writerPublicKey: Uint8Array,
): Promise<boolean> {
  const e = parseEntry(envelope);
  return ed25519Verify(writerPublicKey, e.sig, sigInput(ctx, e.writer, e.iv, e.ct)).catch(
    () => false,
  );
}

/**
 * Verifies the signature against the key of the writer the envelope names (`bad_signature`
 * otherwise), then decrypts. `signers` are the gateway's and the owner's Ed25519 public keys.
 */
export async function openMemoryEntry(p: {
  key: CryptoKey;
  ctx: MemoryEntryContext;
  envelope: Uint8Array;
  signers: { agent: Uint8Array; user: Uint8Array };
}): Promise<MemoryBody & { writer: MemoryWriter }> {
  const e = parseEntry(p.envelope);
  const ok = await ed25519Verify(p.signers[e.writer], e.sig, sigInput(p.ctx, e.writer, e.iv, e.ct));
  if (!ok) throw new CryptoError('bad_signature', 'memory entry is not signed by its writer');
  const aad = domain(Label.memoryEntryAad, ...entryFields(p.ctx, e.writer));
  const plain = await aesGcmDecrypt(p.key, e.iv, e.ct, aad);
  try {
    let body: MemoryBody;
    try {
      body = checkBody(JSON.parse(utf8Decode(plain)) as MemoryBody);
    } catch {
      throw new CryptoError('bad_encoding', 'memory entry body is not valid');
    }
    return { ...body, writer: e.writer };
  } finally {
    wipe(plain);
  }
}
